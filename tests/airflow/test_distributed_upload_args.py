"""The distributed upload operators refuse bad arguments when the DAG is parsed, naming the task and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.operators.distributed_upload import (
    DistributedRangeUploadOperator,
    DistributedUploadPlanOperator,
    plan_of,
)
from airflow_provider_oss.upload.distributed_plan import DistributedPlan, DistributedPlanError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"checkpoint": "discover"}, "checkpoint must be one of .*'discover' cannot tell it apart"),
        ({"checkpoint": "file"}, "checkpoint='file' needs checkpoint_dir"),
        ({"part_size": 1024}, "below OSS's minimum part size"),
        ({"ranges": 0}, "ranges must be an int from 1"),
        ({"ranges": 2, "parts_per_range": 3}, "exactly one of ranges"),
        ({"metadata": {"bad key": "v"}}, "metadata"),
    ],
)
def test_plan_operator_refuses_bad_arguments_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"DistributedUploadPlanOperator\(task_id='plan'\): .*{message}"):
        DistributedUploadPlanOperator(task_id="plan", filename="/data/f.bin", key="k", **kwargs)


def test_range_operator_refuses_a_bad_checkpoint_mode_and_parallelism() -> None:
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        DistributedRangeUploadOperator(task_id="r", plan={}, part_range={}, checkpoint="discover")
    with pytest.raises(ValueError, match=r"DistributedRangeUploadOperator\(task_id='r'\): .*parallelism"):
        DistributedRangeUploadOperator(task_id="r", plan={}, part_range={}, parallelism=0)


def test_plan_of_takes_the_plan_tasks_output_and_refuses_mixed_plans() -> None:
    fingerprint = SourceFingerprint(size=300 * 1024, mtime_ns=1, sample="0" * 64)

    def plan(upload_id: str) -> dict[str, Any]:
        made = DistributedPlan("b", "k", upload_id, "/f", 100 * 1024, fingerprint, "1" * 64, ((1, 2), (3, 3)))
        return made.to_dict()

    items = [{"plan": plan("U1"), "part_range": {}}, {"plan": plan("U1"), "part_range": {}}]
    assert plan_of(items).upload_id == "U1"
    assert plan_of(plan("U2")).upload_id == "U2"
    with pytest.raises(DistributedPlanError, match="mixes several plans"):
        plan_of([items[0], {"plan": plan("U3"), "part_range": {}}])
    with pytest.raises(DistributedPlanError, match="must be the plan task's output"):
        plan_of(["nonsense"])


@pytest.mark.airflow
def test_plan_without_task_state_store_or_checkpoint_dir_says_what_to_do(
    oss_connection_env: str, tmp_path: Path
) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 1000)
    op = DistributedUploadPlanOperator(task_id="plan", filename=str(tmp_path / "f.bin"), key="k")
    with pytest.raises(ValueError, match=r"needs Airflow 3.3\+ \(task_state_store\) or checkpoint_dir"):
        op.execute({})  # a context without task_state_store (Airflow < 3.3)
