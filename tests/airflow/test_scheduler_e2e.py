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
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.e2e_support import (
    airflow_env,
    free_port,
    query_sqlite,
    stop_process_groups,
    stored_parts,
    uploading_process,
    wait_for,
)

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


@pytest.fixture
def deployment(tmp_path: Path, oss_server: LocalOssServer) -> Iterator[dict[str, Any]]:
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / f"{DAG_ID}.py").write_text(DAG_SOURCE)
    api_port = free_port()
    env = airflow_env(home, api_port, oss_server, "LocalExecutor")
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
        stop_process_groups(procs)
        for log in logs:
            log.close()


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

    wait_for(
        "the DAG to be parsed",
        lambda: query_sqlite(db, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID),
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

    wait_for("try 1 to store 8 parts", lambda: len(stored_parts(oss_server)) >= 8, 120, procs)
    victim = wait_for("the task process", lambda: uploading_process(oss_server.port), 30, procs)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    before_kill = stored_parts(oss_server)
    kill_seq = max(e["seq"] for e in oss_server.request_log())
    oss_server.clear_faults()

    state = wait_for(
        "the DAG run to finish",
        lambda: next(
            iter(
                r[0]
                for r in query_sqlite(db, "SELECT state FROM dag_run WHERE dag_id = ?", DAG_ID)
                if r[0] in ("success", "failed")
            ),
            None,
        ),
        240,
        procs,
    )

    assert state == "success"
    ((try_number,),) = query_sqlite(db, "SELECT try_number FROM task_instance WHERE dag_id = ?", DAG_ID)
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
