"""
End to end with a real Airflow 3.3 deployment on 127.0.0.1: scheduler (LocalExecutor), api-server and
dag-processor on SQLite, all started and stopped by this test. The process running the upload task
is SIGKILLed part-way; the scheduler marks the try failed and retries it; the retry continues the
same upload ID and the object in the local OSS server is byte-identical to the file.
"""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.e2e_support import (
    Deployment,
    airflow_deployment,
    query_sqlite,
    stored_parts,
    uploading_process,
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
def deployment(tmp_path: Path, oss_server: LocalOssServer) -> Iterator[Deployment]:
    with airflow_deployment(tmp_path, oss_server, {f"{DAG_ID}.py": DAG_SOURCE}) as running:
        yield running


@pytest.mark.slow
@pytest.mark.airflow
def test_sigkilled_task_is_retried_by_the_scheduler_and_resumes(
    deployment: Deployment, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    db = deployment.db
    source = tmp_path / "source.bin"
    data = os.urandom(PARTS * PART)
    source.write_bytes(data)
    # Slow parts down so the first try is still uploading when it is killed.
    oss_server.add_fault("UploadPart", "delay", delay=0.25, times=10_000)

    deployment.wait_until_parsed(DAG_ID, 120)
    deployment.trigger(DAG_ID, {"filename": str(source)})

    deployment.wait_for("try 1 to store 8 parts", lambda: len(stored_parts(oss_server)) >= 8, 120)
    victim = deployment.wait_for("the task process", lambda: uploading_process(oss_server.port), 30)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    before_kill = stored_parts(oss_server)
    kill_seq = max(e["seq"] for e in oss_server.request_log())
    oss_server.clear_faults()

    state = deployment.wait_for_run_end(DAG_ID, 240)

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
