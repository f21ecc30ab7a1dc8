"""
:class:`MultipartUpload`: one multipart upload's life, from its upload ID and checkpoint to its
completion, abort or hand-over to a retry.

It is the only code that aborts an upload (:meth:`MultipartUpload.abort`) or deletes a checkpoint
(:meth:`MultipartUpload.forget`), so every decision to destroy work is visible in one place: the
engine and the recovery only decide *when*.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.errors import CrcMismatchError, OssError, OssNotFoundError
from airflow_provider_oss.upload.checkpoint import Checkpoint, CheckpointCorruptError, CompletedMark
from airflow_provider_oss.upload.integrity import verify_object_crc
from airflow_provider_oss.upload.parts import UploadGone, is_no_such_upload

if TYPE_CHECKING:
    from airflow_provider_oss.core.callback import UploadCallback
    from airflow_provider_oss.core.models import ObjectOptions
    from airflow_provider_oss.upload.api import UploadAPI
    from airflow_provider_oss.upload.stores import CheckpointStore

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


def describe_store(store: CheckpointStore | None) -> str:
    """How logs name ``store`` (``no checkpoint store`` for None)."""
    return store.describe() if store is not None else "no checkpoint store"


class MultipartUpload:
    """
    One multipart upload of ``oss://bucket/key`` and the checkpoint that names it.

    :param client: the OSS calls.
    :param bucket: the bucket.
    :param key: the object key the upload belongs to.
    :param upload_id: the upload ID; None for a checkpoint whose record no longer names one (then
        :meth:`abort` has nothing to abort and :meth:`forget` deletes the record unconditionally).
    :param store: where its checkpoint lives (None: nowhere).
    :param logger: where to log.
    """

    def __init__(
        self,
        client: UploadAPI,
        bucket: str,
        key: str,
        upload_id: str | None,
        store: CheckpointStore | None,
        logger: LoggerLike,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.store = store
        self.logger = logger
        #: Set once :meth:`abort` was tried: nothing is left for a retry, so a failure must not abort again.
        self.aborted = False
        #: The callback server's answer that OSS relayed at :meth:`complete` (None: no callback, or unknown).
        self.callback_response: bytes | None = None

    def __repr__(self) -> str:
        return f"MultipartUpload(oss://{self.bucket}/{self.key}, upload_id={self.upload_id!r})"

    @classmethod
    def start(
        cls,
        client: UploadAPI,
        checkpoint_for: Callable[[str], Checkpoint],
        *,
        bucket: str,
        key: str,
        options: ObjectOptions | None,
        store: CheckpointStore | None,
        logger: LoggerLike,
    ) -> tuple[MultipartUpload, Checkpoint]:
        """
        Initiate an upload and save its checkpoint before any part is sent; when the save fails, the
        upload is aborted (no later run could find it) and the error raised.

        :param client: the OSS calls.
        :param checkpoint_for: builds the checkpoint from the new upload ID.
        :param bucket: the bucket.
        :param key: the object key.
        :param options: the object's headers (sent at initiate).
        :param store: where the checkpoint is saved (None: nowhere).
        :param logger: where to log.
        :raises OSError: the checkpoint could not be saved (the message says the upload was aborted).
        """
        upload_id = client.initiate_multipart_upload(bucket, key, options=options)
        upload = cls(client, bucket, key, upload_id, store, logger)
        try:
            checkpoint = checkpoint_for(upload_id)
            if store is not None:
                store.save(checkpoint)
        except BaseException as err:
            upload.abort("its checkpoint could not be saved")
            if isinstance(err, OSError):
                raise OSError(
                    err.errno,
                    f"Could not save the {describe_store(store)} ({err.strerror or err}); the upload was "
                    "aborted, nothing was sent. Fix the checkpoint location (space, permissions) and retry.",
                ) from err
            raise
        return upload, checkpoint

    @property
    def keeps_record(self) -> bool:
        """Whether a checkpoint record is stored for this upload (none without a store, or with discovery)."""
        return self.store is not None and self.store.keeps_record

    def abort(self, why: str) -> None:
        """
        Abort the upload (its parts stop being billed); an upload already gone is fine, any other
        error is logged, never raised: the run's own outcome matters more.

        :param why: the reason, for the log.
        """
        if self.upload_id is None:
            return
        self.aborted = True
        try:
            self.client.abort_multipart_upload(self.bucket, self.key, self.upload_id)
        except OssNotFoundError:
            self.logger.info("Upload ID %s was already gone (%s).", self.upload_id, why)
            return
        except OssError as err:
            self.logger.warning(
                "Could not abort upload ID %s of oss://%s/%s (%s): %s. Its parts stay billed until it is "
                "aborted or a lifecycle rule removes it.",
                self.upload_id,
                self.bucket,
                self.key,
                why,
                err,
            )
            return
        self.logger.info(
            "Aborted upload ID %s of oss://%s/%s (%s).", self.upload_id, self.bucket, self.key, why
        )

    def forget(self, *, only_if_named: bool = True) -> None:
        """
        Delete the checkpoint. With ``only_if_named`` (the default), only when it still names this
        upload ID (another try may have replaced it with its own) or is unreadable; a failure to
        delete is logged, never raised.

        :param only_if_named: False to delete whatever record the store holds (a stale one).
        """
        store = self.store
        if store is None or not store.keeps_record:
            return  # nothing stored (UploadDiscoveryStore): nothing to re-read or delete
        try:
            if only_if_named and self.upload_id is not None:
                try:
                    current = store.load()
                except CheckpointCorruptError:
                    current = None
                else:
                    if current is None or current.upload_id != self.upload_id:
                        return  # another try has already replaced it with its own upload
            store.delete()
        except Exception as err:
            self.logger.warning("Could not delete the %s: %s", store.describe(), err)

    def finish(self, checkpoint: Checkpoint, mark: CompletedMark | None) -> None:
        """
        After completion: keep ``checkpoint`` marked completed (so that a retry or a re-run finds
        the object without reading the file), or delete it when ``mark`` is None or no record is
        kept. A record that another try has replaced meanwhile is left as it is.

        :param checkpoint: this upload's checkpoint.
        :param mark: the completion (object CRC-64, ETag, retention), or None.
        """
        if mark is None or not self.keeps_record:
            self.forget()
            return
        try:
            self.save(checkpoint.with_confirmed({}).with_completed(mark))
        except Exception as err:  # the object is complete: a lost mark only costs a later re-run a read
            self.logger.warning("Could not mark the %s completed: %s", describe_store(self.store), err)

    def adopt(self, checkpoint: Checkpoint) -> None:
        """
        Make ``checkpoint`` (an upload proven to hold this file) the record, replacing a damaged one.

        :param checkpoint: the adopted upload's checkpoint.
        """
        if self.store is not None and self.store.keeps_record:
            self.store.save(checkpoint)

    def discard(self, why: str, *, upload_exists: bool = True) -> None:
        """
        Drop a stale upload: abort it (unless it is known to be gone already) and delete whatever
        checkpoint record the store holds.

        :param why: the reason, for the log.
        :param upload_exists: False when OSS already said the upload is gone (nothing to abort).
        """
        if upload_exists:
            self.abort(why)
        self.forget(only_if_named=False)

    def save(self, checkpoint: Checkpoint) -> None:
        """
        Save an update of this upload's checkpoint (its confirmed parts), unless another try has
        replaced the record meanwhile.

        :raises RuntimeError: the store no longer names this upload.
        """
        store = self.store
        if store is None:
            return
        try:
            current = store.load()
        except CheckpointCorruptError:
            current = None
        if current is None or current.upload_id != checkpoint.upload_id:
            raise RuntimeError(
                f"the {store.describe()} no longer names upload ID {checkpoint.upload_id} (another try "
                "replaced or removed it)"
            )
        store.save(checkpoint)

    def complete(
        self,
        parts: Sequence[tuple[int, str]],
        *,
        expected_crc64: int,
        expected_size: int,
        replace: bool,
        callback: UploadCallback | None = None,
    ) -> tuple[str, int]:
        """
        CompleteMultipartUpload with ``parts`` (``(number, ETag)``), then the object's one CRC-64
        check (:func:`verify_object_crc`); returns the object's ``(ETag, CRC-64)``. The checkpoint
        is left for :meth:`forget`.

        :param parts: the parts, in any order.
        :param expected_crc64: the parts' combined CRC-64.
        :param expected_size: the object's size (what a HEAD must show when the answer is not OSS's).
        :param replace: False sends ``x-oss-forbid-overwrite``.
        :raises UploadGone: the upload vanished (NoSuchUpload).
        :raises OssPreconditionError: ``FileAlreadyExists`` with ``replace=False``.
        :raises CrcMismatchError: OSS's CRC-64 of the object differs.
        :param callback: OSS's upload callback, sent with the Complete; the callback server's answer
            is kept in :attr:`callback_response`.
        :raises CallbackFailedError: the object is stored but ``callback`` failed (HTTP 203).
        """
        assert self.upload_id is not None
        try:
            completed = self.client.complete_multipart_upload(
                self.bucket,
                self.key,
                self.upload_id,
                parts,
                expected_crc64=expected_crc64,
                expected_size=expected_size,
                forbid_overwrite=not replace,
                callback=callback,
            )
            etag, reported = completed.etag, completed.crc64
            self.callback_response = completed.callback_response
        except OssNotFoundError as err:
            if is_no_such_upload(err):
                raise UploadGone("CompleteMultipartUpload") from err
            raise
        except CrcMismatchError as err:
            etag, reported = "", err.server_crc
        crc64 = verify_object_crc(
            self.client,
            self.bucket,
            self.key,
            reported=reported,
            expected=expected_crc64,
            how=f"completed from upload ID {self.upload_id}",
            logger=self.logger,
        )
        return etag, crc64

    def fail(self, err: BaseException, *, abort: str | None, conn_id: str | None = None) -> None:
        """
        The failure policy: an interruption (not an ``Exception``: a kill, a timeout) never aborts;
        a failure aborts and forgets the upload when ``abort`` gives the reason (the final try, or
        no store that a retry could resume from), else keeps both and says how to clean up.

        :param err: what ended the run.
        :param abort: why to abort, or None to keep the upload for a retry.
        :param conn_id: the Airflow connection, named in the command that aborts a kept upload.
        """
        if self.upload_id is None or self.aborted:
            return  # nothing left for a retry
        target = f"oss://{self.bucket}/{self.key}"
        if not isinstance(err, Exception):
            self.logger.warning(
                "Upload ID %s of %s was interrupted (%s); it is kept so that a retry resumes it.",
                self.upload_id,
                target,
                type(err).__name__,
            )
            return
        if abort is not None:
            self.abort(abort)
            self.forget()
            return
        conn = f"--conn-id {conn_id} " if conn_id else ""
        self.logger.warning(
            "Upload ID %s of %s failed and is kept with its checkpoint (%s). To resume it: let the retry run, "
            "or clear the task (its next try continues upload ID %s and sends only the missing parts). To abort "
            "it instead: oss-uploads %sabort %s %s (or run the task with abort_on_final_failure=True); a bucket "
            "lifecycle rule that aborts incomplete multipart uploads after N days also removes it. Until then "
            "its parts are billed as storage.",
            self.upload_id,
            target,
            describe_store(self.store),
            self.upload_id,
            conn,
            target,
            self.upload_id,
        )
