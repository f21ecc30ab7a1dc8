"""
One multipart upload spread over many workers, in three steps that Airflow runs as tasks
(``operators/distributed_upload.py``); this module knows nothing of Airflow.

1. :func:`start_plan` fingerprints the file, plans its parts and part ranges, and initiates ONE
   multipart upload, recording it in a checkpoint store *before* returning. A retried plan task
   finds that record, checks that the file and the plan are the same and that the upload still
   exists (ListParts), and returns the same upload ID: it never starts a second upload.
2. :func:`upload_range` sends the parts of one range with the engine's
   :class:`~airflow_provider_oss.upload.parts.PartSender`: ListParts is the truth, a listed part is
   reused only when its size and CRC-64 match the local bytes (unread when the range's own
   checkpoint confirmed that CRC-64), the rest is sent. A retried map index continues its range
   under the same upload ID; a file that changed since the plan is refused before any part is sent.
3. :func:`~airflow_provider_oss.upload.distributed_complete.complete_plan` checks that OSS holds every planned part with the CRC-64 the range tasks
   confirmed, completes once with the combined CRC-64 (the file's, combined from the ranges') and
   checks the object's. A retried complete whose upload is gone succeeds when the object has the
   file's size and CRC-64 (one HEAD), and fails, naming it, otherwise.

Nothing here aborts an upload except a retried plan that finds its recorded upload made from
another version of the file (as :class:`~airflow_provider_oss.upload.engine.ResumableUploader` does).
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.upload.checkpoint import Checkpoint, CheckpointCorruptError
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.confirmations import ConfirmationRecorder
from airflow_provider_oss.upload.distributed_plan import (
    DistributedPlan,
    PartRange,
    RangePlan,
    RangeResult,
    split_ranges,
)
from airflow_provider_oss.upload.errors import SourceChangedError, SourceFileError, UploadGoneError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.multipart import MultipartUpload, describe_store
from airflow_provider_oss.upload.object_match import options_digest
from airflow_provider_oss.upload.parts import (
    PartOutcome,
    PartSender,
    UploadGone,
    is_no_such_upload,
    usable_listed_parts,
)
from airflow_provider_oss.upload.plan import plan_parts
from airflow_provider_oss.upload.progress import ProgressTracker
from airflow_provider_oss.upload.reader import PartReader
from airflow_provider_oss.upload.recovery import Recovery
from airflow_provider_oss.upload.source import SourceGuard

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import ObjectOptions, PartInfo
    from airflow_provider_oss.upload.api import UploadAPI
    from airflow_provider_oss.upload.stores import CheckpointStore

__all__ = ["check_source", "start_plan", "upload_range"]

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]
log = logging.getLogger(__name__)


# -- 1. plan ---------------------------------------------------------------------------------------


def _plannable_file(path: str, target: str) -> SourceFingerprint:
    """The fingerprint of a regular, non-empty file (a multipart upload needs at least one part)."""
    try:
        fingerprint = SourceFingerprint.of_file(path)
    except SourceFileError as err:
        raise SourceFileError(f"Cannot plan the distributed upload to {target}: {err}") from None
    if fingerprint.size == 0:
        raise SourceFileError(
            f"Cannot plan the distributed upload of {path} to {target}: the file is empty, and a multipart upload "
            "needs at least one part. Upload it with ResumableUploadOperator (one PutObject)."
        )
    return fingerprint


def start_plan(
    client: UploadAPI,
    bucket: str,
    key: str,
    filename: str | os.PathLike[str],
    *,
    store: CheckpointStore,
    part_size: int,
    ranges: int | None = None,
    parts_per_range: int | None = None,
    options: ObjectOptions | None = None,
    logger: LoggerLike = log,
) -> DistributedPlan:
    """
    Plan a distributed upload of ``filename`` to ``oss://bucket/key`` and initiate (or, on a retry,
    find again) its one multipart upload.

    :param client: the OSS calls.
    :param bucket: the bucket.
    :param key: the object key.
    :param filename: the source file, at the same path on every worker (a shared volume).
    :param store: where the plan records its upload (a store that keeps a record, per plan task:
        Airflow's ``task_state_store`` or a file on a shared volume); the record is saved before
        this returns, so a retry finds it.
    :param part_size: the wanted part size (grown to fit 10,000 parts).
    :param ranges: how many range tasks (give this or ``parts_per_range``).
    :param parts_per_range: parts per range task.
    :param options: the object's headers, sent at initiate.
    :param logger: where to log.
    :raises SourceFileError: the file is missing, not a regular file, or empty.
    :raises ValueError: a bad part size or range count, or a store that keeps nothing.
    """
    if not store.keeps_record:
        raise ValueError(
            "A distributed upload's plan needs a checkpoint store that keeps a record (task_state_store or a "
            f"file on a shared volume), so that a retried plan task finds its upload; got {describe_store(store)}."
        )
    path = os.path.abspath(os.fspath(filename))
    target = f"oss://{bucket}/{key}"
    fingerprint = _plannable_file(path, target)
    part_plan = plan_parts(fingerprint.size, part_size)
    cut = tuple(split_ranges(part_plan.part_count, ranges=ranges, parts_per_range=parts_per_range))
    digest = options_digest(options)

    def plan_of(upload_id: str) -> DistributedPlan:
        return DistributedPlan(bucket, key, upload_id, path, part_plan.part_size, fingerprint, digest, cut)

    recovery = Recovery(
        client, bucket, key, path, options=options, store=store, verify_reused_parts=False, logger=logger
    )
    try:
        record = store.load()
    except CheckpointCorruptError as err:
        logger.warning("Ignoring the %s (%s); the plan starts a new upload.", describe_store(store), err)
        record = None
    if record is not None:
        reason = recovery.mismatch(record, part_plan, fingerprint)
        if reason is None and _upload_exists(client, bucket, key, record.upload_id):
            logger.info(
                "Retried plan: continuing upload ID %s of %s (recorded by an earlier try in the %s, started %s); "
                "no second upload is started.",
                record.upload_id,
                target,
                describe_store(store),
                record.created_at,
            )
            return plan_of(record.upload_id)
        if reason is None:
            logger.info(
                "The recorded upload ID %s of %s no longer exists (completed, aborted or removed by a lifecycle "
                "rule): starting a new upload.",
                record.upload_id,
                target,
            )
        elif (record.bucket, record.key) == (bucket, key):
            recovery.upload(record.upload_id).discard(
                f"the plan it was started for no longer holds: {reason}"
            )
        else:
            logger.info("The %s names another object (%s); left alone.", describe_store(store), reason)

    def checkpoint_for(upload_id: str) -> Checkpoint:
        return Checkpoint(
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_size=part_plan.part_size,
            file_size=fingerprint.size,
            fingerprint=fingerprint,
            source_path=path,
            options_digest=digest,
        )

    _, checkpoint = MultipartUpload.start(
        client, checkpoint_for, bucket=bucket, key=key, options=options, store=store, logger=logger
    )
    plan = plan_of(checkpoint.upload_id)
    logger.info(
        "Started multipart upload ID %s of %s (%d bytes) to %s: %s in %d range(s) %s; recorded in the %s.",
        plan.upload_id,
        path,
        fingerprint.size,
        target,
        part_plan.describe(),
        len(cut),
        ", ".join(f"{a}-{b}" for a, b in cut),
        describe_store(store),
    )
    return plan


def _upload_exists(client: UploadAPI, bucket: str, key: str, upload_id: str) -> bool:
    try:
        next(iter(client.list_parts(bucket, key, upload_id)), None)
    except OssNotFoundError as err:
        if is_no_such_upload(err):
            return False
        raise
    return True


# -- 2. one range ----------------------------------------------------------------------------------


def check_source(plan: DistributedPlan, step: str) -> SourceFingerprint:
    """
    Refuse to go on when the source file is not the one the plan fingerprinted; return its
    fingerprint on this worker.

    The ctime counts as content here: the other ranges were read from the file as the plan saw it,
    so a file rewritten in place since (its mtime put back or not) cannot be mended by one range.
    The inode and device may differ (the same file seen from another worker through a shared
    volume): the caller then reads every part it reuses.

    :param plan: the plan.
    :param step: who refuses, for the message (``"range 3"``, ``"the complete task"``).
    :raises SourceChangedError: the file changed (size, mtime, ctime or sampled content) or is gone.
    """
    try:
        now = SourceFingerprint.of_file(plan.filename)
    except SourceFileError as err:
        changes = [str(err)]
    else:
        changes = plan.fingerprint.differences(now)
        if plan.fingerprint.ctime_ns is not None:
            changes += plan.fingerprint.identity_differences(now, ctime_only=True)
    if changes:
        raise SourceChangedError(
            f"{plan.filename} changed since the plan task planned upload ID {plan.upload_id} of {plan.target} "
            f"({'; '.join(changes)}): {step} refuses to go on, so no object mixes old and new bytes. Nothing was "
            "sent. To upload the file as it is now, clear the whole task group: its plan task then starts a new "
            "upload.",
            upload_id=plan.upload_id,
            changes=changes,
        )
    return now


def _range_checkpoint(
    plan: DistributedPlan, rplan: RangePlan, store: CheckpointStore | None, logger: LoggerLike
) -> Checkpoint:
    """The range's record: the one an earlier try of this range left for this upload, else a new one (saved)."""
    fresh = Checkpoint(
        bucket=plan.bucket,
        key=plan.key,
        upload_id=plan.upload_id,
        part_size=plan.part_size,
        file_size=plan.file_size,
        fingerprint=plan.fingerprint,
        source_path=plan.filename,
        options_digest=plan.options_digest,
    )
    if store is None or not store.keeps_record:
        return fresh
    try:
        found = store.load()
    except CheckpointCorruptError as err:
        logger.warning(
            "Ignoring the %s (%s): every listed part is read and CRC-checked.", store.describe(), err
        )
        found = None
    same = found is not None and (
        found.bucket,
        found.key,
        found.upload_id,
        found.part_size,
        found.fingerprint,
    ) == (plan.bucket, plan.key, plan.upload_id, plan.part_size, plan.fingerprint)
    if found is not None and same:
        confirmed = {n: c for n, c in found.confirmed_parts.items() if n in rplan}
        return fresh.with_confirmed(confirmed)
    if found is not None:
        logger.info("The %s is for %s, not this plan: replaced.", store.describe(), found.describe())
    store.save(fresh)
    return fresh


def upload_range(
    client: UploadAPI,
    plan: DistributedPlan,
    part_range: PartRange,
    *,
    config: TransferConfig | None = None,
    store: CheckpointStore | None = None,
    logger: LoggerLike = log,
) -> RangeResult:
    """
    Make OSS hold every part of ``part_range`` for the plan's upload; a retry continues it.

    :param client: the OSS calls (a pool of at least ``config.parallelism``).
    :param plan: the plan (the plan task's XCom, parsed).
    :param part_range: this task's range (one of the plan's).
    :param config: parallelism, bandwidth cap, verification, cadences (its part size is unused: the
        plan's rules).
    :param store: this range's own checkpoint (per map index), or None: then every part that OSS
        lists is read and CRC-checked before it is reused.
    :param logger: where to log.
    :raises DistributedPlanError: the range is not one of the plan's (another upload, plan or part size).
    :raises SourceChangedError: the file changed since the plan (before or while sending).
    :raises UploadGoneError: the upload ID does not exist for this key (completed, aborted, another key's).
    :raises PartUploadError: a part failed after the client's retries.
    """
    started = time.monotonic()
    cfg = config if config is not None else TransferConfig()
    plan.check_range(part_range)
    where = f"range {part_range.index} (parts {part_range.first_part}-{part_range.last_part})"
    local = check_source(plan, where)
    rplan = plan.range_plan(part_range)
    try:
        listed = list(client.list_parts(plan.bucket, plan.key, plan.upload_id))
    except OssNotFoundError as err:
        if not is_no_such_upload(err):
            raise
        raise _gone(plan, where) from err
    # only now, the upload being this key's: the range's record (no record is kept for a foreign upload)
    checkpoint = _range_checkpoint(plan, rplan, store, logger)
    upload = MultipartUpload(client, plan.bucket, plan.key, plan.upload_id, store, logger)
    by_number, _ = usable_listed_parts(listed, rplan)
    odd = sum(1 for p in listed if p.part_number in rplan and p.part_number not in by_number)
    logger.info(
        "Range %d of upload ID %s to %s: %s; %d already in OSS (reused when size and CRC-64 match), %d "
        "confirmed by this range's %s%s.",
        part_range.index,
        plan.upload_id,
        plan.target,
        rplan.describe(),
        len(by_number),
        len(checkpoint.confirmed_parts),
        describe_store(store),
        f"; {odd} listed part(s) of this range have another size or no CRC-64 and are sent again"
        if odd
        else "",
    )
    recorder = (
        ConfirmationRecorder(
            checkpoint,
            upload.save,
            part_count=len(rplan),
            logger=logger,
            interval=cfg.checkpoint_save_interval,
        )
        if upload.keeps_record
        else None
    )
    progress = ProgressTracker(
        rplan.range_size,
        len(rplan),
        label=f"{plan.target} range {part_range.index}",
        logger=logger,
        log_interval=cfg.progress_interval,
    )
    guard = SourceGuard(plan.filename, local, plan.target, "the upload is kept")
    confirmed = {} if cfg.verify_reused_parts else checkpoint.confirmed_parts
    if confirmed and (other := plan.fingerprint.identity_differences(local)):
        logger.info(
            "The file on this worker is not the inode the plan fingerprinted (%s): every part of range %d that "
            "OSS holds is read and CRC-checked before it is reused.",
            ", ".join(other),
            part_range.index,
        )
        confirmed = {}
    try:
        outcomes = _send_range(
            client, plan, rplan, by_number, confirmed, guard, progress, recorder, cfg, logger
        )
    except UploadGone as gone:
        raise _gone(plan, where) from gone
    except BaseException as err:
        if recorder is not None:
            recorder.close(flush=isinstance(err, Exception))  # so that the retry reads less
        raise
    if recorder is not None:
        recorder.close(flush=False)
    upload.forget()  # the range is done; OSS holds its parts, the complete task lists them
    result = RangeResult(
        index=part_range.index,
        first_part=part_range.first_part,
        last_part=part_range.last_part,
        upload_id=plan.upload_id,
        plan_digest=plan.digest,
        crc64=crc.combine_all([(o.crc64, o.part.size) for o in outcomes]),
        size=rplan.range_size,
        parts_sent=progress.parts_sent,
        bytes_sent=progress.bytes_sent,
        parts_reused=progress.parts_reused,
        parts_reused_confirmed=sum(1 for o in outcomes if o.confirmed),
        seconds=time.monotonic() - started,
    )
    logger.info(
        "Range %d of upload ID %s done: %d part(s) sent (%d bytes), %d reused (%d confirmed, not read), "
        "CRC-64 of the range %d, in %.1f s.",
        result.index,
        plan.upload_id,
        result.parts_sent,
        result.bytes_sent,
        result.parts_reused,
        result.parts_reused_confirmed,
        result.crc64,
        result.seconds,
    )
    return result


def _send_range(
    client: UploadAPI,
    plan: DistributedPlan,
    rplan: RangePlan,
    listed: dict[int, PartInfo],
    confirmed: dict[int, int],
    guard: SourceGuard,
    progress: ProgressTracker,
    recorder: ConfirmationRecorder | None,
    cfg: TransferConfig,
    logger: LoggerLike,
) -> list[PartOutcome]:
    def confirm(outcome: PartOutcome) -> None:
        if recorder is not None:
            recorder.confirm(outcome.part.number, outcome.crc64)

    with PartReader(plan.filename) as reader:
        guard.check_quick(reader, plan.upload_id)

        def after_part(outcome: PartOutcome) -> None:
            if not outcome.confirmed:
                guard.check_quick(reader, plan.upload_id)
            confirm(outcome)

        sender = PartSender(
            client,
            plan.bucket,
            plan.key,
            plan.upload_id,
            plan.filename,
            parallelism=cfg.parallelism,
            traffic_limit=cfg.traffic_limit,
            logger=logger,
        )
        outcomes = sender.run(rplan, listed, reader, progress, after_part, confirmed, on_late_part=confirm)
        guard.check_full(reader, plan.upload_id)
    progress.finish()
    return outcomes


def _gone(plan: DistributedPlan, who: str) -> UploadGoneError:
    return UploadGoneError(
        f"Upload ID {plan.upload_id} does not exist for {plan.target} (it was completed or aborted, or it is "
        f"another key's upload): {who} cannot continue it. If the object is complete there is nothing left to "
        "do; otherwise clear the whole task group, so that its plan task starts a new upload.",
        upload_id=plan.upload_id,
    )
