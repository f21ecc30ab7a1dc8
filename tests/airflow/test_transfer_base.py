"""The transfer operators share one base (connection, checkpoint, TransferConfig, task-named errors)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_oss.operators.copy import OssCopyObjectOperator
from airflow_provider_oss.operators.distributed_upload import (
    DistributedRangeUploadOperator,
    DistributedUploadPlanOperator,
)
from airflow_provider_oss.operators.download import OssDownloadOperator
from airflow_provider_oss.operators.folder_upload import OssFolderUploadOperator
from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator
from airflow_provider_oss.operators.transfer_base import OssTransferOperator

#: Each transfer operator with the arguments that are its own, and its template fields (unchanged but
#: for the templated ``version_id`` / ``source_version_id`` that object versioning added).
OPERATORS: list[tuple[type[OssTransferOperator], dict[str, Any], tuple[str, ...]]] = [
    (
        ResumableUploadOperator,
        {"filename": "/data/f.bin", "key": "k"},
        ("filename", "bucket", "key", "checkpoint_dir", "metadata", "callback", "callback_var"),
    ),
    (
        OssDownloadOperator,
        {"key": "k", "local_path": "/tmp/out.bin"},
        ("key", "local_path", "bucket", "checkpoint_dir", "version_id"),
    ),
    (
        OssCopyObjectOperator,
        {"source_key": "a", "dest_key": "b"},
        (
            "source_key",
            "dest_key",
            "source_bucket",
            "dest_bucket",
            "checkpoint_dir",
            "metadata",
            "source_version_id",
        ),
    ),
    (
        OssFolderUploadOperator,
        {"folder": "/data"},
        ("folder", "prefix", "bucket", "pattern", "checkpoint_dir", "metadata"),
    ),
    (
        DistributedUploadPlanOperator,
        {"filename": "/data/f.bin", "key": "k"},
        ("filename", "bucket", "key", "checkpoint_dir", "metadata"),
    ),
]
#: The range task of a distributed upload takes the shared arguments too (its checkpoint modes are its own).
WITH_RANGE = [
    *OPERATORS,
    (
        DistributedRangeUploadOperator,
        {"plan": {}, "part_range": {}},
        ("plan", "part_range", "checkpoint_dir"),
    ),
]


@pytest.mark.parametrize(("operator", "own", "templated"), WITH_RANGE)
def test_shared_arguments_land_on_every_transfer_operator(
    operator: type[OssTransferOperator], own: dict[str, Any], templated: tuple[str, ...]
) -> None:
    op = operator(task_id="t", oss_conn_id="my_oss", checkpoint="file", checkpoint_dir="/ckpt", **own)
    assert (op.oss_conn_id, op.checkpoint, op.checkpoint_dir) == ("my_oss", "file", "/ckpt")
    assert tuple(op.template_fields) == templated
    default = operator(task_id="d", **own)
    assert (default.oss_conn_id, default.checkpoint, default.checkpoint_dir) == ("oss_default", "auto", None)


@pytest.mark.parametrize(("operator", "own", "templated"), WITH_RANGE)
def test_dag_default_args_reach_the_shared_arguments(
    operator: type[OssTransferOperator], own: dict[str, Any], templated: tuple[str, ...]
) -> None:
    with DAG(
        "defaults",
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        default_args={"oss_conn_id": "from_defaults", "checkpoint_dir": "/shared"},
    ):
        op = operator(task_id="t", **own)
    assert (op.oss_conn_id, op.checkpoint_dir) == ("from_defaults", "/shared")


@pytest.mark.parametrize(("operator", "own", "templated"), OPERATORS)
def test_bad_shared_argument_names_the_operator_and_task(
    operator: type[OssTransferOperator], own: dict[str, Any], templated: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=rf"^{operator.__name__}\(task_id='t'\): checkpoint must be one of"):
        operator(task_id="t", checkpoint="xcom", **own)
    with pytest.raises(
        ValueError, match=rf"^{operator.__name__}\(task_id='t'\): checkpoint='file' needs checkpoint_dir"
    ):
        operator(task_id="t", checkpoint="file", **own)


class _TaskInstance:
    def __init__(self, try_number: int, max_tries: int) -> None:
        self.try_number = try_number
        self.max_tries = max_tries


def test_final_try_is_the_one_after_the_last_retry() -> None:
    op = OssDownloadOperator(task_id="t", key="k", local_path="/tmp/x", retries=2)
    assert op._is_final_try({}) is True  # run outside Airflow (op.execute in a script): nothing follows
    assert op._is_final_try({"ti": _TaskInstance(1, 2)}) is False
    assert op._is_final_try({"ti": _TaskInstance(2, 2)}) is False
    assert op._is_final_try({"ti": _TaskInstance(3, 2)}) is True
