"""
docker/standin/entrypoint.sh, the stand-in for the official Airflow image's entrypoint, run here with
a stub ``airflow`` command: what it runs for each compose command line, and its waits.

``make docker-test`` runs it for real in the compose stacks; these checks pin the behaviour that
docker/README.md ("Stand-in base images") describes, including the refusals and the timeouts.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "standin" / "entrypoint.sh"

# The stub records each call; `airflow db check` fails while the counter file holds a number > 0.
STUB = """#!/bin/sh
echo "airflow $*" >> "$STUB_LOG"
if [ "$1 $2" = "db check" ] && [ -s "$STUB_DB_DOWN" ]; then
    left=$(cat "$STUB_DB_DOWN")
    if [ "$left" -gt 0 ]; then
        echo $((left - 1)) > "$STUB_DB_DOWN"
        exit 1
    fi
fi
exit 0
"""


@pytest.fixture
def stub_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "airflow"
    stub.write_text(STUB)
    stub.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_DB_DOWN": str(tmp_path / "db-down"),
        "CONNECTION_CHECK_SLEEP_TIME": "0",
    }


def run_entrypoint(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    log = Path(env["STUB_LOG"])
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["api-server"], "airflow api-server"),
        (["scheduler"], "airflow scheduler"),
        (["dag-processor"], "airflow dag-processor"),
        (["triggerer"], "airflow triggerer"),
        (["airflow", "db", "migrate"], "airflow db migrate"),
        (
            ["celery", "worker", "--celery-hostname", "worker-1@%h"],
            "airflow celery worker --celery-hostname worker-1@%h",
        ),
    ],
)
def test_commands_run_as_airflow_after_the_database_answers(
    stub_env: dict[str, str], args: list[str], expected: str
) -> None:
    result, calls = run_entrypoint(stub_env, *args)
    assert result.returncode == 0, result.stderr
    assert calls == ["airflow db check", expected]


def test_bash_and_python_run_as_given(stub_env: dict[str, str], tmp_path: Path) -> None:
    result, calls = run_entrypoint(stub_env, "bash", "-c", "echo from-bash")
    assert (result.returncode, result.stdout) == (0, "from-bash\n")
    assert calls == ["airflow db check"]
    result, _ = run_entrypoint(stub_env, "python", "-c", "print('from-python')")
    assert (result.returncode, result.stdout) == (0, "from-python\n")


def test_it_waits_for_the_database_and_gives_up_with_a_message(stub_env: dict[str, str]) -> None:
    Path(stub_env["STUB_DB_DOWN"]).write_text("2")
    result, calls = run_entrypoint(stub_env, "scheduler")
    assert result.returncode == 0, result.stderr
    assert calls == ["airflow db check"] * 3 + ["airflow scheduler"]
    assert "Waiting for the metadata database (2/20)" in result.stderr

    Path(stub_env["STUB_DB_DOWN"]).write_text("99")
    Path(stub_env["STUB_LOG"]).unlink()
    result, calls = run_entrypoint({**stub_env, "CONNECTION_CHECK_MAX_COUNT": "3"}, "scheduler")
    assert result.returncode == 1
    assert "the metadata database is not reachable after 3 tries" in result.stderr
    assert "airflow scheduler" not in calls


def test_no_database_wait_when_the_count_is_zero(stub_env: dict[str, str]) -> None:
    result, calls = run_entrypoint({**stub_env, "CONNECTION_CHECK_MAX_COUNT": "0"}, "triggerer")
    assert result.returncode == 0, result.stderr
    assert calls == ["airflow triggerer"]


def test_db_migrate_variable_and_refused_www_user(stub_env: dict[str, str]) -> None:
    result, calls = run_entrypoint({**stub_env, "_AIRFLOW_DB_MIGRATE": "true"}, "api-server")
    assert result.returncode == 0, result.stderr
    assert calls == ["airflow db check", "airflow db migrate", "airflow api-server"]

    Path(stub_env["STUB_LOG"]).unlink()
    result, calls = run_entrypoint({**stub_env, "_AIRFLOW_WWW_USER_CREATE": "true"}, "api-server")
    assert result.returncode == 1
    assert "_AIRFLOW_WWW_USER_CREATE needs the FAB auth manager" in result.stderr
    assert "airflow api-server" not in calls


@pytest.fixture
def broker_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_celery_commands_wait_for_the_broker(stub_env: dict[str, str], broker_port: int) -> None:
    env = {**stub_env, "AIRFLOW__CELERY__BROKER_URL": f"redis://:secret@127.0.0.1:{broker_port}/0"}
    result, calls = run_entrypoint(env, "celery", "worker")
    assert result.returncode == 0, result.stderr
    assert calls == ["airflow db check", "airflow celery worker"]

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    env = {
        **stub_env,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{closed_port}/0",
        "CONNECTION_CHECK_MAX_COUNT": "2",
    }
    Path(stub_env["STUB_LOG"]).unlink()
    result, calls = run_entrypoint(env, "celery", "worker")
    assert result.returncode == 1
    assert "the Celery broker is not reachable after 2 tries" in result.stderr
    assert "airflow celery worker" not in calls
    # Commands other than scheduler and celery do not wait for the broker.
    Path(stub_env["STUB_LOG"]).unlink()
    result, calls = run_entrypoint(env, "api-server")
    assert result.returncode == 0, result.stderr
    assert calls == ["airflow db check", "airflow api-server"]
