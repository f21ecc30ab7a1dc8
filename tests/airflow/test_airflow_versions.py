"""
``apache-airflow>=3.0`` is tested, not only claimed: the wheel in a scratch environment with each
older Airflow 3 minor (resolved as of its release date, as its constraints file is out of reach),
where the hook tests, the multipart and resume tests and a ``dag.test()`` of the upload with a
failing first try run. Without a task_state_store (Airflow < 3.3) the default checkpoint finds the
upload through OSS (ListMultipartUploads) and the retry continues the same upload ID.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.package_support import REPO, airflow_env, built_wheel, install, run, scratch_venv

#: Airflow release -> the day after it was published (uv's --exclude-newer).
AIRFLOW_RELEASES = {"3.0.6": "2025-08-30", "3.1.8": "2026-03-12", "3.2.2": "2026-05-30"}
#: The tests run there: connection parsing, the hook, multipart uploads, discovery and resume, remote task logs.
VERSION_TESTS = (
    "tests/core/test_connection_settings.py",
    "tests/core/test_client_multipart.py",
    "tests/upload/test_upload_discovery.py",
    "tests/upload/test_upload_engine.py",
    "tests/airflow/test_hook.py",
    "tests/core/test_client_append.py",
    "tests/airflow/test_remote_log_io.py",  # remote task logs through logging_config_class
)


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.parametrize("version", sorted(AIRFLOW_RELEASES))
def test_older_airflow(version: str, tmp_path: Path) -> None:
    bin_dir = scratch_venv(tmp_path / "venv")
    install(
        bin_dir,
        f"apache-airflow=={version}",
        constrained=False,
        extra=("--exclude-newer", AIRFLOW_RELEASES[version]),
    )
    install(bin_dir, built_wheel(), constrained=False, extra=("--no-deps",))
    install(bin_dir, "fastcrc>=0.4", "pytest", "pytest-timeout", "hypothesis", "crcmod", constrained=False)
    env = airflow_env(tmp_path / "home")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(tmp_path / "home" / "dags")
    assert version in run(bin_dir / "python", "-c", "import airflow; print(airflow.__version__)", env=env)
    run(bin_dir / "airflow", "db", "migrate", env=env)

    output = run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *VERSION_TESTS, env=env)
    assert " passed" in output and "failed" not in output

    out = run(bin_dir / "python", str(REPO / "tests" / "airflow" / "version_check_dag.py"), env=env)
    assert "No task_state_store (Airflow < 3.3)" in out  # the operator says which checkpoint it falls back to
    (line,) = [text for text in out.splitlines() if text.startswith('{"state"')]
    result = json.loads(line)
    assert result == {
        "state": "success",
        "initiates": 1,
        "upload_ids": 1,
        "lists_uploads": 1,  # only the retry asks OSS for in-progress uploads: a first try never adopts
        "bytes_equal": True,
        "uploads_left": 0,
    }


def test_the_declared_floor_is_the_oldest_tested() -> None:
    """``apache-airflow>=X`` in the wheel names exactly the oldest release this module runs."""
    import zipfile
    from email.parser import Parser

    from packaging.requirements import Requirement

    with zipfile.ZipFile(built_wheel()) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(name).decode())
    (airflow,) = [
        Requirement(r) for r in metadata.get_all("Requires-Dist", []) if r.startswith("apache-airflow>")
    ]
    assert str(airflow.specifier) == f">={min(AIRFLOW_RELEASES, key=lambda v: tuple(map(int, v.split('.'))))}"
