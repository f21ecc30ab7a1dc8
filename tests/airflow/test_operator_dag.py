"""
ResumableUploadOperator in a real Airflow 3.3: ``dag.test()`` runs the DAG with retries against the
local OSS server; the first try fails part-way and the retry continues the same upload ID.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag

PART = 100 * 1024

DAG_TEMPLATE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    ResumableUploadOperator(
        task_id="upload",
        filename="{{{{ dag_run.conf['filename'] }}}}",
        bucket="test-bucket",
        key="{{{{ dag_run.conf['key'] }}}}",
        part_size={part_size},
        parallelism=2,
        checkpoint={checkpoint!r},
        checkpoint_dir={checkpoint_dir!r},
        retries={retries},
        retry_delay=timedelta(seconds=0),
        abort_on_final_failure={abort_on_final_failure!r},
    )
"""


def _write_dag(*, abort_on_final_failure: bool = False, **params: Any) -> Any:
    return load_dag(
        DAG_TEMPLATE, "oss_upload", part_size=PART, abort_on_final_failure=abort_on_final_failure, **params
    )


def _state_rows(dag_id: str) -> list[tuple[str, str]]:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT key, value FROM task_state_store WHERE dag_id = ?", (dag_id,)).fetchall()


def _xcom_result(dag_id: str) -> dict[str, Any]:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'upload' AND key = 'return_value'",
            (dag_id,),
        ).fetchone()
    result = json.loads(value)
    return result if isinstance(result, dict) else json.loads(result)


def _assert_task_output_has_no_secret(capfd: pytest.CaptureFixture[str], server: LocalOssServer) -> None:
    """Everything Airflow printed for the run (task logs included) mentions the upload, never the secret."""
    out, err = capfd.readouterr()
    output = out + err
    assert "multipart upload ID" in output, "the task log was captured"
    assert server.access_key_secret not in output


def _source(tmp_path: Path, size: int) -> tuple[Path, int]:
    data = os.urandom(size)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return path, crc64.crc64(data)


@pytest.mark.airflow
@pytest.mark.parametrize("checkpoint", ["state_store", "file", "discover"])
def test_retry_continues_same_upload_id(
    checkpoint: str,
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source, local_crc = _source(tmp_path, 20 * PART + 1234)  # 21 parts
    checkpoint_dir = str(tmp_path / "checkpoints") if checkpoint == "file" else None
    dag = _write_dag(checkpoint=checkpoint, checkpoint_dir=checkpoint_dir, retries=2)
    # The connection allows 1 retry per request: two resets of part 8 in a row fail try 1.
    oss_server.add_fault("UploadPart", "reset", part_number=8, times=2)

    run = dag.test(run_conf={"filename": str(source), "key": "airflow/retry.bin"})

    assert run.state == "success"
    log = oss_server.request_log()
    assert [e["op"] for e in log].count("InitiateMultipartUpload") == 1
    upload_ids = {e["upload_id"] for e in log if e.get("upload_id")}
    assert len(upload_ids) == 1, "the retry must continue the same upload ID"
    first_list = next(i for i, e in enumerate(log) if e["op"] == "ListParts")
    before = {e["part_number"] for e in log[:first_list] if e["op"] == "UploadPart" and e["status"] == 200}
    after = [e["part_number"] for e in log[first_list:] if e["op"] == "UploadPart" and e["status"] == 200]
    assert len(before) >= 5, "try 1 stored some parts before it failed"
    assert not before & set(after), "no part stored by try 1 is sent again by the retry"
    assert before | set(after) == set(range(1, 22))
    stored = oss_server.object_bytes("test-bucket", "airflow/retry.bin")
    assert stored == source.read_bytes()
    assert crc64.crc64(stored) == local_crc
    assert oss_server.list_uploads("test-bucket") == []
    # what the completed upload leaves: its record marked completed (for a retry of a try killed right
    # after completing, or a re-run), in the store of its mode; nothing with "discover"
    records = [
        json.loads(p.read_text()) for p in Path(checkpoint_dir or "").glob("*.json") if checkpoint == "file"
    ] + [json.loads(value) for _, value in _state_rows(dag.dag_id)]
    if checkpoint == "discover":
        assert records == []
    else:
        (record,) = records
        assert record["completed"]["crc64"] == str(local_crc) and record["upload_id"] in upload_ids
    result = _xcom_result(dag.dag_id)
    assert result["upload_id"] == next(iter(upload_ids))
    assert result["resumed"] is True
    assert (result["parts_reused"], result["parts_sent"]) == (len(before), 21 - len(before))
    # try 1 saved its confirmed parts as it failed: the retry reuses them as confirmed, without reading the file
    # again; with "discover" there is no record: the retry proved each listed part against the file (one read)
    # before adopting the upload, and reuses them as confirmed
    unread = result["parts_reused_confirmed"]
    assert unread == len(before) if checkpoint == "discover" else unread >= 5
    # a decimal string: the Airflow UI's JavaScript would round a 64-bit integer
    assert result["crc64"] == str(local_crc) and result["size"] == 20 * PART + 1234
    assert oss_server.access_key_secret not in json.dumps(result)
    _assert_task_output_has_no_secret(capfd, oss_server)


@pytest.mark.airflow
def test_abort_on_final_failure_aborts_only_after_the_last_try(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    source, _ = _source(tmp_path, 6 * PART)
    dag = _write_dag(checkpoint="state_store", checkpoint_dir=None, retries=1, abort_on_final_failure=True)
    oss_server.add_fault("UploadPart", "status", part_number=4, times=1000, status=503)

    run = dag.test(run_conf={"filename": str(source), "key": "airflow/aborted.bin"})

    assert run.state == "failed"
    ops = [e["op"] for e in oss_server.request_log()]
    assert ops.count("InitiateMultipartUpload") == 1, "try 2 continued the upload of try 1"
    assert ops.count("ListParts") == 1
    assert ops.count("AbortMultipartUpload") == 1
    # Try 1 failed without aborting (a retry remained); only the final try aborted.
    assert ops.index("AbortMultipartUpload") > ops.index("ListParts")
    assert oss_server.list_uploads("test-bucket") == []
    assert _state_rows(dag.dag_id) == []


@pytest.mark.airflow
def test_checkpoint_in_state_store_holds_no_secret(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A try that fails for good leaves its checkpoint in the metadata DB: upload ID yes, secret no."""
    source, _ = _source(tmp_path, 6 * PART)
    dag = _write_dag(checkpoint="state_store", checkpoint_dir=None, retries=0)
    oss_server.add_fault("UploadPart", "status", nth=3, times=1000, status=503)

    run = dag.test(run_conf={"filename": str(source), "key": "airflow/fails.bin"})

    assert run.state == "failed"
    rows = _state_rows(dag.dag_id)
    assert len(rows) == 1
    key, value = rows[0]
    record = json.loads(value)
    upload_ids = {e["upload_id"] for e in oss_server.request_log() if e.get("upload_id")}
    assert json.dumps(record).count(upload_ids.pop()) == 1
    assert oss_server.access_key_secret not in value
    # Kept, not aborted: a manual re-run of the task can still resume it.
    assert len(oss_server.list_uploads("test-bucket")) == 1
    assert key == "oss_resumable_upload"
    _assert_task_output_has_no_secret(capfd, oss_server)
