"""
End to end with a real Airflow 3.3 deployment on 127.0.0.1: scheduler (LocalExecutor), api-server and
dag-processor on SQLite, all started and stopped by this test. The process running the upload task
is SIGKILLed part-way; the scheduler marks the try failed and retries it; the retry continues the
same upload ID and the object in the local OSS server is byte-identical to the file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_oss.testing import LocalOssServer

DAG_ID = "e2e_resumable_upload"
PART = 100 * 1024
PARTS = 40
DAG_SOURCE = textwrap.dedent(
    f"""
    from datetime import datetime, timedelta

    from airflow.sdk import DAG

    from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

    with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
        ResumableUploadOperator(
            task_id="upload",
            filename="{{{{ dag_run.conf['filename'] }}}}",
            bucket="test-bucket",
            key="e2e/killed.bin",
            part_size={PART},
            parallelism=2,
            checkpoint="state_store",
            retries=2,
            retry_delay=timedelta(seconds=1),
        )
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], timeout: float, procs: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args!r} exited with {proc.returncode} while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def deployment(tmp_path: Path, oss_server: LocalOssServer) -> Iterator[dict[str, Any]]:
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / f"{DAG_ID}.py").write_text(DAG_SOURCE)
    api_port = _free_port()
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-test-jwt-secret-0123456789abcdef",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW_CONN_OSS_DEFAULT": json.dumps(
                {
                    "conn_type": "oss",
                    "login": oss_server.access_key_id,
                    "password": oss_server.access_key_secret,
                    "extra": {
                        "region": oss_server.region,
                        "endpoint": oss_server.endpoint,
                        "addressing_style": "path",
                        "max_retries": 1,
                        "backoff_base": 0.05,
                        "backoff_max": 0.2,
                    },
                }
            ),
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, args in (
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port)]),
            ("dag-processor", ["dag-processor"]),
            ("scheduler", ["scheduler"]),
        ):
            log = (tmp_path / f"{name}.log").open("wb")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "airflow", *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield {"env": env, "db": home / "airflow.db", "procs": procs, "tmp": tmp_path}
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def _query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


def _task_process(server_port: int) -> psutil.Process | None:
    """The process holding a TCP connection to the OSS server: the one running the upload."""
    me = os.getpid()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.raddr and conn.raddr.port == server_port and conn.pid and conn.pid != me:
            return psutil.Process(conn.pid)
    return None


@pytest.mark.slow
@pytest.mark.airflow
def test_sigkilled_task_is_retried_by_the_scheduler_and_resumes(
    deployment: dict[str, Any], oss_server: LocalOssServer
) -> None:
    env, db, procs, tmp = deployment["env"], deployment["db"], deployment["procs"], deployment["tmp"]
    source = tmp / "source.bin"
    data = os.urandom(PARTS * PART)
    source.write_bytes(data)
    # Slow parts down so the first try is still uploading when it is killed.
    oss_server.add_fault("UploadPart", "delay", delay=0.25, times=10_000)

    _wait(
        "the DAG to be parsed",
        lambda: _query(db, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID),
        120,
        procs,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "trigger",
            DAG_ID,
            "--conf",
            json.dumps({"filename": str(source)}),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    def stored_parts() -> set[int]:
        return {
            e["part_number"]
            for e in oss_server.request_log()
            if e["op"] == "UploadPart" and e["status"] == 200
        }

    _wait("try 1 to store 8 parts", lambda: len(stored_parts()) >= 8, 120, procs)
    victim = _wait("the task process", lambda: _task_process(oss_server.port), 30, procs)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    before_kill = stored_parts()
    kill_seq = max(e["seq"] for e in oss_server.request_log())
    oss_server.clear_faults()

    state = _wait(
        "the DAG run to finish",
        lambda: next(
            iter(
                r[0]
                for r in _query(db, "SELECT state FROM dag_run WHERE dag_id = ?", DAG_ID)
                if r[0] in ("success", "failed")
            ),
            None,
        ),
        240,
        procs,
    )

    assert state == "success"
    ((try_number,),) = _query(db, "SELECT try_number FROM task_instance WHERE dag_id = ?", DAG_ID)
    assert try_number == 2, "the killed try failed and the scheduler's retry succeeded"
    log = oss_server.request_log()
    assert [e["op"] for e in log].count("InitiateMultipartUpload") == 1
    assert len({e["upload_id"] for e in log if e.get("upload_id")}) == 1, (
        "the retry continued the same upload ID"
    )
    resent = [
        e["part_number"]
        for e in log
        if e["seq"] > kill_seq
        and e["op"] == "UploadPart"
        and e["status"] == 200
        and e["part_number"] in before_kill
    ]
    assert resent == [], "no part stored before the kill was sent again"
    assert oss_server.object_bytes("test-bucket", "e2e/killed.bin") == data
    assert oss_server.list_uploads("test-bucket") == []
