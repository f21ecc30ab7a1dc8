"""
:class:`ResumableUploader`: a parallel multipart upload that a new process continues after a crash.

A fresh run plans the parts, initiates the upload and saves a checkpoint *before sending any part*,
then sends ``parallelism`` parts at a time, each read straight from the file into one of
``parallelism`` reusable buffers and checked with CRC-64 against OSS's answer. Before completing,
it checks that the file did not change; it completes with the combined CRC-64 of the parts, checks
the object's CRC-64, then deletes the checkpoint.

A run that finds a checkpoint asks OSS which parts exist (ListParts: the server is the truth),
reuses each one whose size and CRC-64 match the local bytes, and sends the rest. When the
checkpoint cannot be used (upload gone, file changed, part size or options changed, unreadable
record), :class:`~airflow_provider_oss.upload.recovery.Recovery` first checks whether the object in
OSS already equals the file (an earlier try may have completed it), else aborts the stale upload and
starts clean.

Failures keep the upload and its checkpoint for the next try unless ``abort_on_failure`` is set
(which the Airflow layer passes on the final try only). Memory stays near
``parallelism * part_size``. The only code that aborts an upload or deletes a checkpoint is
:class:`~airflow_provider_oss.upload.multipart.MultipartUpload`; the client calls the engine makes
are declared by :class:`~airflow_provider_oss.upload.api.UploadAPI`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.callback import UploadCallback, decode_answer
from airflow_provider_oss.core.errors import CallbackFailedError, OssNotFoundError, OssPreconditionError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.upload.checkpoint import Checkpoint, CheckpointCorruptError, CompletedMark
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.confirmations import ConfirmationRecorder
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
from airflow_provider_oss.upload.plan import PartPlan, plan_parts
from airflow_provider_oss.upload.progress import ProgressEvent, ProgressTracker
from airflow_provider_oss.upload.reader import PartReader
from airflow_provider_oss.upload.recovery import Recovery
from airflow_provider_oss.upload.result import UploadResult
from airflow_provider_oss.upload.single import put_whole_file
from airflow_provider_oss.upload.source import SourceGuard

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import ObjectInfo, PartInfo
    from airflow_provider_oss.upload.api import UploadAPI
    from airflow_provider_oss.upload.stores import CheckpointStore

__all__ = ["ResumableUploader", "options_digest"]

log = logging.getLogger(__name__)

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


class ResumableUploader:
    """
    Upload one local file to ``oss://bucket/key``; a new instance in a new process, given the same
    checkpoint store, continues the same multipart upload and sends only the missing parts.

    :param client: the OSS calls (an :class:`~airflow_provider_oss.core.client.OssClient`, thread-safe;
        build it with ``pool_size >= parallelism``, see :attr:`TransferConfig.pool_size`). The client
        retries transient errors itself; this class adds no retries on top except one re-send of a
        part whose CRC-64 OSS reported differently.
    :param bucket: the destination bucket.
    :param key: the destination object key.
    :param filename: the local file.
    :param config: the transfer's tunables (part size, parallelism, threshold, bandwidth,
        verification and cadences), validated when it was built.
    :param checkpoint_store: where the checkpoint lives; None disables resuming (a failed run then
        aborts its upload, since no later run could find it).
    :param object_options: object headers sent with InitiateMultipartUpload / PutObject.
    :param replace: when False and the object exists, raise :class:`ObjectExistsError` before
        uploading (unless an earlier try of this same upload, per the checkpoint, created it from
        this very file). The final PutObject or CompleteMultipartUpload also carries
        ``x-oss-forbid-overwrite``, so an object written by someone else during the upload is never
        replaced: the upload is then aborted and :class:`ObjectExistsError` raised (unless that
        object is this very file).
    :param abort_on_failure: when True, a failure aborts the multipart upload and deletes the
        checkpoint. Pass it only when no retry will follow.
    :param progress_callback: called with a :class:`ProgressEvent` after every part, from the
        thread that called :meth:`run`; an exception it raises fails the run.
    :param logger: where to log (default: this module's logger).
    :param conn_id: the Airflow connection the client came from, named in the command that aborts
        an upload kept after a failure (None outside Airflow).
    :param callback: OSS's upload callback, sent with the PutObject or the CompleteMultipartUpload
        that creates the object; the result's ``callback_response`` is the callback server's answer.
        With a callback every non-empty file goes up as a multipart upload (one part below the
        threshold): a repeated CompleteMultipartUpload meets ``NoSuchUpload`` and fires nothing, where
        a repeated PutObject (a lost answer, a retried try) would store the object and fire again.
        A run that finds the object already complete (an earlier try completed it) sends nothing,
        so it never fires the callback a second time. When OSS answers 203 (object stored, callback
        failed) the checkpoint is marked completed and :class:`CallbackFailedError` raised.
    """

    def __init__(
        self,
        client: UploadAPI,
        bucket: str,
        key: str,
        filename: str | os.PathLike[str],
        *,
        config: TransferConfig | None = None,
        checkpoint_store: CheckpointStore | None = None,
        object_options: ObjectOptions | None = None,
        replace: bool = True,
        abort_on_failure: bool = False,
        progress_callback: Callable[[ProgressEvent], None] | None = None,
        logger: LoggerLike | None = None,
        conn_id: str | None = None,
        callback: UploadCallback | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("bucket must not be empty.")
        if not key:
            raise ValueError("key must not be empty.")
        if object_options is not None and object_options.traffic_limit is not None:
            raise ValueError(
                "Give the bandwidth cap as TransferConfig(traffic_limit=...), not in ObjectOptions: it shapes "
                "the transfer (every part), not the object."
            )
        self.client = client
        self.bucket = bucket
        self.key = key
        self.filename = os.path.abspath(os.fspath(filename))
        self.config = config if config is not None else TransferConfig()
        self.checkpoint_store = checkpoint_store
        self.object_options = object_options
        self.replace = replace
        self.abort_on_failure = abort_on_failure
        self.progress_callback = progress_callback
        self.logger: LoggerLike = logger or log
        self.conn_id = conn_id
        self.callback = callback
        self.recovery = Recovery(
            client,
            bucket,
            key,
            self.filename,
            options=object_options,
            store=checkpoint_store,
            verify_reused_parts=self.config.verify_reused_parts,
            logger=self.logger,
        )
        self._upload: MultipartUpload | None = None
        self._started = 0.0
        self.config.check_pool_size(client.config.pool_size, self.logger)

    def __repr__(self) -> str:
        return (
            f"ResumableUploader(bucket={self.bucket!r}, key={self.key!r}, filename={self.filename!r}, "
            f"part_size={self.config.part_size}, parallelism={self.config.parallelism})"
        )

    @property
    def target(self) -> str:
        """``oss://bucket/key``."""
        return f"oss://{self.bucket}/{self.key}"

    @property
    def _upload_id(self) -> str | None:
        return self._upload.upload_id if self._upload is not None else None

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> UploadResult:  # noqa: C901, PLR0911, PLR0912  # the top-level decision list (done, reuse, adopt, restart), read in order
        """
        Upload the file (continuing the checkpointed upload when there is a usable one).

        :raises SourceFileError: the file is missing or not a regular file.
        :raises ObjectExistsError: ``replace=False`` and the object exists.
        :raises SourceChangedError: the file changed during the upload (nothing was completed).
        :raises PartUploadError: a part failed after the client's retries (its cause attached).
        :raises CrcMismatchError: OSS's CRC-64 of a part (twice) or of the object differs from the local one.
        :raises UploadGoneError: the upload vanished mid-run and the object in OSS is not this file.
        """
        self._started = time.monotonic()
        self._upload = None
        fingerprint = SourceFingerprint.of_file(self.filename)
        checkpoint, corrupt = self._load_checkpoint()
        if checkpoint is not None and checkpoint.completed is not None:
            info = self.recovery.completed_object(checkpoint, fingerprint)
            if info is not None:
                return self._already_complete(info, checkpoint.upload_id)
            checkpoint = None  # the mark no longer holds: its record was deleted, start as new
        if checkpoint is not None and checkpoint.bucket != self.bucket:
            self.recovery.note_foreign_bucket(checkpoint)
        if not self.replace:
            info = self.recovery.enforce_no_replace(fingerprint, checkpoint)
            if info is not None:
                return self._already_complete(info, checkpoint.upload_id if checkpoint else None)
        size = fingerprint.size
        if size == 0 or (size < self.config.threshold and self.callback is None):
            if checkpoint is not None or corrupt is not None:
                self.recovery.discard_stale(
                    checkpoint,
                    corrupt,
                    f"the file ({size} bytes) is below multipart_threshold and goes up in one PutObject",
                )
            return self._put_single(fingerprint)
        plan = plan_parts(size, self.config.part_size)
        if checkpoint is not None:
            reason = self.recovery.mismatch(checkpoint, plan, fingerprint)
            if reason is None:
                return self._resume(checkpoint, plan, fingerprint)
            info = self.recovery.stale(reason, fingerprint, checkpoint=checkpoint)
            if info is not None:
                return self._already_complete(info, checkpoint.upload_id)
        elif corrupt is not None:
            adopted = self.recovery.adopt_after_damage(corrupt, plan, fingerprint, self._options_digest())
            if adopted is not None:
                return self._resume(adopted, plan, fingerprint)
        if checkpoint is None:
            # No usable record: a re-run of a task whose upload completed (its mark expired or was
            # never kept), or a try killed between completing and saving. One HEAD tells.
            info = self.recovery.match.existing_object_is_file(fingerprint)
            if info is not None:
                return self._already_complete(info, None)
        return self._fresh(plan, fingerprint)

    def _options_digest(self) -> str:
        return options_digest(self.object_options)

    def _load_checkpoint(self) -> tuple[Checkpoint | None, CheckpointCorruptError | None]:
        if self.checkpoint_store is None:
            return None, None
        try:
            return self.checkpoint_store.load(), None
        except CheckpointCorruptError as err:
            self.logger.warning("Ignoring the %s: %s.", describe_store(self.checkpoint_store), err)
            return None, err

    def _guard(self, fingerprint: SourceFingerprint) -> SourceGuard:
        kept = (
            "it is aborted"
            if self.abort_on_failure or self.checkpoint_store is None
            else "the next try sees that the checkpoint no longer matches the file and starts clean"
        )
        return SourceGuard(self.filename, fingerprint, self.target, kept)

    # -- results ---------------------------------------------------------------------------------

    def _seconds(self) -> float:
        return time.monotonic() - self._started

    def _already_complete(self, info: ObjectInfo, upload_id: str | None) -> UploadResult:
        if self.callback is not None:
            self.logger.info(
                "%s was already complete: nothing is sent, so the upload callback to %s is not fired again "
                "(callback_response is None).",
                self.target,
                self.callback.describe(),
            )
        return UploadResult.of_existing_object(self.bucket, self.key, info, upload_id, self._seconds())

    def _progress(self, total: int, parts: int) -> ProgressTracker:
        return ProgressTracker(
            total,
            parts,
            label=self.target,
            logger=self.logger,
            callback=self.progress_callback,
            log_interval=self.config.progress_interval,
        )

    # -- single PutObject ------------------------------------------------------------------------

    def _put_single(self, fingerprint: SourceFingerprint) -> UploadResult:
        progress = self._progress(fingerprint.size, 1)
        answers: list[bytes] = []
        etag, local_crc = put_whole_file(
            self.client,
            self.bucket,
            self.key,
            self._guard(fingerprint),
            options=self.object_options,
            traffic_limit=self.config.traffic_limit,
            replace=self.replace,
            logger=self.logger,
            callback=self.callback,
            answers=answers,
        )
        progress.part_done(1, fingerprint.size)
        progress.finish()
        result = UploadResult.of_single_put(
            self.bucket, self.key, etag=etag, crc64=local_crc, size=fingerprint.size, seconds=self._seconds()
        )
        result.callback_response = decode_answer(answers[0]) if answers else None
        return result

    # -- multipart -------------------------------------------------------------------------------

    def _fresh(self, plan: PartPlan, fingerprint: SourceFingerprint) -> UploadResult:
        def checkpoint_for(upload_id: str) -> Checkpoint:
            return Checkpoint(
                bucket=self.bucket,
                key=self.key,
                upload_id=upload_id,
                part_size=plan.part_size,
                file_size=plan.file_size,
                fingerprint=fingerprint,
                source_path=self.filename,
                options_digest=self._options_digest(),
            )

        self._upload, checkpoint = MultipartUpload.start(
            self.client,
            checkpoint_for,
            bucket=self.bucket,
            key=self.key,
            options=self.object_options,
            store=self.checkpoint_store,
            logger=self.logger,
        )
        self.logger.info(
            "Started multipart upload ID %s of %s (%d bytes) to %s: %s, %d in parallel; checkpoint: %s.",
            checkpoint.upload_id,
            self.filename,
            plan.file_size,
            self.target,
            plan.describe(),
            self.config.parallelism,
            describe_store(self.checkpoint_store),
        )
        if self.checkpoint_store is None:
            self.logger.info("No checkpoint store: a failed run cannot be resumed and aborts its upload.")
        return self._send(plan, fingerprint, {}, checkpoint, resumed=False)

    def _resume(self, checkpoint: Checkpoint, plan: PartPlan, fingerprint: SourceFingerprint) -> UploadResult:
        upload_id = checkpoint.upload_id
        try:
            listed = list(self.client.list_parts(self.bucket, self.key, upload_id))
        except OssNotFoundError as err:
            if not is_no_such_upload(err):
                raise
            info = self.recovery.stale(
                f"upload ID {upload_id} no longer exists in OSS (aborted, removed by a lifecycle rule, or "
                "completed by an earlier try)",
                fingerprint,
                checkpoint=checkpoint,
                upload_exists=False,
                expected_crc=self.recovery.confirmed_file_crc(checkpoint, plan),
            )
            if info is not None:
                return self._already_complete(info, upload_id)
            return self._fresh(plan, fingerprint)
        self._upload = self.recovery.upload(upload_id)
        by_number, odd = usable_listed_parts(listed, plan)
        have_bytes = sum(p.size for p in by_number.values())
        self.logger.info(
            "Resuming upload ID %s of %s to %s (checkpoint: %s, started %s): %d of %d parts (%d of %d bytes) "
            "already in OSS, each reused when its CRC-64 is the one the checkpoint confirmed or matches the "
            "local bytes; sending %d part(s) (%d bytes).",
            upload_id,
            self.filename,
            self.target,
            describe_store(self.checkpoint_store),
            checkpoint.created_at,
            len(by_number),
            plan.part_count,
            have_bytes,
            plan.file_size,
            plan.part_count - len(by_number),
            plan.file_size - have_bytes,
        )
        if odd:
            self.logger.info(
                "%d listed part(s) are outside the plan, of another size, or without a CRC-64: they are sent again.",
                odd,
            )
        return self._send(plan, fingerprint, by_number, checkpoint, resumed=True)

    def _send(  # noqa: C901, PLR0915  # send, then complete or fail: the failure policy reads in one place
        self,
        plan: PartPlan,
        fingerprint: SourceFingerprint,
        listed: dict[int, PartInfo],
        checkpoint: Checkpoint,
        *,
        resumed: bool,
    ) -> UploadResult:
        upload = self._upload
        assert upload is not None and upload.upload_id is not None
        progress = self._progress(plan.file_size, plan.part_count)
        outcomes: list[PartOutcome] = []
        expected: int | None = None
        recorder = (
            ConfirmationRecorder(
                checkpoint,
                upload.save,
                part_count=plan.part_count,
                logger=self.logger,
                interval=self.config.checkpoint_save_interval,
            )
            if upload.keeps_record
            else None  # nothing stored (discovery): nothing to record confirmations in
        )
        confirmed = {} if self.config.verify_reused_parts else checkpoint.confirmed_parts
        guard = self._guard(fingerprint)

        def result_of(
            etag: str, crc64: int | None, size: int, *, already_complete: bool = False
        ) -> UploadResult:
            return UploadResult.of_multipart(
                self.bucket,
                self.key,
                etag=etag,
                crc64=crc64,
                size=size,
                upload_id=upload.upload_id or "",
                parts_total=plan.part_count,
                progress=progress,
                resumed=resumed,
                seconds=self._seconds(),
                already_complete=already_complete,
            )

        try:
            with PartReader(self.filename) as reader:
                guard.check_quick(reader, upload.upload_id)
                sender = PartSender(
                    self.client,
                    self.bucket,
                    self.key,
                    upload.upload_id,
                    self.filename,
                    parallelism=self.config.parallelism,
                    traffic_limit=self.config.traffic_limit,
                    logger=self.logger,
                )

                def confirm(outcome: PartOutcome) -> None:
                    if recorder is not None:
                        recorder.confirm(outcome.part.number, outcome.crc64)

                def after_part(outcome: PartOutcome) -> None:
                    if not outcome.confirmed:  # a confirmed part read nothing; the end checks the file anyway
                        guard.check_quick(reader, upload.upload_id)
                    confirm(outcome)

                outcomes = sender.run(
                    plan, listed, reader, progress, after_part, confirmed, on_late_part=confirm
                )
                guard.check_full(reader, upload.upload_id)
            if recorder is not None:
                # Every part's CRC-64 is saved before completing: a try killed between completing and
                # deleting the checkpoint leaves a retry that checks the object without reading the file.
                recorder.close(flush=True)
            expected = crc.combine_all([(o.crc64, o.part.size) for o in outcomes])
            try:
                etag, object_crc = upload.complete(
                    [(o.part.number, o.etag) for o in outcomes],
                    expected_crc64=expected,
                    expected_size=plan.file_size,
                    replace=self.replace,
                    callback=self.callback,
                )
            except OssPreconditionError as err:
                if err.code != "FileAlreadyExists":
                    raise
                size = sum(o.part.size for o in outcomes)
                info = self.recovery.appeared_during_upload(upload, expected, size, err)
                etag, object_crc = info.etag, expected
        except CallbackFailedError as err:
            self._stored_but_callback_failed(err, recorder, upload, checkpoint, expected)
            raise
        except UploadGone as gone:
            if recorder is not None:
                recorder.close(flush=False)
            info = self.recovery.after_upload_gone(upload, gone.where, fingerprint, expected)
            return result_of(info.etag, info.crc64, info.size, already_complete=True)
        except BaseException as err:
            if recorder is not None:
                recorder.close(flush=isinstance(err, Exception))  # so that the retry reads less
            self._on_failure(err)
            raise
        upload.finish(checkpoint, self._completed_mark(etag, object_crc))
        progress.finish()
        result = result_of(etag, object_crc, plan.file_size)
        result.callback_response = decode_answer(upload.callback_response)
        result.parts_reused_confirmed = sum(1 for o in outcomes if o.confirmed)
        result.log_completion(
            self.logger, resends=sum(o.sends for o in outcomes if not o.reused) - result.parts_sent
        )
        return result

    def _stored_but_callback_failed(
        self,
        err: CallbackFailedError,
        recorder: ConfirmationRecorder | None,
        upload: MultipartUpload,
        checkpoint: Checkpoint,
        expected: int | None,
    ) -> None:
        """
        OSS answered 203: the object IS stored. Mark the checkpoint completed, so that a retry sends
        nothing (and so never fires the callback again); the caller then raises ``err``.
        """
        if recorder is not None:
            recorder.close(flush=False)
        stored_crc = err.crc64 if err.crc64 is not None else expected
        if stored_crc is not None:
            upload.finish(checkpoint, self._completed_mark(err.etag, stored_crc))

    def _completed_mark(self, etag: str, crc64: int) -> CompletedMark | None:
        """The mark a completed upload leaves in its record for ``completed_retention`` (None: none)."""
        retention = self.config.completed_retention
        if not retention:
            return None
        now = datetime.now(timezone.utc)
        return CompletedMark(
            crc64=crc64,
            etag=etag,
            at=now.isoformat(timespec="seconds"),
            until=(now + timedelta(seconds=retention)).isoformat(timespec="seconds"),
        )

    def _on_failure(self, err: BaseException) -> None:
        if self._upload is None:
            return
        abort = None
        if self.abort_on_failure or self.checkpoint_store is None:
            why = "abort_on_failure=True" if self.abort_on_failure else "no checkpoint store could resume it"
            abort = f"the upload failed and {why}"
        self._upload.fail(err, abort=abort, conn_id=self.conn_id)
