"""
The last step of a distributed upload (:mod:`airflow_provider_oss.upload.distributed`): check that
OSS holds every planned part with the CRC-64 the range tasks confirmed for the local bytes, complete
the upload once with the combined CRC-64 (the file's), and check the object's. A retry whose upload
is gone succeeds only when the object has the file's size and CRC-64 (one HEAD).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import CrcMismatchError, OssNotFoundError
from airflow_provider_oss.upload.distributed import check_source
from airflow_provider_oss.upload.distributed_plan import (
    DistributedPlan,
    DistributedPlanError,
    RangePlan,
    RangeResult,
)
from airflow_provider_oss.upload.errors import UploadGoneError
from airflow_provider_oss.upload.multipart import MultipartUpload
from airflow_provider_oss.upload.parts import UploadGone, is_no_such_upload
from airflow_provider_oss.upload.result import UploadResult

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import PartInfo
    from airflow_provider_oss.upload.api import UploadAPI

__all__ = ["complete_plan", "parse_results"]

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]
log = logging.getLogger(__name__)


def parse_results(plan: DistributedPlan, results: Iterable[Any]) -> list[RangeResult]:
    """
    The range tasks' results, checked to be exactly the plan's ranges of its upload, in range order.

    :raises DistributedPlanError: a missing, extra, foreign or malformed result.
    """
    parsed = sorted(
        (r if isinstance(r, RangeResult) else RangeResult.from_dict(r) for r in results),
        key=lambda r: r.index,
    )
    indexes = [r.index for r in parsed]
    if indexes != list(range(len(plan.ranges))):
        raise DistributedPlanError(
            f"The complete task of upload ID {plan.upload_id} to {plan.target} needs one result per range "
            f"0..{len(plan.ranges) - 1}; got ranges {indexes}."
        )
    for result in parsed:
        if result.upload_id != plan.upload_id or result.plan_digest != plan.digest:
            raise DistributedPlanError(
                f"The result of range {result.index} is for upload ID {result.upload_id}, not this plan's upload "
                f"ID {plan.upload_id} of {plan.target}: wire the complete task to the range tasks of the same plan."
            )
        first, last = plan.ranges[result.index]
        expected_size = RangePlan.of(plan.part_plan, first, last).range_size
        if (result.first_part, result.last_part, result.size) != (first, last, expected_size):
            raise DistributedPlanError(
                f"The result of range {result.index} covers parts {result.first_part}-{result.last_part} "
                f"({result.size} bytes); the plan's range is parts {first}-{last} ({expected_size} bytes)."
            )
    return parsed


def complete_plan(
    client: UploadAPI,
    plan: DistributedPlan,
    results: Iterable[Any],
    *,
    logger: LoggerLike = log,
) -> UploadResult:
    """
    Complete the plan's upload once every range is in OSS; a retry finds the object already there.

    :param client: the OSS calls.
    :param plan: the plan.
    :param results: every range task's result (dicts from XCom, or :class:`RangeResult`).
    :param logger: where to log.
    :raises DistributedPlanError: results that are not this plan's ranges, or parts missing in OSS.
    :raises SourceChangedError: the file changed since the plan.
    :raises CrcMismatchError: OSS holds a range whose CRC-64 differs from the local bytes', or the
        completed object's CRC-64 differs.
    :raises UploadGoneError: the upload is gone and the object is not this file.
    """
    started = time.monotonic()
    ranges = parse_results(plan, results)
    check_source(plan, "the complete task")
    expected = crc.combine_all([(r.crc64, r.size) for r in ranges])
    try:
        listed = list(client.list_parts(plan.bucket, plan.key, plan.upload_id))
    except OssNotFoundError as err:
        if not is_no_such_upload(err):
            raise
        return _already_complete(client, plan, expected, ranges, started, logger)
    parts = _check_listed(plan, ranges, {p.part_number: p for p in listed})
    upload = MultipartUpload(client, plan.bucket, plan.key, plan.upload_id, None, logger)
    try:
        etag, object_crc = upload.complete(
            parts, expected_crc64=expected, expected_size=plan.file_size, replace=True
        )
    except UploadGone:
        return _already_complete(client, plan, expected, ranges, started, logger)
    result = _result(plan, ranges, etag, object_crc, started, already_complete=False)
    logger.info(
        "Completed %s from upload ID %s: %d bytes in %d parts from %d range task(s), CRC-64 %d (the file's, "
        "combined from the ranges) verified against OSS's.",
        plan.target,
        plan.upload_id,
        plan.file_size,
        plan.part_count,
        len(ranges),
        object_crc,
    )
    return result


def _check_listed(
    plan: DistributedPlan, ranges: Sequence[RangeResult], listed: dict[int, PartInfo]
) -> list[tuple[int, str]]:
    """Every planned part, listed with its planned size and a CRC-64; each range's combined CRC-64 as confirmed."""
    parts: list[tuple[int, str]] = []
    part_plan = plan.part_plan
    for result in ranges:
        rplan = RangePlan.of(part_plan, result.first_part, result.last_part)
        missing = [
            p.number
            for p in rplan
            if p.number not in listed or listed[p.number].size != p.size or listed[p.number].crc64 is None
        ]
        if missing:
            raise DistributedPlanError(
                f"OSS lacks part(s) {_spans(missing)} of range {result.index} of upload ID {plan.upload_id} to "
                f"{plan.target} (missing, of another size, or without a CRC-64), although the range task reported "
                f"success. Clear map index {result.index} of the range task: its retry sends the missing parts."
            )
        in_oss = crc.combine_all([(int(listed[p.number].crc64 or 0), p.size) for p in rplan])
        if in_oss != result.crc64:
            raise CrcMismatchError(
                f"Range {result.index} (parts {result.first_part}-{result.last_part}) of upload ID {plan.upload_id}: "
                f"OSS's parts have combined CRC-64 {in_oss}, but the range task confirmed {result.crc64} for the "
                f"local bytes (another writer replaced parts?). Clear map index {result.index} of the range task.",
                local_crc=result.crc64,
                server_crc=in_oss,
                key=plan.key,
            )
        parts.extend((p.number, listed[p.number].etag) for p in rplan)
    return parts


