"""
Things a test run builds once and its tests reuse (the project's wheel and sdist, a migrated Airflow
metadata database). The pytest-xdist workers of one run share a folder beside their own base
temporary folders (the run's base temporary folder, which pytest removes with old runs) and fill it
under an exclusive lock; a run without workers uses its own base temporary folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

_ROOT: list[Path] = []
#: The settings that ``airflow db migrate`` writes into the database (the default pool's slots, the
#: log templates): :func:`migrate_airflow_db` keeps a migrated database per interpreter and values.
DB_SETTINGS = (
    "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT",
    "AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE",
    "AIRFLOW__ELASTICSEARCH__LOG_ID_TEMPLATE",
)


def set_run_root(base_temp: Path, *, worker: bool) -> None:
    """
    Set where the run's shared folders go (the root conftest does, once per process).

    :param base_temp: this process's pytest base temporary folder.
    :param worker: whether this process is a pytest-xdist worker: then the parent of its base
        temporary folder is the run's, shared with the other workers.
    """
    _ROOT[:] = [base_temp.parent if worker else base_temp]


@contextlib.contextmanager
def run_shared_folder(name: str) -> Iterator[Path]:
    """
    The run's folder ``name``, locked against the other workers of the run until the ``with``
    body ends: the body checks what is there and builds what is missing.

    :param name: what the folder holds, its name.
    """
    if not _ROOT:  # outside pytest (a helper run by hand): a folder of this process's own
        _ROOT.append(Path(tempfile.mkdtemp(prefix="oss-provider-run-")))
    folder = _ROOT[0] / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    with (folder.parent / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder


def migrate_airflow_db(env: dict[str, str], python: str = sys.executable) -> None:
    """
    Give the Airflow of ``env`` a migrated SQLite metadata database: a copy of the database that
    ``airflow db migrate`` made once per run for ``python``'s Airflow and ``env``'s
    :data:`DB_SETTINGS` (each migration of an empty database takes the same time and gives the
    same file).

    :param env: the environment of the Airflow that uses the database; its
        ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` is ``sqlite:///<path>``.
    :param python: the interpreter whose Airflow uses the database.
    """
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    prefix = "sqlite:///"
    assert url.startswith(prefix), f"only a SQLite database can be copied: {url}"
    settings = {name: env[name] for name in DB_SETTINGS if name in env}
    inputs = hashlib.sha256(repr((python, sorted(settings.items()))).encode()).hexdigest()[:16]
    with run_shared_folder(f"airflow-db-{inputs}") as folder:
        template = folder / "airflow.db"
        if not template.exists():
            _migrate(folder / "home", python, settings)
            shutil.copyfile(folder / "home" / "airflow.db", template)
    target = Path(url.removeprefix(prefix))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


def _migrate(home: Path, python: str, settings: dict[str, str]) -> None:
    """``airflow db migrate`` into ``home/airflow.db`` with ``settings`` and no other Airflow setting."""
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    env.update(settings)
    result = subprocess.run(
        [python, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, timeout=600, check=False
    )
    output = (result.stdout + result.stderr).decode(errors="replace")[-12_000:]
    assert result.returncode == 0, f"airflow db migrate exited with {result.returncode}:\n{output}"
