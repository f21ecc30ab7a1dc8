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
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.callback import UploadCallback, decode_answer
from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.upload.attempt import MultipartAttempt
from airflow_provider_oss.upload.checkpoint import Checkpoint, CheckpointCorruptError
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.multipart import MultipartUpload, describe_store
from airflow_provider_oss.upload.object_match import options_digest
from airflow_provider_oss.upload.parts import (
    is_no_such_upload,
    usable_listed_parts,
)
from airflow_provider_oss.upload.plan import PartPlan, plan_parts
from airflow_provider_oss.upload.progress import ProgressEvent, ProgressTracker
from airflow_provider_oss.upload.recovery import Recovery
from airflow_provider_oss.upload.result import UploadResult
from airflow_provider_oss.upload.single import put_whole_file
from airflow_provider_oss.upload.source import SourceGuard

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import ObjectInfo
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
    :param source_opener: opens the file for reading the bytes that are sent and returns a read-only
        descriptor (each part is read through one such descriptor; the fingerprint and the checks
        of the path still use ``filename``). None: ``os.open(filename)``. The folder upload passes
        one that opens the file inside the folder without following links.
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
        source_opener: Callable[[], int] | None = None,
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
        self.source_opener = source_opener
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

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> UploadResult:
        """
        Upload the file (continuing the checkpointed upload when there is a usable one).

        The result's ``uploads_left_in_progress`` names the in-progress uploads of the key that a
        look at OSS's list (discover mode, a damaged record) left alone; each is also logged with
        the command that aborts it.

        :raises SourceFileError: the file is missing or not a regular file.
        :raises ObjectExistsError: ``replace=False`` and the object exists.
        :raises SourceChangedError: the file changed during the upload (nothing was completed).
        :raises PartUploadError: a part failed after the client's retries (its cause attached).
        :raises CrcMismatchError: OSS's CRC-64 of a part (twice) or of the object differs from the local one.
        :raises UploadGoneError: the upload vanished mid-run and the object in OSS is not this file.
        """
        self.recovery.left_in_progress = ()
        try:
            result = self._decide_and_run()
        finally:
            left = self._report_left_in_progress()
        result.uploads_left_in_progress = left
        return result

    def _report_left_in_progress(self) -> list[str]:
        """Log each in-progress upload of the key this run left alone, with its abort command; their IDs."""
        left = list(self.recovery.left_in_progress)
        if isinstance(self.checkpoint_store, UploadDiscoveryStore):
            left += self.checkpoint_store.left_in_progress
        conn = f"--conn-id {self.conn_id} " if self.conn_id else ""
        for upload in left:
            self.logger.warning(
                "Upload ID %s of %s is left in progress (%s): this run neither continued nor aborted it (it "
                "may be another writer's). If it is abandoned (for example a try killed before its first part was "
                "stored), abort it with: oss-uploads %sabort %s %s; until then its parts are billed as storage.",
                upload.upload_id,
                self.target,
                upload.why,
                conn,
                self.target,
                upload.upload_id,
            )
        return [upload.upload_id for upload in left]

    def _decide_and_run(self) -> UploadResult:  # noqa: C901, PLR0911, PLR0912  # the top-level decision list (done, reuse, adopt, restart), read in order
        """:meth:`run`'s decisions: already complete, single PutObject, resume, adopt or start fresh."""
        self._started = time.monotonic()
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

    def source_guard(self, fingerprint: SourceFingerprint) -> SourceGuard:
        """The guard that fails the run when the file changes (its message says what becomes of the upload)."""
        kept = (
            "it is aborted"
            if self.abort_on_failure or self.checkpoint_store is None
            else "the next try sees that the checkpoint no longer matches the file and starts clean"
        )
        return SourceGuard(self.filename, fingerprint, self.target, kept, self.source_opener)

    # -- results ---------------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since :meth:`run` started."""
        return time.monotonic() - self._started

    def _already_complete(self, info: ObjectInfo, upload_id: str | None) -> UploadResult:
        if self.callback is not None:
            self.logger.info(
                "%s was already complete: nothing is sent, so the upload callback to %s is not fired again "
                "(callback_response is None).",
                self.target,
                self.callback.describe(),
            )
        return UploadResult.of_existing_object(self.bucket, self.key, info, upload_id, self.elapsed())

    def progress_tracker(self, total: int, parts: int) -> ProgressTracker:
        """A progress tracker that logs and calls ``progress_callback`` at the configured cadence."""
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
        progress = self.progress_tracker(fingerprint.size, 1)
        answers: list[bytes] = []
        etag, local_crc = put_whole_file(
            self.client,
            self.bucket,
            self.key,
            self.source_guard(fingerprint),
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
            self.bucket, self.key, etag=etag, crc64=local_crc, size=fingerprint.size, seconds=self.elapsed()
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

        upload, checkpoint = MultipartUpload.start(
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
        return MultipartAttempt(self, upload, plan, fingerprint, checkpoint).run({})

    def _resume(self, checkpoint: Checkpoint, plan: PartPlan, fingerprint: SourceFingerprint) -> UploadResult:
        checkpoint = self.recovery.identity_checked(checkpoint, fingerprint)
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
        upload = self.recovery.upload(upload_id)
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
        return MultipartAttempt(self, upload, plan, fingerprint, checkpoint).run(by_number)
