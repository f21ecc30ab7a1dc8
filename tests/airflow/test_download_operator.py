"""
OssDownloadOperator: its arguments checked at parse time, and in a real Airflow 3.3 ``dag.test()``
with retries against the local OSS server: try 1 fails part-way, the retry continues with the ranges
try 1 wrote, in each checkpoint mode.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.download import temp_path_for
from airflow_provider_oss.operators.download import OssDownloadOperator
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag
from tests.download.support import ranges_of
from tests.upload_support import make_client

PART = 100 * 1024

DAG_TEMPLATE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.download import OssDownloadOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    OssDownloadOperator(
        task_id="download",
        key="{{{{ dag_run.conf['key'] }}}}",
        local_path="{{{{ dag_run.conf['local_path'] }}}}",
        bucket="test-bucket",
        part_size={part_size},
        parallelism=1,
        checkpoint={checkpoint!r},
        checkpoint_dir={checkpoint_dir!r},
        retries=2,
        retry_delay=timedelta(seconds=0),
    )
"""


def _write_dag(**params: Any) -> Any:
    return load_dag(DAG_TEMPLATE, "oss_download", part_size=PART, **params)


def _xcom_result(dag_id: str) -> dict[str, Any]:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'download' AND key = 'return_value'",
            (dag_id,),
        ).fetchone()
    result = json.loads(value)
    return result if isinstance(result, dict) else json.loads(result)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"part_size": 10}, "part_size"),
        ({"parallelism": 0}, "parallelism"),
        ({"checkpoint": "bogus"}, "checkpoint must be one of"),
        ({"checkpoint": "file"}, "needs checkpoint_dir"),
        ({"key": ""}, "key must be a non-empty string"),
        ({"local_path": "  "}, "local_path must be a non-empty string"),
        ({"bucket": 5}, "bucket must be a string"),
        ({"traffic_limit": 5}, "traffic"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(arguments: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"task_id": "dl", "key": "k", "local_path": "/tmp/x", **arguments}
    with pytest.raises(ValueError, match=message) as caught:
        OssDownloadOperator(**kwargs)
    assert "OssDownloadOperator(task_id='dl')" in str(caught.value)


def test_templated_fields() -> None:
    assert set(OssDownloadOperator.template_fields) == {
        "key",
        "local_path",
        "bucket",
        "checkpoint_dir",
        "version_id",
    }


@pytest.mark.airflow
@pytest.mark.parametrize("checkpoint", ["state_store", "file", "discover"])
def test_retry_continues_with_the_ranges_the_first_try_wrote(
    checkpoint: str,
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    data = random.Random(5).randbytes(12 * PART + 99)  # 13 ranges
    make_client(oss_server).put_object("test-bucket", "airflow/dl.bin", data)
    destination = tmp_path / "out" / "dl.bin"
    destination.parent.mkdir()
    checkpoint_dir = str(tmp_path / "checkpoints") if checkpoint == "file" else None
    dag = _write_dag(checkpoint=checkpoint, checkpoint_dir=checkpoint_dir)
    # The connection retries a request once: resets of the 6th GET and its retry fail try 1 at range 6.
    oss_server.add_fault("GetObject", "reset", nth=6, times=2)

    run = dag.test(run_conf={"key": "oss://test-bucket/airflow/dl.bin", "local_path": str(destination)})

    assert run.state == "success"
    assert destination.read_bytes() == data
    log = oss_server.request_log()
    heads = [i for i, e in enumerate(log) if e["op"] == "HeadObject"]
    assert len(heads) == 2, "two tries"
    try1 = {first // PART + 1 for first, _ in ranges_of(log[: heads[1]])}
    try2 = {first // PART + 1 for first, _ in ranges_of(log[heads[1] :])}
    assert try1 == {1, 2, 3, 4, 5}
    assert try2 == set(range(6, 14)), "the retry fetched only the ranges try 1 had not written"
    result = _xcom_result(dag.dag_id)
    assert (result["ranges_reused"], result["ranges_fetched"], result["resumed"]) == (5, 8, True)
    assert result["crc64"] == str(crc64.crc64(data)) and result["path"] == str(destination)
    assert result["bytes_reused"] + result["bytes_fetched"] == len(data)
    assert os.listdir(destination.parent) == ["dl.bin"], "no temporary file or record left beside the file"
    assert not os.path.exists(temp_path_for(str(destination)))
    if checkpoint == "file":
        assert os.listdir(checkpoint_dir or "") == []
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key FROM task_state_store WHERE dag_id = ?", (dag.dag_id,)).fetchall()
    assert rows == [], "a finished download deletes its task_state_store record"
    out, err = capfd.readouterr()
    assert oss_server.access_key_secret not in out + err
