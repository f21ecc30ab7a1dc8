"""
The distributed upload task group in a real Airflow 3.3 under ``dag.test()`` against the local OSS
server: one upload ID across plan, mapped ranges and complete; a retried plan starts no second
upload; a retried complete finds the object; a failed run resumes by clearing only the failed map
index; a file changed between plan and ranges is refused by every range.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag
from tests.upload_support import entries, make_file

PART = 100 * 1024
BUCKET = "test-bucket"

HEADER = """
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_oss.operators.distributed_upload import (
    DistributedRangeUploadOperator,
    DistributedUploadCompleteOperator,
    DistributedUploadPlanOperator,
    distributed_upload,
)


class FlakyPlan(DistributedUploadPlanOperator):
    # try 1 dies right after recording its upload (a worker lost after InitiateMultipartUpload)
    def execute(self, context):
        plan = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("plan try 1 lost after initiating")
        return plan


class ChangingPlan(DistributedUploadPlanOperator):
    # the file is rewritten right after the plan fingerprinted it
    def execute(self, context):
        plan = super().execute(context)
        path = Path(self.filename)
        path.write_bytes(path.read_bytes()[::-1])
        return plan


class FlakyComplete(DistributedUploadCompleteOperator):
    # try 1 dies right after CompleteMultipartUpload, before Airflow records success
    def execute(self, context):
        result = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("complete try 1 lost after completing")
        return result
"""

FACTORY_DAG = (
    HEADER
    + """
with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    distributed_upload(
        task_id="big",
        filename="{{{{ dag_run.conf['filename'] }}}}",
        bucket="test-bucket",
        key="{{{{ dag_run.conf['key'] }}}}",
        part_size={part},
        ranges={ranges},
        parallelism=2,
        checkpoint={checkpoint!r},
        checkpoint_dir={checkpoint_dir!r},
        content_type="application/x-test",
        retries={retries},
        retry_delay=timedelta(seconds=0),
    )
"""
)

TRIO_DAG = (
    HEADER
    + """
