"""
:class:`MultipartAttempt`: one try's work on one multipart upload, once the engine has decided
which upload to continue: send the parts OSS does not have, check that the file did not change,
complete with the combined CRC-64, and apply the failure policy when anything goes wrong.

:class:`~airflow_provider_oss.upload.engine.ResumableUploader` decides (single PutObject, fresh
upload, resume, already complete); this module carries one decision out. Each CRC-64 check lives
once: a part's in :class:`~airflow_provider_oss.upload.parts.PartSender`, the object's in
:meth:`~airflow_provider_oss.upload.multipart.MultipartUpload.complete`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.callback import decode_answer
from airflow_provider_oss.core.errors import CallbackFailedError, OssPreconditionError
from airflow_provider_oss.upload.checkpoint import CompletedMark
from airflow_provider_oss.upload.confirmations import ConfirmationRecorder
from airflow_provider_oss.upload.parts import PartOutcome, PartSender, UploadGone
from airflow_provider_oss.upload.result import UploadResult

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import PartInfo
    from airflow_provider_oss.upload.checkpoint import Checkpoint
    from airflow_provider_oss.upload.engine import ResumableUploader
    from airflow_provider_oss.upload.fingerprint import SourceFingerprint
    from airflow_provider_oss.upload.multipart import MultipartUpload
    from airflow_provider_oss.upload.plan import PartPlan
    from airflow_provider_oss.upload.progress import ProgressTracker

__all__ = ["MultipartAttempt"]


class MultipartAttempt:
    """
    Send the missing parts of ``upload`` and complete it, or fail by the uploader's policy.

    :param uploader: the engine whose settings (client, target, file, config, replace, callback,
        logger, recovery) this try uses.
    :param upload: the multipart upload this try continues or started.
    :param plan: the file's part plan.
    :param fingerprint: the file as the try found it; any change fails the try before completing.
    :param checkpoint: the upload's record (confirmations are added to it as parts are acknowledged).
    """

    def __init__(
        self,
        uploader: ResumableUploader,
        upload: MultipartUpload,
        plan: PartPlan,
        fingerprint: SourceFingerprint,
        checkpoint: Checkpoint,
    ) -> None:
        assert upload.upload_id is not None
        self.uploader = uploader
        self.upload = upload
        self.upload_id: str = upload.upload_id
        self.plan = plan
        self.fingerprint = fingerprint
        self.checkpoint = checkpoint
        self.progress: ProgressTracker = uploader.progress_tracker(plan.file_size, plan.part_count)
        self.recorder = (
            ConfirmationRecorder(
                checkpoint,
                upload.save,
                part_count=plan.part_count,
                logger=uploader.logger,
                interval=uploader.config.checkpoint_save_interval,
            )
            if upload.keeps_record
            else None  # nothing stored (discovery): nothing to record confirmations in
        )

    def run(self, listed: dict[int, PartInfo]) -> UploadResult:
        """
        Send every planned part that ``listed`` (the parts OSS has, by number) does not already
        hold with the local bytes, then complete.

        :param listed: the usable parts ListParts returned (empty for a fresh upload).
        """
        expected: int | None = None
        try:
            outcomes = self._send_parts(listed)
            if self.recorder is not None:
                # Every part's CRC-64 is saved before completing: a try killed between completing and
                # deleting the checkpoint leaves a retry that checks the object without reading the file.
                self.recorder.close(flush=True)
            expected = crc.combine_all([(o.crc64, o.part.size) for o in outcomes])
            etag, object_crc = self._complete(outcomes, expected)
        except CallbackFailedError as err:
            self._stored_but_callback_failed(err, expected)
            raise
        except UploadGone as gone:
            if self.recorder is not None:
                self.recorder.close(flush=False)
            info = self.uploader.recovery.after_upload_gone(
                self.upload, gone.where, self.fingerprint, expected
            )
            return self._result(info.etag, info.crc64, info.size, already_complete=True)
        except BaseException as err:
            if self.recorder is not None:
                self.recorder.close(flush=isinstance(err, Exception))  # so that the retry reads less
            self._fail(err)
            raise
        self.upload.finish(self.checkpoint, self._mark(etag, object_crc))
        self.progress.finish()
        result = self._result(etag, object_crc, self.plan.file_size)
        result.callback_response = decode_answer(self.upload.callback_response)
        result.parts_reused_confirmed = sum(1 for o in outcomes if o.confirmed)
        result.log_completion(
            self.uploader.logger, resends=sum(o.sends for o in outcomes if not o.reused) - result.parts_sent
        )
        return result

    def _send_parts(self, listed: dict[int, PartInfo]) -> list[PartOutcome]:
        """Send the parts; the file is checked quickly around each part and fully at the end."""
        uploader = self.uploader
        config = uploader.config
        guard = uploader.source_guard(self.fingerprint)
        confirmed = {} if config.verify_reused_parts else self.checkpoint.confirmed_parts
        with guard.open() as reader:
            guard.check_quick(reader, self.upload_id)
            sender = PartSender(
                uploader.client,
                uploader.bucket,
                uploader.key,
                self.upload_id,
                uploader.filename,
                parallelism=config.parallelism,
                traffic_limit=config.traffic_limit,
                logger=uploader.logger,
            )

            def after_part(outcome: PartOutcome) -> None:
                if not outcome.confirmed:  # a confirmed part read nothing; the end checks the file anyway
                    guard.check_quick(reader, self.upload_id)
                self._confirm(outcome)

            outcomes = sender.run(
                self.plan,
                listed,
                reader,
                self.progress,
                after_part,
                confirmed,
                on_late_part=self._confirm,
                # nothing names the upload but its parts (discover mode): make it hold one soon
                first_part_alone=uploader.checkpoint_store is not None
                and not uploader.checkpoint_store.keeps_record,
            )
            guard.check_full(reader, self.upload_id)
        return outcomes

    def _confirm(self, outcome: PartOutcome) -> None:
        if self.recorder is not None:
            self.recorder.confirm(outcome.part.number, outcome.crc64)

    def _complete(self, outcomes: list[PartOutcome], expected: int) -> tuple[str, int]:
        """Complete the upload; an object someone else wrote meanwhile is judged by recovery."""
        uploader = self.uploader
        try:
            return self.upload.complete(
                [(o.part.number, o.etag) for o in outcomes],
                expected_crc64=expected,
                expected_size=self.plan.file_size,
                replace=uploader.replace,
                callback=uploader.callback,
            )
        except OssPreconditionError as err:
            if err.code != "FileAlreadyExists":
                raise
            size = sum(o.part.size for o in outcomes)
            info = uploader.recovery.appeared_during_upload(self.upload, expected, size, err)
            return info.etag, expected

    def _result(
        self, etag: str, crc64: int | None, size: int, *, already_complete: bool = False
    ) -> UploadResult:
        uploader = self.uploader
        return UploadResult.of_multipart(
            uploader.bucket,
            uploader.key,
            etag=etag,
            crc64=crc64,
            size=size,
            upload_id=self.upload_id,
            parts_total=self.plan.part_count,
            progress=self.progress,
            seconds=uploader.elapsed(),
            already_complete=already_complete,
        )

    def _mark(self, etag: str, crc64: int) -> CompletedMark | None:
        return CompletedMark.for_retention(etag, crc64, self.uploader.config.completed_retention)

    def _stored_but_callback_failed(self, err: CallbackFailedError, expected: int | None) -> None:
        """
        OSS answered 203: the object IS stored. Mark the checkpoint completed, so that a retry sends
        nothing (and so never fires the callback again); the caller then raises ``err``.
        """
        if self.recorder is not None:
            self.recorder.close(flush=False)
        stored_crc = err.crc64 if err.crc64 is not None else expected
        if stored_crc is not None:
            self.upload.finish(self.checkpoint, self._mark(err.etag, stored_crc))

    def _fail(self, err: BaseException) -> None:
        """The failure policy: keep the upload for the next try, or abort it when none can follow."""
        uploader = self.uploader
        abort = None
        if uploader.abort_on_failure or uploader.checkpoint_store is None:
            why = (
                "abort_on_failure=True"
                if uploader.abort_on_failure
                else "no checkpoint store could resume it"
            )
            abort = f"the upload failed and {why}"
        self.upload.fail(err, abort=abort, conn_id=uploader.conn_id)
