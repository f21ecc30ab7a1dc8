"""
:class:`Recovery`: what a run does with the past it finds.

A checkpoint that cannot be resumed (another key, a changed file or part size, other object options,
an unreadable record), an upload that vanished (before or during the run), an object that an earlier
try already completed, an object that someone else wrote during the upload, and ``replace=False``
against an existing object. Each decision lives here once; the upload's own abort and checkpoint
delete go through :class:`~airflow_provider_oss.upload.multipart.MultipartUpload`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import OssNotFoundError, OssPreconditionError
from airflow_provider_oss.upload.adoption import LeftUpload, find_own_upload
from airflow_provider_oss.upload.checkpoint import Checkpoint
from airflow_provider_oss.upload.errors import ObjectExistsError, UploadGoneError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.multipart import MultipartUpload, describe_store
from airflow_provider_oss.upload.object_match import ObjectMatch, options_digest

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import ObjectInfo, ObjectOptions
    from airflow_provider_oss.upload.api import UploadAPI
    from airflow_provider_oss.upload.checkpoint import CheckpointCorruptError
    from airflow_provider_oss.upload.plan import PartPlan
    from airflow_provider_oss.upload.stores import CheckpointStore

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


class Recovery:
    """
    Decisions about checkpoints, uploads and objects left by earlier tries (or by other writers).

    :param client: the OSS calls.
    :param bucket: the bucket.
    :param key: the object key.
    :param filename: the absolute path of the source file.
    :param options: the object options of this run.
    :param store: the checkpoint store (None: none).
    :param verify_reused_parts: when True, never derive the file's CRC-64 from confirmed parts.
    :param logger: where to log.
    """

    def __init__(
        self,
        client: UploadAPI,
        bucket: str,
        key: str,
        filename: str,
        *,
        options: ObjectOptions | None,
        store: CheckpointStore | None,
        verify_reused_parts: bool,
        logger: LoggerLike,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.filename = filename
        self.options = options
        self.store = store
        self.verify_reused_parts = verify_reused_parts
        self.logger = logger
        self.target = f"oss://{bucket}/{key}"
        self.match = ObjectMatch(client, bucket, key, filename, options=options, logger=logger)
        #: The in-progress uploads of the key that a look at OSS's list left alone (never aborted).
        self.left_in_progress: tuple[LeftUpload, ...] = ()

    def upload(self, upload_id: str | None, key: str | None = None) -> MultipartUpload:
        """The handle of upload ``upload_id`` of ``key`` (default: this key) with this run's store."""
        return MultipartUpload(self.client, self.bucket, key or self.key, upload_id, self.store, self.logger)

    # -- checkpoints that cannot be resumed ------------------------------------------------------

    def mismatch(self, checkpoint: Checkpoint, plan: PartPlan, fingerprint: SourceFingerprint) -> str | None:
        """Why ``checkpoint`` cannot be resumed by this run, or None when it can."""
        if checkpoint.bucket != self.bucket or checkpoint.key != self.key:
            return (
                f"it is for oss://{checkpoint.bucket}/{checkpoint.key}, not {self.target} "
                f"(upload ID {checkpoint.upload_id})"
            )
        changes = checkpoint.fingerprint.differences(fingerprint)
        if changes:
            return (
                f"the source file changed since upload ID {checkpoint.upload_id} began ({', '.join(changes)})"
            )
        if checkpoint.file_size != plan.file_size:
            return f"the file size differs ({checkpoint.file_size} -> {plan.file_size} bytes)"
        if checkpoint.part_size != plan.part_size:
            return (
                f"the part size differs: upload ID {checkpoint.upload_id} uses {checkpoint.part_size}-byte parts, "
                f"this run plans {plan.part_size}"
            )
        if checkpoint.options_digest is not None and checkpoint.options_digest != options_digest(
            self.options
        ):
            return (
                f"the object options (content type, metadata, storage class, ACL, encryption...) differ from "
                f"those upload ID {checkpoint.upload_id} was started with"
            )
        if checkpoint.source_path != self.filename:
            self.logger.info(
                "The checkpoint was written for %s; resuming with %s, which has the same size, mtime and "
                "sampled content.",
                checkpoint.source_path,
                self.filename,
            )
        return None

    def identity_checked(self, checkpoint: Checkpoint, fingerprint: SourceFingerprint) -> Checkpoint:
        """
        ``checkpoint`` when the file is the very inode it was made from (same ctime, inode, device);
        else the same upload with this file's fingerprint and no confirmed part, so that every part
        OSS lists is read and CRC-checked before it is reused (a part holding other bytes is sent
        again). A file rewritten in place with its mtime put back matches the content fingerprint
        but not its ctime; a restored or copied file is another inode.
        """
        changes = checkpoint.fingerprint.identity_differences(fingerprint)
        if not changes:
            return checkpoint
        self.logger.warning(
            "%s has the size, mtime and sampled content upload ID %s was started with, but not the same "
            "identity (%s): it may have been rewritten in place with its mtime put back, so every part OSS "
            "holds is read and CRC-checked before it is reused, and a part that does not match is sent again.",
            self.filename,
            checkpoint.upload_id,
            ", ".join(changes),
        )
        return dataclasses.replace(checkpoint, fingerprint=fingerprint, confirmed_parts={})

    def note_foreign_bucket(self, checkpoint: Checkpoint) -> None:
        """Log that the checkpoint names an upload in another bucket, which this run never aborts."""
        self.logger.warning(
            "The %s names upload ID %s of oss://%s/%s, which this run cannot abort (%s); abort it yourself "
            "or let a lifecycle rule remove it.",
            describe_store(self.store),
            checkpoint.upload_id,
            checkpoint.bucket,
            checkpoint.key,
            "it is for another bucket",
        )

    def stale_upload(
        self, checkpoint: Checkpoint | None, corrupt: CheckpointCorruptError | None
    ) -> MultipartUpload:
        """
        The handle of the stale upload the record names, when this run may abort it: a readable
        record of this very bucket and key, which this task's store kept for this transfer. Its
        ``upload_id`` is None otherwise (only the record is deleted): a record naming another key,
        or a damaged one, proves nothing about whose upload it names, so that upload is left alone.
        """
        if checkpoint is not None:
            if checkpoint.bucket == self.bucket and checkpoint.key == self.key:
                return self.upload(checkpoint.upload_id, checkpoint.key)
            self._leave_alone(checkpoint.bucket, checkpoint.key, checkpoint.upload_id, "it is another key's")
        elif corrupt is not None and corrupt.salvage:
            salvage = corrupt.salvage
            self._leave_alone(
                salvage["bucket"],
                salvage["key"],
                salvage["upload_id"],
                "the damaged record cannot prove whose it is",
            )
        return self.upload(None)

    def _leave_alone(self, bucket: str, key: str, upload_id: str, why: str) -> None:
        self.logger.warning(
            "The %s names upload ID %s of oss://%s/%s, which this run leaves alone (%s). If it is an abandoned "
            "upload, abort it with: oss-uploads abort oss://%s/%s %s",
            describe_store(self.store),
            upload_id,
            bucket,
            key,
            why,
            bucket,
            key,
            upload_id,
        )

    def discard_stale(
        self,
        checkpoint: Checkpoint | None,
        corrupt: CheckpointCorruptError | None,
        why: str,
        *,
        upload_exists: bool = True,
    ) -> None:
        """
        Abort the upload a stale record names when it is provably this transfer's (see
        :meth:`stale_upload`; if it may still exist) and delete the record.
        """
        self.stale_upload(checkpoint, corrupt).discard(why, upload_exists=upload_exists)

    # -- records that say more than they should, or less ---------------------------------------

    def completed_object(self, checkpoint: Checkpoint, fingerprint: SourceFingerprint) -> ObjectInfo | None:
        """
        A record marked completed: the object's info when OSS still holds exactly what this upload
        completed (the file unchanged, the object's size and CRC-64 those of the mark), so nothing
        is sent and nothing read; else None, with the record deleted (its upload is long gone).
        """
        mark = checkpoint.completed
        assert mark is not None
        upload = self.upload(checkpoint.upload_id, checkpoint.key)
        why = None
        if checkpoint.bucket != self.bucket or checkpoint.key != self.key:
            why = f"it is for oss://{checkpoint.bucket}/{checkpoint.key}"
        elif mark.expired():
            why = f"its retention ran out at {mark.until}"
        elif checkpoint.fingerprint.differences(fingerprint):
            why = f"the file changed since ({', '.join(checkpoint.fingerprint.differences(fingerprint))})"
        elif identity := checkpoint.fingerprint.identity_differences(fingerprint):
            why = f"the file may have been rewritten since ({', '.join(identity)}), so the mark is not trusted unread"
        info = None
        if why is None:
            try:
                info = self.client.head_object(self.bucket, self.key)
            except OssNotFoundError:
                why = "the object is gone"
        if info is not None and (info.size != checkpoint.file_size or info.crc64 != mark.crc64):
            why = f"the object was replaced since (size {info.size}, CRC-64 {info.crc64})"
        if info is not None and why is None and not self.match.options_match(info):
            why = "the object's options differ from this run's"
        if why is not None:
            self.logger.info(
                "The %s says upload ID %s completed %s at %s, but %s: the object is checked against the file "
                "(read for its CRC-64), or uploaded again.",
                describe_store(self.store),
                checkpoint.upload_id,
                self.target,
                mark.at,
                why,
            )
            upload.forget(only_if_named=False)
            return None
        assert info is not None
        self.logger.info(
            "%s already holds this file: upload ID %s completed it at %s (CRC-64 %s, %d bytes, checked by "
            "HEAD against the mark in the %s). Nothing to send, nothing read.",
            self.target,
            checkpoint.upload_id,
            mark.at,
            mark.crc64,
            info.size,
            describe_store(self.store),
        )
        return info

    def adopt_after_damage(
        self, corrupt: CheckpointCorruptError, plan: PartPlan, fingerprint: SourceFingerprint, digest: str
    ) -> Checkpoint | None:
        """
        A damaged record of this task must not cost the work already stored: find the in-progress
        upload of this key that proves to hold this file (as a discovering retry does), make it the
        record and return its checkpoint; None (nothing aborted) when none proves itself.
        """
        salvaged = corrupt.salvage.get("upload_id") if corrupt.salvage.get("key") == self.key else None
        found = find_own_upload(
            self.client, self.bucket, self.key, self.filename, plan, prefer=salvaged, logger=self.logger
        )
        self.left_in_progress += found.left
        adopted = found.adopted
        if adopted is None:
            self.stale_upload(None, corrupt).forget(only_if_named=False)
            self.logger.info(
                "No in-progress upload of %s holds this file: starting a clean upload.", self.target
            )
            return None
        checkpoint = adopted.checkpoint(
            self.bucket, self.key, self.filename, plan, fingerprint, options_digest=digest
        )
        self.upload(adopted.upload_id).adopt(checkpoint)
        return checkpoint

    def stale(
        self,
        reason: str,
        fingerprint: SourceFingerprint,
        *,
        checkpoint: Checkpoint | None = None,
        corrupt: CheckpointCorruptError | None = None,
        upload_exists: bool = True,
        expected_crc: int | None = None,
    ) -> ObjectInfo | None:
        """
        Handle a checkpoint that cannot be resumed: when the object already equals the file, abort
        the stale upload, delete the record and return the object's info (nothing to send); else
        abort the stale upload, delete the record and return None (start clean).

        :param expected_crc: the file's CRC-64 when known without reading it (else it is computed
            if an object of the file's size exists).
        """
        self.logger.warning("Not resuming from the %s: %s.", describe_store(self.store), reason)
        info = self.match.object_equal_to_file(fingerprint, expected_crc)
        if info is not None:
            self.stale_upload(checkpoint, corrupt).discard(
                "the object is already complete", upload_exists=upload_exists
            )
            self.logger.info(
                "%s already holds this file (%d bytes, CRC-64 %s), most likely completed by an earlier try: "
                "nothing to send.",
                self.target,
                info.size,
                info.crc64,
            )
            return info
        self.discard_stale(checkpoint, corrupt, reason, upload_exists=upload_exists)
        self.logger.info("Starting a clean upload of %s to %s.", self.filename, self.target)
        return None

    def confirmed_file_crc(self, checkpoint: Checkpoint, plan: PartPlan) -> int | None:
        """
        The file's CRC-64 combined from the checkpoint's confirmed parts when they cover the whole
        plan (the checkpoint already matched the file), so that checking an object completed by an
        earlier try costs no read of the file; None otherwise or with ``verify_reused_parts``.
        """
        confirmed = checkpoint.confirmed_parts
        if self.verify_reused_parts or len(confirmed) != plan.part_count:
            return None
        if any(part.number not in confirmed for part in plan):
            return None
        return crc.combine_all([(confirmed[part.number], part.size) for part in plan])

    def enforce_no_replace(
        self, fingerprint: SourceFingerprint, checkpoint: Checkpoint | None
    ) -> ObjectInfo | None:
        """
        With ``replace=False``: None when the key is free; the object's info when an earlier try of
        this same upload (per the checkpoint) completed it from this very file.

        :raises ObjectExistsError: the key holds any other object.
        """
        try:
            self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        if checkpoint is not None and checkpoint.bucket == self.bucket and checkpoint.key == self.key:
            info = self.match.object_equal_to_file(fingerprint)
            if info is not None:
                self.upload(checkpoint.upload_id).discard("the object is already complete")
                self.logger.info(
                    "%s already holds this file, completed by an earlier try of this upload: nothing to send.",
                    self.target,
                )
                return info
        raise ObjectExistsError(
            f"{self.target} already exists and replace=False: nothing was uploaded. Delete the object, "
            "choose another key, or set replace=True.",
            bucket=self.bucket,
            key=self.key,
        )

    # -- during the upload -----------------------------------------------------------------------

    def after_upload_gone(
        self, upload: MultipartUpload, where: str, fingerprint: SourceFingerprint, expected: int | None
    ) -> ObjectInfo:
        """
        The upload vanished during ``where``: succeed when the object in OSS is this file (another
        try completed it), else raise. The checkpoint is dropped either way.

        :raises UploadGoneError: the object (if any) is not this file.
        """
        self.logger.warning(
            "Upload ID %s disappeared during %s (another try may have completed or aborted it, or a "
            "lifecycle rule removed it): checking the object in OSS against the file.",
            upload.upload_id,
            where,
        )
        info = self.match.object_equal_to_file(fingerprint, expected)
        upload.forget()
        if info is None:
            raise UploadGoneError(
                f"Upload ID {upload.upload_id} of {self.target} disappeared during {where} and the object in OSS "
                "(if any) is not this file. The checkpoint was dropped: the next try starts a clean upload.",
                upload_id=upload.upload_id or "",
            ) from None
        self.logger.info(
            "%s equals the file (%d bytes, CRC-64 %s): another try completed upload ID %s. Done.",
            self.target,
            info.size,
            info.crc64,
            upload.upload_id,
        )
        return info

    def appeared_during_upload(
        self, upload: MultipartUpload, expected: int, size: int, err: OssPreconditionError
    ) -> ObjectInfo:
        """
        With ``replace=False``, OSS refused to complete because the key was written meanwhile. The
        upload can never complete, so it is aborted; the run succeeds only if the object that
        appeared is this very file (size and CRC-64).

        :raises ObjectExistsError: the object is another one.
        """
        upload.abort("the key was written by someone else and replace=False")
        upload.forget()
        try:
            info: ObjectInfo | None = self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            info = None
        if info is not None and info.size == size and info.crc64 == expected:
            self.logger.info(
                "%s was written by someone else during the upload, with exactly this file's bytes (CRC-64 %s): "
                "upload ID %s was aborted and the object is kept.",
                self.target,
                expected,
                upload.upload_id,
            )
            return info
        raise ObjectExistsError(
            f"{self.target} was created by someone else while this file was being uploaded, and replace=False: "
            f"OSS refused to complete upload ID {upload.upload_id} (FileAlreadyExists, request ID "
            f"{err.request_id}), so the other object is kept and the upload was aborted. Delete the object, "
            "choose another key, or set replace=True.",
            bucket=self.bucket,
            key=self.key,
        ) from err
