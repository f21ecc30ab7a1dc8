"""
Loaded by pytest before anything else: give every test run its own Airflow home, so tests never
touch ``~/airflow`` and Airflow is configured before any test module imports it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

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


@pytest.fixture(scope="session", autouse=True)
def _run_shared_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Put the run's shared folders (``tests.run_shared``) under pytest's base temporary folder."""
    set_run_root(tmp_path_factory.getbasetemp(), worker=hasattr(request.config, "workerinput"))
