"""
One upload spread across many workers: ``distributed_upload(task_id=..., ...)`` makes a task group
of three operators, plan -> range uploads (mapped, one task per part range) -> complete.

The plan task initiates ONE multipart upload and records it in its checkpoint store (Airflow 3.3's
``task_state_store``, or a file under ``checkpoint_dir``) before it returns, so a retried plan task
continues that upload instead of starting a second one. Its XCom (the plan: upload ID, file
fingerprint, part size, ranges) is read by every range task and by the complete task; an
upstream task's XComs survive a downstream retry, so a retried range task uploads under the same
upload ID. The logic is :mod:`airflow_provider_oss.upload.distributed` (Airflow-free).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.transfer_base import OssTransferOperator
from airflow_provider_oss.upload.distributed import start_plan, upload_range
from airflow_provider_oss.upload.distributed_complete import complete_plan
from airflow_provider_oss.upload.distributed_plan import (
    DistributedPlan,
    DistributedPlanError,
    PartRange,
    split_ranges,
)
from airflow_provider_oss.upload.plan import DEFAULT_PART_SIZE, validate_part_size
from airflow_provider_oss.upload.stores import CheckpointStore, FileCheckpointStore, KeyValueCheckpointStore
from airflow_provider_oss.version_compat import NEVER_EXPIRE, BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, TaskGroup

__all__ = [
    "DistributedRangeUploadOperator",
    "DistributedUploadCompleteOperator",
    "DistributedUploadPlanOperator",
    "distributed_upload",
]

#: ``task_state_store`` keys of the plan's record and of each range's record.
PLAN_STATE_KEY = "oss_distributed_plan"
RANGE_STATE_KEY = "oss_distributed_range"
PLAN_MODES = ("auto", "state_store", "file")
RANGE_MODES = ("auto", "state_store", "file", "none")
#: How many range tasks when neither ``ranges`` nor ``parts_per_range`` is given.
DEFAULT_RANGES = 4


def _task_identity(context: Mapping[str, Any]) -> str:
    """A file name for this task instance's record (DAG, run, task, map index), as task_state_store keys them."""
    ti = context.get("ti") or context.get("task_instance")
    parts = [getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id", "map_index")]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def _store(
    context: Mapping[str, Any],
    *,
    mode: str,
    checkpoint_dir: str | None,
    state_key: str,
    plan_bucket: str,
    plan_key: str,
    filename: str,
) -> CheckpointStore | None:
    """The task instance's own record: task_state_store, a file, or None (``"none"``)."""
    state_store = context.get("task_state_store")
    if mode == "state_store" or (mode == "auto" and state_store is not None):
        if state_store is None:
            raise ValueError(
                "checkpoint='state_store' needs Airflow 3.3+ (context['task_state_store']); use checkpoint='file' "
                "with checkpoint_dir on a volume shared by the workers."
            )
        set_kwargs = {"retention": NEVER_EXPIRE} if NEVER_EXPIRE is not None else {}
        return KeyValueCheckpointStore(state_store, key=state_key, set_kwargs=set_kwargs)
    if mode == "file" or (mode == "auto" and checkpoint_dir):
        if not checkpoint_dir:
            raise ValueError("checkpoint='file' needs checkpoint_dir (a directory every worker shares).")
        directory = os.path.join(checkpoint_dir, "oss-distributed", _task_identity(context))
        return FileCheckpointStore(directory, plan_bucket, plan_key, filename)
    return None


def plan_of(value: Any) -> DistributedPlan:
    """
    The plan from the plan task's XCom: the list of ``{"plan", "part_range"}`` it returned (every
    element must carry the same plan) or one plan dict.

    :raises DistributedPlanError: a malformed value, or elements of different plans.
    """
    if isinstance(value, Mapping) and "plan" not in value:
        return DistributedPlan.from_dict(dict(value))
    items = [value] if isinstance(value, Mapping) else list(value)
    if not items or not all(isinstance(item, Mapping) and "plan" in item for item in items):
        raise DistributedPlanError(
            "plan must be the plan task's output (a list of {'plan', 'part_range'}) or one plan; "
            f"got {str(value)[:200]!r}."
        )
    plans = {json.dumps(item["plan"], sort_keys=True) for item in items}
    if len(plans) != 1:
        raise DistributedPlanError(
            "The plan task's output mixes several plans: pass one plan task's output unchanged."
        )
    return DistributedPlan.from_dict(items[0]["plan"])


