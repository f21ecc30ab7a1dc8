"""
OssCopyObjectOperator and OssHook.resumable_copy against the local OSS server: parse-time checks,
a copy across buckets, and in a real Airflow 3.3 (``dag.test()``) a first try failing part-way whose
retry continues the same upload ID and copies only the missing parts.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.copy import OssCopyObjectOperator
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig
from tests.airflow.dag_files import load_dag

PART = 100 * 1024
DEST = "copy-dest"


def _op(**kwargs: Any) -> OssCopyObjectOperator:
    kwargs.setdefault("source_key", "in/a.bin")
    kwargs.setdefault("dest_key", "out/a.bin")
    return OssCopyObjectOperator(task_id="copy", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_key": ""}, "source_key must be a non-empty string"),
        ({"dest_key": 5}, "dest_key must be a non-empty string"),
        ({"dest_bucket": 3}, "dest_bucket must be a string or None"),
        ({"checkpoint": "sometimes"}, "checkpoint must be one of"),
        ({"checkpoint": "file"}, "checkpoint='file' needs checkpoint_dir"),
        ({"part_size": 10}, "part_size"),
        ({"parallelism": 0}, "parallelism must be an int from 1 to 64"),
        ({"multipart_threshold": 6 * 1024**3}, "multipart_threshold"),
        ({"metadata": ["a"]}, "metadata must be a dict"),
        ({"storage_class": "Glacier"}, "storage"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        _op(**kwargs)
    assert "OssCopyObjectOperator(task_id='copy')" in str(caught.value)


def test_templated_keys_are_checked_after_rendering() -> None:
    op = _op(source_key="{{ params.k }}", dest_key="{{ params.k }}")
    assert set(op.template_fields) >= {
        "source_key",
        "dest_key",
        "source_bucket",
        "dest_bucket",
        "checkpoint_dir",
    }
    op.source_key = op.dest_key = "same.bin"
    with pytest.raises(ValueError, match="the copy would change nothing"):
        op.execute({})


@pytest.fixture
def hook(oss_server: LocalOssServer, oss_connection_env: str) -> OssHook:
    oss_server.create_bucket(DEST)
    return OssHook(oss_connection_env)


def test_operator_copies_across_buckets_in_parts_and_returns_a_summary(
    hook: OssHook, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = os.urandom(5 * PART + 3)
    hook.load_bytes(data, "in/a.bin")
    result = _op(
        dest_key=f"oss://{DEST}/out/a.bin",
        part_size=PART,
        multipart_threshold=PART,
        checkpoint="file",
        checkpoint_dir=str(tmp_path),
    ).execute({})
    assert oss_server.object_bytes(DEST, "out/a.bin") == data
    assert result["crc64"] == str(crc64.crc64(data)) == str(oss_server.stored_crc64(DEST, "out/a.bin"))
    assert (result["source"], result["destination"]) == (
        "oss://test-bucket/in/a.bin",
        f"oss://{DEST}/out/a.bin",
    )
    assert (result["method"], result["parts_total"], result["parts_copied"], result["parts_reused"]) == (
        "UploadPartCopy",
        6,
        6,
        0,
    )
    json.dumps(result)  # XCom-ready


def test_hook_resumable_copy_small_object_is_one_copy_object(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    hook.load_bytes(b"hello", "in/small.txt")
    outcome = hook.resumable_copy(
        "in/small.txt", "out/small.txt", dest_bucket_name=DEST, config=TransferConfig()
    )
    assert outcome.method == "CopyObject" and oss_server.object_bytes(DEST, "out/small.txt") == b"hello"


DAG_TEMPLATE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.copy import OssCopyObjectOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    OssCopyObjectOperator(
        task_id="copy",
        source_key="{{{{ dag_run.conf['source'] }}}}",
        dest_key="{{{{ dag_run.conf['dest'] }}}}",
        dest_bucket={dest!r},
        part_size={part},
        multipart_threshold={part},
        parallelism=2,
        checkpoint={checkpoint!r},
        checkpoint_dir={checkpoint_dir!r},
        retries=2,
        retry_delay=timedelta(seconds=0),
    )
"""


def _write_dag(**params: Any) -> Any:
    return load_dag(DAG_TEMPLATE, "oss_copy", dest=DEST, part=PART, **params)


def _xcom_result(dag_id: str) -> dict[str, Any]:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'copy' AND key = 'return_value'", (dag_id,)
        ).fetchone()
    result = json.loads(value)
    return result if isinstance(result, dict) else json.loads(result)


@pytest.mark.airflow
@pytest.mark.parametrize("checkpoint", ["state_store", "file"])
def test_retry_continues_the_same_copy_upload(
    checkpoint: str,
    airflow_db: str,
    hook: OssHook,
    oss_server: LocalOssServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    data = os.urandom(12 * PART + 77)  # 13 parts
    hook.load_bytes(data, "in/big.bin")
    checkpoint_dir = str(tmp_path / "checkpoints") if checkpoint == "file" else None
    dag = _write_dag(checkpoint=checkpoint, checkpoint_dir=checkpoint_dir)
    # The connection allows 1 retry per request: two failures of part 6 in a row fail try 1.
    oss_server.add_fault("UploadPartCopy", "status", status=500, part_number=6, times=2)

    run = dag.test(run_conf={"source": "in/big.bin", "dest": "out/big.bin"})

    assert run.state == "success"
    log = oss_server.request_log()
    assert [e["op"] for e in log].count("InitiateMultipartUpload") == 1
    upload_ids = {e["upload_id"] for e in log if e.get("upload_id")}
    assert len(upload_ids) == 1, "the retry must continue the same upload ID"
    first_list = next(i for i, e in enumerate(log) if e["op"] == "ListParts")
    copies = [(i, e) for i, e in enumerate(log) if e["op"] == "UploadPartCopy" and e["status"] == 200]
    before = {e["part_number"] for i, e in copies if i < first_list}
    after = [e["part_number"] for i, e in copies if i > first_list]
    assert len(before) >= 5 and not before & set(after)
    assert before | set(after) == set(range(1, 14))
    assert oss_server.object_bytes(DEST, "out/big.bin") == data
    result = _xcom_result(dag.dag_id)
    assert result["upload_id"] == next(iter(upload_ids)) and result["resumed"] is True
    assert (result["parts_reused"], result["parts_copied"]) == (len(before), 13 - len(before))
    assert result["crc64"] == str(crc64.crc64(data))
    out, err = capfd.readouterr()
    assert "Resuming copy upload ID" in out + err
    assert oss_server.access_key_secret not in out + err
