"""
Loaded by pytest before anything else: give every test run its own Airflow home, so tests never
touch ``~/airflow`` and Airflow is configured before any test module imports it. Each pytest-xdist
worker loads it too, so each worker has its own home and metadata database.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.run_shared import set_run_root

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="oss-provider-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)


#: Tests under these folders compare speeds: marked ``exclusive``, ``make test`` runs them alone.
EXCLUSIVE_FOLDERS = (Path(__file__).parent / "tests" / "benchmarks",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """
    Mark every test under :data:`EXCLUSIVE_FOLDERS` ``exclusive``. On pytest-xdist workers, put the
    tests marked ``slow`` first (otherwise in collection order): the workers take tests in this
    order, so the longest ones start at once, spread over the workers, instead of leaving one
    worker busy with them at the end. A run without workers keeps the collection order.
    """
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in EXCLUSIVE_FOLDERS):
            item.add_marker(pytest.mark.exclusive)
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _run_shared_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Put the run's shared folders (``tests.run_shared``) under pytest's base temporary folder."""
    set_run_root(tmp_path_factory.getbasetemp(), worker=hasattr(request.config, "workerinput"))