class DistributedUploadPlanOperator(OssTransferOperator):
    """
    Fingerprint the file, plan its parts and part ranges, and initiate ONE multipart upload (a retry
    continues the recorded one). Returns one ``{"plan": ..., "part_range": ...}`` per range: map the
    range task over it with ``.expand_kwargs(plan_task.output)``.

    :param filename: the local file, at the same path on every worker (templated).
    :param key: the object key (templated).
    :param bucket: the bucket (templated); default: the connection's ``bucket`` extra.
    :param oss_conn_id: the OSS connection.
    :param part_size: bytes per part (100 KiB to 5 GiB; grown to fit 10,000 parts).
    :param ranges: how many range tasks (default 4 when ``parts_per_range`` is not given either).
    :param parts_per_range: parts per range task instead of ``ranges``.
    :param checkpoint: where the plan records its upload: ``"auto"`` (task_state_store on Airflow
        3.3+, else a file under ``checkpoint_dir``), ``"state_store"`` or ``"file"``.
    :param checkpoint_dir: directory on a volume every worker shares, for ``"file"`` (templated).
    :param content_type: the object's Content-Type.
    :param metadata: user metadata (``x-oss-meta-*``), templated.
    :param storage_class: the object's storage class.
    :param acl: the object ACL.
    :param server_side_encryption: ``AES256``, ``KMS`` or ``SM4``.
    :param sse_kms_key_id: the KMS key id.
    """

    template_fields: Sequence[str] = ("filename", "bucket", "key", "checkpoint_dir", "metadata")

    def __init__(
        self,
        *,
        filename: str,
        key: str,
        bucket: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        ranges: int | None = None,
        parts_per_range: int | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        acl: str | None = None,
        server_side_encryption: str | None = None,
        sse_kms_key_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filename, self.key, self.bucket = filename, key, bucket
        self.part_size = part_size
        self.ranges = DEFAULT_RANGES if ranges is None and parts_per_range is None else ranges
        self.parts_per_range = parts_per_range
        self.content_type, self.metadata, self.storage_class = content_type, metadata, storage_class
        self.acl, self.server_side_encryption, self.sse_kms_key_id = (
            acl,
            server_side_encryption,
            sse_kms_key_id,
        )
        self._checked(self._check)

    def _check(self) -> None:
        validate_part_size(self.part_size)
        split_ranges(1, ranges=self.ranges, parts_per_range=self.parts_per_range)
        if self.checkpoint not in PLAN_MODES:
            raise ValueError(
                f"checkpoint must be one of {PLAN_MODES}; got {self.checkpoint!r}. The plan must record its upload "
                "so that a retried plan task does not start a second one ('discover' cannot tell it apart)."
            )
        if self.checkpoint == "file" and not self.checkpoint_dir:
            raise ValueError("checkpoint='file' needs checkpoint_dir (a directory every worker shares).")
        if isinstance(self.metadata, (dict, type(None))):
            self.object_options()

    def object_options(self) -> ObjectOptions:
        """The object's headers, sent with InitiateMultipartUpload."""
        return ObjectOptions(
            content_type=self.content_type,
            metadata=self._metadata(self.metadata),
            storage_class=self.storage_class,
            acl=self.acl,
            server_side_encryption=self.server_side_encryption,
            sse_kms_key_id=self.sse_kms_key_id,
        )

    def execute(self, context: Context) -> list[dict[str, Any]]:
        for name in ("filename", "key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string; it rendered to {value!r}.")
        hook = OssHook(self.oss_conn_id)
        bucket = hook.resolve_bucket(self.bucket)
        filename = os.path.abspath(self.filename)
        ctx = cast("dict[str, Any]", context)
        store = _store(
            ctx,
            mode=self.checkpoint,
            checkpoint_dir=self.checkpoint_dir,
            state_key=PLAN_STATE_KEY,
            plan_bucket=bucket,
            plan_key=self.key,
            filename=filename,
        )
        if store is None:
            raise ValueError(
                f"{type(self).__name__}(task_id={self.task_id!r}) needs Airflow 3.3+ (task_state_store) or "
                "checkpoint_dir on a volume shared by the workers, so that a retried plan task continues its upload "
                "instead of starting a second one."
            )
        plan = start_plan(
            hook.get_client(),
            bucket,
            self.key,
            filename,
            store=store,
            part_size=self.part_size,
            ranges=self.ranges,
            parts_per_range=self.parts_per_range,
            options=self.object_options(),
            logger=cast("logging.Logger", self.log),
        )
        plan_dict = plan.to_dict()
        return [{"plan": plan_dict, "part_range": r.to_dict()} for r in plan.part_ranges()]


class DistributedRangeUploadOperator(OssTransferOperator):
    """
    Upload one part range of a distributed upload (map it over the plan task's ``ranges`` XCom).
    A retry of the same map index continues the range under the same upload ID.

    :param plan: the plan (a field of each element of the plan task's XCom).
    :param part_range: one of the plan's ranges (both come from ``.expand_kwargs(plan_task.output)``).
    :param oss_conn_id: the OSS connection.
    :param parallelism: parts in flight at once in this task (1 to 64).
    :param checkpoint: where this map index records its confirmed parts: ``"auto"`` (task_state_store,
        else a file under ``checkpoint_dir``, else nothing), ``"state_store"``, ``"file"`` or
        ``"none"`` (a retry then reads and CRC-checks every listed part of its range).
    :param checkpoint_dir: directory every worker shares, for ``"file"`` (templated).
    :param traffic_limit: per-request bandwidth cap in bit/s.
    :param verify_reused_parts: read and CRC-check every reused part even when confirmed.
    """

    template_fields: Sequence[str] = ("plan", "part_range", "checkpoint_dir")
    ui_color = "#ff8c33"

    def __init__(
        self,
        *,
        plan: Any,
        part_range: Any,
        parallelism: int = 4,
        traffic_limit: int | None = None,
        verify_reused_parts: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan, self.part_range = plan, part_range
        if self.checkpoint not in RANGE_MODES:
            raise ValueError(
                f"{type(self).__name__}: checkpoint must be one of {RANGE_MODES}; got {self.checkpoint!r}."
            )
        self.transfer_config = self._transfer_config(
            parallelism=parallelism, traffic_limit=traffic_limit, verify_reused_parts=verify_reused_parts
        )

    def execute(self, context: Context) -> dict[str, Any]:
        plan = DistributedPlan.from_dict(self.plan)
        part_range = PartRange.from_dict(self.part_range)
        store = _store(
            cast("dict[str, Any]", context),
            mode=self.checkpoint,
            checkpoint_dir=self.checkpoint_dir,
            state_key=RANGE_STATE_KEY,
            plan_bucket=plan.bucket,
            plan_key=plan.key,
            filename=plan.filename,
        )
        client = OssHook(self.oss_conn_id).get_client(pool_size=self.transfer_config.pool_size)
        result = upload_range(
            client,
            plan,
            part_range,
            config=self.transfer_config,
            store=store,
            logger=cast("logging.Logger", self.log),
        )
        return result.to_dict()


class DistributedUploadCompleteOperator(BaseOperator):
    """
    Complete a distributed upload once, checking the ranges' combined CRC-64 against OSS's parts and
    the object's; a retry succeeds when the object is already this file.

    :param plan: the plan task's XCom (its ``output``: the list it returned), or one plan.
    :param range_results: the range tasks' XComs (the mapped task's ``output``).
    :param oss_conn_id: the OSS connection.
    """

    template_fields: Sequence[str] = ("plan", "range_results")
    ui_color = "#ff6a00"

    def __init__(
        self, *, plan: Any, range_results: Any, oss_conn_id: str = OssHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.plan, self.range_results = plan, range_results
        self.oss_conn_id = oss_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        plan = plan_of(self.plan)
        client = OssHook(self.oss_conn_id).get_client()
        results = self.range_results
        # Index a mapped task's lazy XCom sequence up to its length: iterating it probes one index past
        # the end, which Airflow logs as an "XCom not found" error.
        items = [results[i] for i in range(len(results))] if isinstance(results, Sequence) else list(results)
        result = complete_plan(client, plan, items, logger=cast("logging.Logger", self.log))
        return result.to_dict()


def distributed_upload(
    *,
    task_id: str,
    filename: str,
    key: str,
    bucket: str | None = None,
    oss_conn_id: str = OssHook.default_conn_name,
    part_size: int = DEFAULT_PART_SIZE,
    ranges: int | None = None,
    parts_per_range: int | None = None,
    parallelism: int = 4,
    checkpoint: str = "auto",
    checkpoint_dir: str | None = None,
    traffic_limit: int | None = None,
    verify_reused_parts: bool = False,
    content_type: str | None = None,
    metadata: dict[str, str] | None = None,
    storage_class: str | None = None,
    acl: str | None = None,
    server_side_encryption: str | None = None,
    sse_kms_key_id: str | None = None,
    **task_kwargs: Any,
) -> TaskGroup:
    """
    A task group ``task_id`` that uploads one file as one multipart upload spread across workers:
    ``<task_id>.plan`` -> ``<task_id>.upload_ranges`` (mapped, one task per range) ->
    ``<task_id>.complete``. Call it inside a DAG; use the group like a task (``a >> group >> b``).

    :param task_id: the group's id.
    :param filename: the local file, at the same path on every worker (templated).
    :param key: the object key (templated).
    :param bucket: the bucket (templated); default: the connection's ``bucket`` extra.
    :param oss_conn_id: the OSS connection.
    :param part_size: bytes per part (grown to fit 10,000 parts).
    :param ranges: how many range tasks (default 4), or give ``parts_per_range``.
    :param parts_per_range: parts per range task.
    :param parallelism: parts in flight at once in each range task.
    :param checkpoint: ``"auto"``, ``"state_store"`` or ``"file"`` (see the plan and range operators).
    :param checkpoint_dir: directory every worker shares, for ``"file"``.
    :param traffic_limit: per-request bandwidth cap in bit/s, for every range task.
    :param verify_reused_parts: read and CRC-check every reused part.
    :param content_type: the object's Content-Type (and the other object headers below).
    :param task_kwargs: given to all three tasks (``retries``, ``retry_delay``, ``queue``, ``pool``...).
    """
    from airflow.sdk import TaskGroup

    with TaskGroup(group_id=task_id) as group:
        plan = DistributedUploadPlanOperator(
            task_id="plan",
            filename=filename,
            key=key,
            bucket=bucket,
            oss_conn_id=oss_conn_id,
            part_size=part_size,
            ranges=ranges,
            parts_per_range=parts_per_range,
            checkpoint=checkpoint,
            checkpoint_dir=checkpoint_dir,
            content_type=content_type,
            metadata=metadata,
            storage_class=storage_class,
            acl=acl,
            server_side_encryption=server_side_encryption,
            sse_kms_key_id=sse_kms_key_id,
            **task_kwargs,
        )
        uploads = DistributedRangeUploadOperator.partial(
            task_id="upload_ranges",
            oss_conn_id=oss_conn_id,
            parallelism=parallelism,
            checkpoint=checkpoint,
            checkpoint_dir=checkpoint_dir,
            traffic_limit=traffic_limit,
            verify_reused_parts=verify_reused_parts,
            **task_kwargs,
        ).expand_kwargs(plan.output)
        DistributedUploadCompleteOperator(
            task_id="complete",
            plan=plan.output,
            range_results=uploads.output,
            oss_conn_id=oss_conn_id,
            **task_kwargs,
        )
    return group