with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    plan = {plan_class}(
        task_id="plan",
        filename="{{{{ dag_run.conf['filename'] }}}}",
        bucket="test-bucket",
        key="{{{{ dag_run.conf['key'] }}}}",
        part_size={part},
        ranges={ranges},
        checkpoint="state_store",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
    ranges = DistributedRangeUploadOperator.partial(
        task_id="upload_ranges", parallelism=2, retries=0
    ).expand_kwargs(plan.output)
    {complete_class}(
        task_id="complete", plan=plan.output, range_results=ranges.output, retries=1,
        retry_delay=timedelta(seconds=0),
    )
"""
)


def _load(template: str, **params: Any) -> Any:
    return load_dag(template, "oss_dist", part=PART, **params)


def _db_rows(sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db") as conn:
        return conn.execute(sql, args).fetchall()


def _xcom(dag_id: str, task_id: str, map_index: int = -1) -> Any:
    (value,) = _db_rows(
        "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND map_index = ? AND key = 'return_value'",
        dag_id,
        task_id,
        map_index,
    )[0]
    result = json.loads(value)
    return json.loads(result) if isinstance(result, str) else result


def _tries(dag_id: str) -> dict[tuple[str, int], tuple[int, str]]:
    rows = _db_rows(
        "SELECT task_id, map_index, try_number, state FROM task_instance WHERE dag_id = ?", dag_id
    )
    return {(t, m): (n, s) for t, m, n, s in rows}


def _one_upload_id(server: LocalOssServer) -> str:
    log = server.request_log()
    assert len(entries(log, "InitiateMultipartUpload")) == 1, "one multipart upload, whatever was retried"
    (upload_id,) = {e["upload_id"] for e in log if e.get("upload_id")}
    return str(upload_id)


@pytest.mark.airflow
@pytest.mark.parametrize("checkpoint", ["state_store", "file"])
def test_task_group_uploads_the_file_as_one_upload(
    checkpoint: str, airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "src.bin", 10 * PART + 99)  # 11 parts in 3 ranges
    checkpoint_dir = str(tmp_path / "ckpt") if checkpoint == "file" else None
    dag = _load(FACTORY_DAG, ranges=3, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir, retries=0)

    run = dag.test(run_conf={"filename": str(tmp_path / "src.bin"), "key": "dist/one.bin"})

    assert run.state == "success"
    assert oss_server.object_bytes(BUCKET, "dist/one.bin") == data
    upload_id = _one_upload_id(oss_server)
    assert _tries(dag.dag_id) == {
        ("big.plan", -1): (1, "success"),
        **{("big.upload_ranges", i): (1, "success") for i in range(3)},
        ("big.complete", -1): (1, "success"),
    }
    result = _xcom(dag.dag_id, "big.complete")
    assert result["upload_id"] == upload_id and result["crc64"] == str(crc64.crc64(data))
    assert (result["size"], result["parts_total"], result["parts_sent"]) == (len(data), 11, 11)
    plan = _xcom(dag.dag_id, "big.plan")[0]["plan"]
    assert plan["upload_id"] == upload_id and plan["ranges"] == [[1, 4], [5, 8], [9, 11]]
    ranges = [_xcom(dag.dag_id, "big.upload_ranges", i) for i in range(3)]
    assert [(r["first_part"], r["last_part"], r["parts_sent"]) for r in ranges] == [
        (1, 4, 4),
        (5, 8, 4),
        (9, 11, 3),
    ]
    assert oss_server.list_uploads(BUCKET) == []
    head = oss_server.request_log()
    assert next(e for e in head if e["op"] == "InitiateMultipartUpload").get(
        "content_type", "application/x-test"
    )
    # the plan's record stays (a retried plan finds its upload); each finished range deleted its own
    if checkpoint == "state_store":
        keys = _db_rows("SELECT task_id, map_index, key FROM task_state_store WHERE dag_id = ?", dag.dag_id)
        assert keys == [("big.plan", -1, "oss_distributed_plan")]
    else:
        records = list((tmp_path / "ckpt").rglob("*.json"))
        assert len(records) == 1 and json.loads(records[0].read_text())["upload_id"] == upload_id
    assert oss_server.access_key_secret not in json.dumps([plan, ranges, result])


@pytest.mark.airflow
def test_a_retried_plan_and_a_retried_complete_keep_one_upload(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "src.bin", 8 * PART)
    dag = _load(TRIO_DAG, ranges=2, plan_class="FlakyPlan", complete_class="FlakyComplete")

    run = dag.test(run_conf={"filename": str(tmp_path / "src.bin"), "key": "dist/retried.bin"})

    assert run.state == "success"
    tries = _tries(dag.dag_id)
    assert tries[("plan", -1)] == (2, "success") and tries[("complete", -1)] == (2, "success")
    upload_id = _one_upload_id(oss_server)
    ops = [e["op"] for e in oss_server.request_log()]
    assert ops.count("CompleteMultipartUpload") == 1, "the retried complete found the object"
    assert ops[-2:] == ["ListParts", "HeadObject"], (
        "retried complete: upload gone, object has size and CRC-64"
    )
    result = _xcom(dag.dag_id, "complete")
    assert result["already_complete"] is True and result["upload_id"] == upload_id
    assert result["crc64"] == str(crc64.crc64(data))
    assert oss_server.object_bytes(BUCKET, "dist/retried.bin") == data


@pytest.mark.airflow
def test_a_file_changed_between_plan_and_ranges_is_refused_by_every_range(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    make_file(tmp_path / "src.bin", 6 * PART)
    dag = _load(
        TRIO_DAG, ranges=3, plan_class="ChangingPlan", complete_class="DistributedUploadCompleteOperator"
    )

    run = dag.test(run_conf={"filename": str(tmp_path / "src.bin"), "key": "dist/changed.bin"})

    assert run.state == "failed"
    tries = _tries(dag.dag_id)
    assert [tries[("upload_ranges", i)][1] for i in range(3)] == ["failed"] * 3
    assert tries[("complete", -1)][1] == "upstream_failed"
    assert entries(oss_server.request_log(), "UploadPart") == []
    out = "".join(capfd.readouterr())
    for index in range(3):
        assert "changed since the plan task planned upload ID" in out and f"range {index} (parts" in out
    assert str(tmp_path / "src.bin") in out


def _resume_run(dag: Any, run: Any) -> Any:
    """Clear only the failed (and upstream-failed) task instances of ``run`` and run them, as the UI's clear."""
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        run = session.merge(run)
        failed = [
            ti for ti in run.get_task_instances(session=session) if ti.state in ("failed", "upstream_failed")
        ]
        clear_task_instances(failed, session, dag_run_state=DagRunState.RUNNING)
    ran: list[tuple[str, int]] = []
    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with create_session() as session:
        run = session.merge(run)
        run.dag = scheduler_dag
        for _ in range(20):  # a few scheduling rounds suffice; a stuck run fails the test below
            if run.state != DagRunState.RUNNING:
                break
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in [
                t for t in run.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED
            ]:
                ran.append((ti.task_id, ti.map_index))
                # a failing task is recorded in its state (checked by the caller), as dag.test() does
                with contextlib.suppress(Exception):
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id])
        return run.state, ran


@pytest.mark.airflow
def test_a_failed_run_resumes_by_clearing_only_the_failed_map_index(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "src.bin", 12 * PART)  # ranges 1-4, 5-8, 9-12
    dag = _load(FACTORY_DAG, ranges=3, checkpoint="state_store", checkpoint_dir=None, retries=0)
    oss_server.add_fault("UploadPart", "status", part_number=7, times=1000, status=503)

    run = dag.test(run_conf={"filename": str(tmp_path / "src.bin"), "key": "dist/cleared.bin"})

    assert run.state == "failed"
    tries = _tries(dag.dag_id)
    assert [tries[("big.upload_ranges", i)][1] for i in range(3)] == ["success", "failed", "success"]
    stored_before = {
        e["part_number"] for e in entries(oss_server.request_log(), "UploadPart") if e["status"] == 200
    }
    assert stored_before >= {1, 2, 3, 4, 9, 10, 11, 12} and 7 not in stored_before
    oss_server.clear_faults()
    seq = max(e["seq"] for e in oss_server.request_log())

    state, ran = _resume_run(dag, run)

    assert state == "success"
    assert sorted(ran) == [("big.complete", -1), ("big.upload_ranges", 1)], "only the failed map index re-ran"
    later = [e for e in oss_server.request_log() if e["seq"] > seq]
    resent = sorted(e["part_number"] for e in later if e["op"] == "UploadPart")
    assert resent == sorted({5, 6, 7, 8} - stored_before), "the cleared range sent only what OSS lacked"
    assert _one_upload_id(oss_server)
    assert oss_server.object_bytes(BUCKET, "dist/cleared.bin") == data
    assert _xcom(dag.dag_id, "big.complete")["crc64"] == str(crc64.crc64(data))