def _spans(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:10]))
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def _already_complete(
    client: UploadAPI,
    plan: DistributedPlan,
    expected: int,
    ranges: Sequence[RangeResult],
    started: float,
    logger: LoggerLike,
) -> UploadResult:
    """The upload is gone: success only when the object is this file (its size and CRC-64)."""
    try:
        info = client.head_object(plan.bucket, plan.key)
    except OssNotFoundError:
        info = None
    if info is None or info.size != plan.file_size or info.crc64 != expected:
        found = "no object" if info is None else f"an object of {info.size} bytes with CRC-64 {info.crc64}"
        raise UploadGoneError(
            f"Upload ID {plan.upload_id} of {plan.target} no longer exists and the key holds {found}, not this "
            f"file ({plan.file_size} bytes, CRC-64 {expected}). Clear the whole task group to upload it again.",
            upload_id=plan.upload_id,
        )
    logger.info(
        "Upload ID %s of %s was already completed (an earlier try): the object has the file's size and CRC-64 %d; "
        "nothing sent.",
        plan.upload_id,
        plan.target,
        expected,
    )
    return _result(plan, ranges, info.etag, expected, started, already_complete=True)


def _result(
    plan: DistributedPlan,
    ranges: Sequence[RangeResult],
    etag: str,
    crc64: int,
    started: float,
    *,
    already_complete: bool,
) -> UploadResult:
    return UploadResult(
        bucket=plan.bucket,
        key=plan.key,
        etag=etag,
        crc64=crc64,
        size=plan.file_size,
        upload_id=plan.upload_id,
        parts_total=plan.part_count,
        parts_reused=sum(r.parts_reused for r in ranges),
        parts_sent=sum(r.parts_sent for r in ranges),
        bytes_sent=sum(r.bytes_sent for r in ranges),
        bytes_reused=plan.file_size - sum(r.bytes_sent for r in ranges),
        resumed=already_complete or any(r.parts_reused for r in ranges),
        seconds=time.monotonic() - started,
        already_complete=already_complete,
        parts_reused_confirmed=sum(r.parts_reused_confirmed for r in ranges),
    )
