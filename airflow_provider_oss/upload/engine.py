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
record), it first checks whether the object in OSS already equals the file (an earlier try may have
completed it), else aborts the stale upload and starts clean.

Failures keep the upload and its checkpoint for the next try unless ``abort_on_failure`` is set
(which the Airflow layer passes on the final try only). Memory stays near
``parallelism * part_size``. Build the client with ``pool_size >= parallelism``
(:func:`recommended_pool_size`), or connections are reopened for every part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import (
    CrcMismatchError,
    OssError,
    OssNotFoundError,
    OssPreconditionError,
)
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.upload.checkpoint import Checkpoint, CheckpointCorruptError, CheckpointStore
from airflow_provider_oss.upload.config import TransferConfig, recommended_pool_size
from airflow_provider_oss.upload.confirmations import ConfirmationRecorder
from airflow_provider_oss.upload.errors import (
    ObjectExistsError,
    SourceChangedError,
    UploadGoneError,
)
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.parts import PartOutcome, PartSender, UploadGone, is_no_such_upload
from airflow_provider_oss.upload.plan import PartPlan, plan_parts
from airflow_provider_oss.upload.progress import ProgressEvent, ProgressTracker
from airflow_provider_oss.upload.reader import PartReader
from airflow_provider_oss.upload.result import UploadResult

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import ObjectInfo, PartInfo

log = logging.getLogger(__name__)

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


def options_digest(options: ObjectOptions | None) -> str:
    """SHA-256 over the headers that ``options`` sends at initiate (``{}`` when None)."""
    headers = options.to_headers() if options is not None else {}
    pairs = sorted((str(k).lower(), str(v)) for k, v in headers.items())
    text = json.dumps(pairs, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ResumableUploader:
    """
    Upload one local file to ``oss://bucket/key``; a new instance in a new process, given the same
    checkpoint store, continues the same multipart upload and sends only the missing parts.

    :param client: the OSS client (thread-safe; build it with ``pool_size >= parallelism``, see
        :func:`recommended_pool_size`). The client retries transient errors itself; this class adds
        no retries on top except one re-send of a part whose CRC-64 OSS reported differently.
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
    """

    def __init__(
        self,
        client: OssClient,
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
        self._upload_id: str | None = None
        self._started = 0.0
        self._check_pool_size()

    def __repr__(self) -> str:
        return (
            f"ResumableUploader(bucket={self.bucket!r}, key={self.key!r}, filename={self.filename!r}, "
            f"part_size={self.config.part_size}, parallelism={self.config.parallelism})"
        )

    @property
    def target(self) -> str:
        """``oss://bucket/key``."""
        return f"oss://{self.bucket}/{self.key}"

    def _check_pool_size(self) -> None:
        config = getattr(self.client, "config", None)
        pool_size = getattr(config, "pool_size", None)
        if isinstance(pool_size, int) and pool_size < self.config.parallelism:
            self.logger.warning(
                "The OSS client's pool_size (%d) is below the upload parallelism (%d): connections will be "
                "closed and reopened for every part. Build the client with pool_size >= %d.",
                pool_size,
                self.config.parallelism,
                recommended_pool_size(self.config.parallelism),
            )

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> UploadResult:
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
        self._upload_id = None
        fingerprint = SourceFingerprint.of_file(self.filename)
        checkpoint, corrupt = self._load_checkpoint()
        if checkpoint is not None and checkpoint.bucket != self.bucket:
            self._stale_upload_note(checkpoint, "it is for another bucket")
        if not self.replace:
            done = self._enforce_no_replace(fingerprint, checkpoint)
            if done is not None:
                return done
        size = fingerprint.size
        if size == 0 or size < self.config.threshold:
            if checkpoint is not None or corrupt is not None:
                self._discard_stale(
                    checkpoint,
                    corrupt,
                    f"the file ({size} bytes) is below multipart_threshold and goes up in one PutObject",
                )
            return self._put_single(fingerprint)
        plan = plan_parts(size, self.config.part_size)
        if checkpoint is not None:
            reason = self._mismatch(checkpoint, plan, fingerprint)
            if reason is None:
                return self._resume(checkpoint, plan, fingerprint)
            done = self._stale(reason, fingerprint, checkpoint=checkpoint)
            if done is not None:
                return done
        elif corrupt is not None:
            done = self._stale(f"the checkpoint cannot be used: {corrupt}", fingerprint, corrupt=corrupt)
            if done is not None:
                return done
        return self._fresh(plan, fingerprint)

    # -- checkpoint ------------------------------------------------------------------------------

    def _describe_store(self) -> str:
        return (
            self.checkpoint_store.describe() if self.checkpoint_store is not None else "no checkpoint store"
        )

    def _load_checkpoint(self) -> tuple[Checkpoint | None, CheckpointCorruptError | None]:
        if self.checkpoint_store is None:
            return None, None
        try:
            return self.checkpoint_store.load(), None
        except CheckpointCorruptError as err:
            self.logger.warning("Ignoring the %s: %s.", self._describe_store(), err)
            return None, err

    def _save_checkpoint(self, checkpoint: Checkpoint) -> None:
        if self.checkpoint_store is not None:
            self.checkpoint_store.save(checkpoint)

    def _delete_checkpoint(self, only_upload_id: str | None = None) -> None:
        """Delete the checkpoint; with ``only_upload_id``, only if it still names that upload."""
        store = self.checkpoint_store
        if store is None or not getattr(store, "keeps_record", True):
            return  # nothing stored (UploadDiscoveryStore): nothing to re-read or delete
        try:
            if only_upload_id is not None:
                try:
                    current = store.load()
                except CheckpointCorruptError:
                    current = None
                    store.delete()
                    return
                if current is None or current.upload_id != only_upload_id:
                    return  # another try has already replaced it with its own upload
            store.delete()
        except Exception as err:
            self.logger.warning("Could not delete the %s: %s", store.describe(), err)

    def _mismatch(self, checkpoint: Checkpoint, plan: PartPlan, fingerprint: SourceFingerprint) -> str | None:
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
        digest = options_digest(self.object_options)
        if checkpoint.options_digest is not None and checkpoint.options_digest != digest:
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

    # -- stale checkpoints and existing objects --------------------------------------------------

    def _stale_upload_note(self, checkpoint: Checkpoint, why: str) -> None:
        self.logger.warning(
            "The %s names upload ID %s of oss://%s/%s, which this run cannot abort (%s); abort it yourself "
            "or let a lifecycle rule remove it.",
            self._describe_store(),
            checkpoint.upload_id,
            checkpoint.bucket,
            checkpoint.key,
            why,
        )

    def _abort_quietly(self, key: str, upload_id: str, why: str) -> None:
        try:
            self.client.abort_multipart_upload(self.bucket, key, upload_id)
        except OssNotFoundError:
            self.logger.info("Upload ID %s was already gone (%s).", upload_id, why)
            return
        except OssError as err:
            self.logger.warning(
                "Could not abort upload ID %s of oss://%s/%s (%s): %s. Its parts stay billed until it is "
                "aborted or a lifecycle rule removes it.",
                upload_id,
                self.bucket,
                key,
                why,
                err,
            )
            return
        self.logger.info("Aborted upload ID %s of oss://%s/%s (%s).", upload_id, self.bucket, key, why)

    def _stale_target(
        self, checkpoint: Checkpoint | None, corrupt: CheckpointCorruptError | None
    ) -> tuple[str, str] | None:
        """The (key, upload ID) of the stale upload that this run may abort, if any."""
        if checkpoint is not None:
            if checkpoint.bucket == self.bucket:
                return checkpoint.key, checkpoint.upload_id
            return None
        if corrupt is not None and corrupt.salvage.get("bucket") == self.bucket:
            return corrupt.salvage["key"], corrupt.salvage["upload_id"]
        return None

    def _discard_stale(
        self,
        checkpoint: Checkpoint | None,
        corrupt: CheckpointCorruptError | None,
        why: str,
        *,
        upload_exists: bool = True,
    ) -> None:
        target = self._stale_target(checkpoint, corrupt)
        if target is not None and upload_exists:
            self._abort_quietly(target[0], target[1], why)
        elif target is None and corrupt is not None and upload_exists:
            # The damaged record no longer names its upload: find it in OSS rather than orphan its parts.
            for upload_id in self._in_progress_upload_ids():
                self._abort_quietly(
                    self.key, upload_id, f"{why}; found in OSS's in-progress uploads of the key"
                )
        self._delete_checkpoint()

    def _in_progress_upload_ids(self) -> list[str]:
        """The IDs of the in-progress multipart uploads of exactly this key (ListMultipartUploads)."""
        try:
            uploads = self.client.list_multipart_uploads(self.bucket, prefix=self.key)
            return [u.upload_id for u in uploads if u.key == self.key]
        except OssError as err:
            self.logger.warning("Could not list the in-progress uploads of %s: %s", self.target, err)
            return []

    def _stale(
        self,
        reason: str,
        fingerprint: SourceFingerprint,
        *,
        checkpoint: Checkpoint | None = None,
        corrupt: CheckpointCorruptError | None = None,
        upload_exists: bool = True,
        expected_crc: int | None = None,
    ) -> UploadResult | None:
        """
        Handle a checkpoint that cannot be resumed: return a result when the object already equals
        the file (nothing to send), else abort the stale upload, delete the checkpoint and return None.

        :param expected_crc: the file's CRC-64 when known without reading it (else it is computed
            if an object of the file's size exists).
        """
        self.logger.warning("Not resuming from the %s: %s.", self._describe_store(), reason)
        info = self._object_equal_to_file(fingerprint, expected_crc)
        if info is not None:
            target = self._stale_target(checkpoint, corrupt)
            if target is not None and upload_exists:
                self._abort_quietly(target[0], target[1], "the object is already complete")
            self._delete_checkpoint()
            self.logger.info(
                "%s already holds this file (%d bytes, CRC-64 %s), most likely completed by an earlier try: "
                "nothing to send.",
                self.target,
                info.size,
                info.crc64,
            )
            return self._result_already_complete(info, checkpoint.upload_id if checkpoint else None)
        self._discard_stale(checkpoint, corrupt, reason, upload_exists=upload_exists)
        self.logger.info("Starting a clean upload of %s to %s.", self.filename, self.target)
        return None

    def _confirmed_file_crc(self, checkpoint: Checkpoint, plan: PartPlan) -> int | None:
        """
        The file's CRC-64 combined from the checkpoint's confirmed parts when they cover the whole
        plan (the checkpoint already matched the file), so that checking an object completed by an
        earlier try costs no read of the file; None otherwise or with ``verify_reused_parts``.
        """
        confirmed = checkpoint.confirmed_parts
        if self.config.verify_reused_parts or len(confirmed) != plan.part_count:
            return None
        if any(part.number not in confirmed for part in plan):
            return None
        return crc.combine_all([(confirmed[part.number], part.size) for part in plan])

    def _object_equal_to_file(
        self, fingerprint: SourceFingerprint, expected_crc: int | None = None
    ) -> ObjectInfo | None:
        """The object's info when it exists with the file's size and CRC-64 (and requested options)."""
        try:
            info = self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        if info.size != fingerprint.size:
            return None
        if info.crc64 is None:
            self.logger.info(
                "%s exists with the file's size but OSS reports no CRC-64 for it, so it cannot be verified.",
                self.target,
            )
            return None
        if not self._options_match(info):
            return None
        if expected_crc is None:
            self.logger.info(
                "%s exists with the file's size (%d bytes): computing the file's CRC-64 to compare.",
                self.target,
                fingerprint.size,
            )
            expected_crc = crc.crc64_of_file(self.filename)
            if SourceFingerprint.of_file(self.filename).differences(fingerprint):
                return None
        if info.crc64 != expected_crc:
            self.logger.info(
                "%s exists with the file's size but another CRC-64 (%s, the file's is %s).",
                self.target,
                info.crc64,
                expected_crc,
            )
            return None
        return info

    def _options_match(self, info: ObjectInfo) -> bool:
        options = self.object_options
        if options is None:
            return True
        wanted_type = getattr(options, "content_type", None)
        if wanted_type and getattr(info, "content_type", None) not in (None, wanted_type):
            self.logger.info(
                "%s has Content-Type %r, not the requested %r.", self.target, info.content_type, wanted_type
            )
            return False
        wanted_meta = getattr(options, "metadata", None) or {}
        have_meta = {str(k).lower(): v for k, v in (getattr(info, "metadata", None) or {}).items()}
        for name, value in wanted_meta.items():
            if have_meta.get(str(name).lower()) != value:
                self.logger.info("%s lacks the requested metadata %r.", self.target, name)
                return False
        wanted_class = getattr(options, "storage_class", None)
        have_class = getattr(info, "storage_class", None)
        if wanted_class and have_class and have_class != wanted_class:
            self.logger.info(
                "%s has storage class %s, not the requested %s.", self.target, have_class, wanted_class
            )
            return False
        return True

    def _result_already_complete(self, info: ObjectInfo, upload_id: str | None) -> UploadResult:
        return UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=info.etag,
            crc64=info.crc64,
            size=info.size,
            upload_id=upload_id,
            parts_total=0,
            parts_reused=0,
            parts_sent=0,
            bytes_sent=0,
            bytes_reused=0,
            resumed=upload_id is not None,
            seconds=time.monotonic() - self._started,
            already_complete=True,
        )

    def _enforce_no_replace(
        self, fingerprint: SourceFingerprint, checkpoint: Checkpoint | None
    ) -> UploadResult | None:
        try:
            self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        ours = checkpoint is not None and checkpoint.bucket == self.bucket and checkpoint.key == self.key
        if ours:
            assert checkpoint is not None
            info = self._object_equal_to_file(fingerprint)
            if info is not None:
                self._abort_quietly(self.key, checkpoint.upload_id, "the object is already complete")
                self._delete_checkpoint()
                self.logger.info(
                    "%s already holds this file, completed by an earlier try of this upload: nothing to send.",
                    self.target,
                )
                return self._result_already_complete(info, checkpoint.upload_id)
        raise ObjectExistsError(
            f"{self.target} already exists and replace=False: nothing was uploaded. Delete the object, "
            "choose another key, or set replace=True.",
            bucket=self.bucket,
            key=self.key,
        )

    # -- single PutObject ------------------------------------------------------------------------

    def _put_single(self, fingerprint: SourceFingerprint) -> UploadResult:
        size = fingerprint.size
        buffer = bytearray(size)
        view = memoryview(buffer)
        with PartReader(self.filename) as reader:
            read = reader.read_into(view, 0)
            self._check_source_quick(
                fingerprint, reader, extra=[] if read == size else [f"read {read} of {size} bytes"]
            )
        local_crc = crc.crc64(view)
        progress = self._progress(size, 1)
        kwargs: dict[str, Any] = {"crc64": local_crc}
        options = self.object_options
        if self.config.traffic_limit is not None:  # PutObject takes the cap as an object header
            options = dataclasses.replace(options or ObjectOptions(), traffic_limit=self.config.traffic_limit)
        if options is not None:
            kwargs["options"] = options
        self.logger.info("Uploading %s (%d bytes) to %s in one PutObject.", self.filename, size, self.target)
        try:
            result = self.client.put_object(
                self.bucket, self.key, view, forbid_overwrite=not self.replace, **kwargs
            )
        except OssPreconditionError as err:
            if err.code != "FileAlreadyExists":
                raise
            raise ObjectExistsError(
                f"{self.target} was created by someone else just before this file's PutObject, and "
                f"replace=False: OSS refused to overwrite it (FileAlreadyExists, request ID {err.request_id}). "
                "Delete the object, choose another key, or set replace=True.",
                bucket=self.bucket,
                key=self.key,
            ) from err
        if result.crc64 is not None and result.crc64 != local_crc:
            raise CrcMismatchError(
                f"PutObject {self.target}: OSS computed CRC-64 {result.crc64} but the file's is {local_crc}; "
                "the object in OSS is damaged. Upload it again.",
                local_crc=local_crc,
                server_crc=result.crc64,
                key=self.key,
            )
        progress.part_done(1, size)
        progress.finish()
        return UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=result.etag,
            crc64=local_crc,
            size=size,
            upload_id=None,
            parts_total=1,
            parts_reused=0,
            parts_sent=1,
            bytes_sent=size,
            bytes_reused=0,
            resumed=False,
            seconds=time.monotonic() - self._started,
        )

    # -- multipart -------------------------------------------------------------------------------

    def _fresh(self, plan: PartPlan, fingerprint: SourceFingerprint) -> UploadResult:
        kwargs: dict[str, Any] = {}
        if self.object_options is not None:
            kwargs["options"] = self.object_options
        upload_id = self.client.initiate_multipart_upload(self.bucket, self.key, **kwargs)
        self._upload_id = upload_id
        try:
            checkpoint = Checkpoint(
                bucket=self.bucket,
                key=self.key,
                upload_id=upload_id,
                part_size=plan.part_size,
                file_size=plan.file_size,
                fingerprint=fingerprint,
                source_path=self.filename,
                options_digest=options_digest(self.object_options),
            )
            self._save_checkpoint(checkpoint)
        except BaseException as err:
            # No later run could find this upload: abort it rather than leave billed parts behind.
            self._abort_quietly(self.key, upload_id, "its checkpoint could not be saved")
            if isinstance(err, OSError):
                raise OSError(
                    err.errno,
                    f"Could not save the {self._describe_store()} ({err.strerror or err}); the upload was "
                    "aborted, nothing was sent. Fix the checkpoint location (space, permissions) and retry.",
                ) from err
            raise
        self.logger.info(
            "Started multipart upload ID %s of %s (%d bytes) to %s: %s, %d in parallel; checkpoint: %s.",
            upload_id,
            self.filename,
            plan.file_size,
            self.target,
            plan.describe(),
            self.config.parallelism,
            self._describe_store(),
        )
        if self.checkpoint_store is None:
            self.logger.info("No checkpoint store: a failed run cannot be resumed and aborts its upload.")
        return self._upload(plan, fingerprint, {}, checkpoint, resumed=False)

    def _resume(self, checkpoint: Checkpoint, plan: PartPlan, fingerprint: SourceFingerprint) -> UploadResult:
        upload_id = checkpoint.upload_id
        try:
            listed = list(self.client.list_parts(self.bucket, self.key, upload_id))
        except OssNotFoundError as err:
            if not is_no_such_upload(err):
                raise
            done = self._stale(
                f"upload ID {upload_id} no longer exists in OSS (aborted, removed by a lifecycle rule, or "
                "completed by an earlier try)",
                fingerprint,
                checkpoint=checkpoint,
                upload_exists=False,
                expected_crc=self._confirmed_file_crc(checkpoint, plan),
            )
            return done if done is not None else self._fresh(plan, fingerprint)
        self._upload_id = upload_id
        by_number: dict[int, PartInfo] = {}
        odd = 0
        for info in listed:
            if (
                info.part_number in plan
                and info.size == plan.size_of(info.part_number)
                and info.crc64 is not None
            ):
                by_number[info.part_number] = info
            else:
                odd += 1
        have_bytes = sum(p.size for p in by_number.values())
        self.logger.info(
            "Resuming upload ID %s of %s to %s (checkpoint: %s, started %s): %d of %d parts (%d of %d bytes) "
            "already in OSS, each reused when its CRC-64 is the one the checkpoint confirmed or matches the "
            "local bytes; sending %d part(s) (%d bytes).",
            upload_id,
            self.filename,
            self.target,
            self._describe_store(),
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
        return self._upload(plan, fingerprint, by_number, checkpoint, resumed=True)

    def _recorder(self, checkpoint: Checkpoint, plan: PartPlan) -> ConfirmationRecorder | None:
        """Records confirmed parts in the checkpoint, when the store keeps one."""
        store = self.checkpoint_store
        if store is None or not getattr(store, "keeps_record", True):
            return None
        return ConfirmationRecorder(
            checkpoint,
            self._save_confirmed,
            part_count=plan.part_count,
            logger=self.logger,
            interval=self.config.checkpoint_save_interval,
        )

    def _save_confirmed(self, checkpoint: Checkpoint) -> None:
        """Save an update of this run's checkpoint, unless another try has replaced it meanwhile."""
        store = self.checkpoint_store
        assert store is not None
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

    def _progress(self, total: int, parts: int) -> ProgressTracker:
        return ProgressTracker(
            total,
            parts,
            label=self.target,
            logger=self.logger,
            callback=self.progress_callback,
            log_interval=self.config.progress_interval,
        )

    def _upload(
        self,
        plan: PartPlan,
        fingerprint: SourceFingerprint,
        listed: dict[int, PartInfo],
        checkpoint: Checkpoint,
        *,
        resumed: bool,
    ) -> UploadResult:
        upload_id = self._upload_id
        assert upload_id is not None
        progress = self._progress(plan.file_size, plan.part_count)
        outcomes: list[PartOutcome] = []
        expected: int | None = None
        recorder = self._recorder(checkpoint, plan)
        trusted = {} if self.config.verify_reused_parts else checkpoint.confirmed_parts
        try:
            with PartReader(self.filename) as reader:
                self._check_source_quick(fingerprint, reader)
                sender = PartSender(
                    self.client,
                    self.bucket,
                    self.key,
                    upload_id,
                    self.filename,
                    parallelism=self.config.parallelism,
                    traffic_limit=self.config.traffic_limit,
                    logger=self.logger,
                )

                def confirm(outcome: PartOutcome) -> None:
                    if recorder is not None:
                        recorder.confirm(outcome.part.number, outcome.crc64)

                def after_part(outcome: PartOutcome) -> None:
                    if not outcome.trusted:  # a trusted part read nothing; the end checks the file anyway
                        self._check_source_quick(fingerprint, reader)
                    confirm(outcome)

                outcomes = sender.run(
                    plan, listed, reader, progress, after_part, trusted, on_late_part=confirm
                )
                self._check_source_full(fingerprint, reader)
            if recorder is not None:
                # Every part's CRC-64 is saved before completing: a try killed between completing and
                # deleting the checkpoint leaves a retry that checks the object without reading the file.
                recorder.close(flush=True)
            expected = crc.combine_all([(o.crc64, o.part.size) for o in outcomes])
            object_crc, etag = self._complete(upload_id, outcomes, expected)
        except UploadGone as gone:
            if recorder is not None:
                recorder.close(flush=False)
            return self._after_upload_gone(gone, fingerprint, expected, progress, plan, resumed)
        except BaseException as err:
            if recorder is not None:
                recorder.close(flush=isinstance(err, Exception))  # so that the retry reads less
            self._on_failure(err)
            raise
        self._delete_checkpoint(only_upload_id=upload_id)
        progress.finish()
        result = self._multipart_result(
            upload_id, plan, progress, resumed, etag=etag, crc64=object_crc, size=plan.file_size
        )
        resends = sum(o.sends for o in outcomes if not o.reused) - progress.parts_sent
        trusted_count = result.parts_reused_without_reading = sum(1 for o in outcomes if o.trusted)
        self.logger.info(
            "Completed %s from upload ID %s: %d bytes, CRC-64 %s verified; %d part(s) sent (%d bytes), "
            "%d reused (%d bytes; %d on the checkpoint's confirmation, %d after reading them again)%s, "
            "in %.1f s.",
            self.target,
            upload_id,
            plan.file_size,
            object_crc,
            result.parts_sent,
            result.bytes_sent,
            result.parts_reused,
            result.bytes_reused,
            trusted_count,
            result.parts_reused - trusted_count,
            f", {resends} re-sent after a CRC-64 mismatch" if resends else "",
            result.seconds,
        )
        return result

    def _after_upload_gone(
        self,
        gone: UploadGone,
        fingerprint: SourceFingerprint,
        expected: int | None,
        progress: ProgressTracker,
        plan: PartPlan,
        resumed: bool,
    ) -> UploadResult:
        upload_id = self._upload_id
        assert upload_id is not None
        self.logger.warning(
            "Upload ID %s disappeared during %s (another try may have completed or aborted it, or a "
            "lifecycle rule removed it): checking the object in OSS against the file.",
            upload_id,
            gone.where,
        )
        info = self._object_equal_to_file(fingerprint, expected)
        if info is None:
            self._delete_checkpoint(only_upload_id=upload_id)
            raise UploadGoneError(
                f"Upload ID {upload_id} of {self.target} disappeared during {gone.where} and the object in OSS "
                "(if any) is not this file. The checkpoint was dropped: the next try starts a clean upload.",
                upload_id=upload_id,
            ) from None
        self._delete_checkpoint(only_upload_id=upload_id)
        self.logger.info(
            "%s equals the file (%d bytes, CRC-64 %s): another try completed upload ID %s. Done.",
            self.target,
            info.size,
            info.crc64,
            upload_id,
        )
        return self._multipart_result(
            upload_id,
            plan,
            progress,
            resumed,
            etag=info.etag,
            crc64=info.crc64,
            size=info.size,
            already_complete=True,
        )

    def _multipart_result(
        self,
        upload_id: str,
        plan: PartPlan,
        progress: ProgressTracker,
        resumed: bool,
        *,
        etag: str,
        crc64: int | None,
        size: int,
        already_complete: bool = False,
    ) -> UploadResult:
        """The result of a multipart run: the object's identity plus what this run sent and reused."""
        return UploadResult(
            bucket=self.bucket,
            key=self.key,
            etag=etag,
            crc64=crc64,
            size=size,
            upload_id=upload_id,
            parts_total=plan.part_count,
            parts_reused=progress.parts_reused,
            parts_sent=progress.parts_sent,
            bytes_sent=progress.bytes_sent,
            bytes_reused=progress.bytes_reused,
            resumed=resumed,
            seconds=time.monotonic() - self._started,
            already_complete=already_complete,
        )

    def _complete(self, upload_id: str, outcomes: list[PartOutcome], expected: int) -> tuple[int, str]:
        parts = [(o.part.number, o.etag) for o in outcomes]
        try:
            completed = self.client.complete_multipart_upload(
                self.bucket,
                self.key,
                upload_id,
                parts,
                expected_crc64=expected,
                forbid_overwrite=not self.replace,
            )
        except OssNotFoundError as err:
            if is_no_such_upload(err):
                raise UploadGone("CompleteMultipartUpload") from err
            raise
        except OssPreconditionError as err:
            if err.code != "FileAlreadyExists":
                raise
            return self._appeared_during_upload(upload_id, expected, sum(o.part.size for o in outcomes), err)
        except CrcMismatchError as err:
            raise CrcMismatchError(
                f"{self.target} was completed from upload ID {upload_id}, but OSS reports CRC-64 "
                f"{err.server_crc} while the parts' combined CRC-64 is {expected}: the object is damaged. "
                "The next try checks it against the file and uploads again.",
                local_crc=expected,
                server_crc=err.server_crc,
                key=self.key,
            ) from err
        server_crc = completed.crc64
        if server_crc is None:
            server_crc = self.client.head_object(self.bucket, self.key).crc64
        if server_crc is None:
            self.logger.warning(
                "OSS reported no CRC-64 for %s: the object could not be verified end to end (each part was).",
                self.target,
            )
            return expected, completed.etag
        if server_crc != expected:
            raise CrcMismatchError(
                f"{self.target} was completed from upload ID {upload_id}, but OSS reports CRC-64 {server_crc} "
                f"while the parts' combined CRC-64 is {expected}: the object is damaged. The next try checks "
                "it against the file and uploads again.",
                local_crc=expected,
                server_crc=server_crc,
                key=self.key,
            )
        return server_crc, completed.etag

    def _appeared_during_upload(
        self, upload_id: str, expected: int, size: int, err: OssPreconditionError
    ) -> tuple[int, str]:
        """
        With ``replace=False``, OSS refused to complete because the key was written meanwhile. The
        upload can never complete, so it is aborted; the run succeeds only if the object that
        appeared is this very file (size and CRC-64).
        """
        self._abort_quietly(self.key, upload_id, "the key was written by someone else and replace=False")
        self._delete_checkpoint(only_upload_id=upload_id)
        try:
            info = self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            info = None
        if info is not None and info.size == size and info.crc64 == expected:
            self.logger.info(
                "%s was written by someone else during the upload, with exactly this file's bytes (CRC-64 %s): "
                "upload ID %s was aborted and the object is kept.",
                self.target,
                expected,
                upload_id,
            )
            return expected, info.etag
        self._upload_id = None  # aborted: nothing is left for a retry
        raise ObjectExistsError(
            f"{self.target} was created by someone else while this file was being uploaded, and replace=False: "
            f"OSS refused to complete upload ID {upload_id} (FileAlreadyExists, request ID {err.request_id}), "
            "so the other object is kept and the upload was aborted. Delete the object, choose another key, or "
            "set replace=True.",
            bucket=self.bucket,
            key=self.key,
        ) from err

    def _on_failure(self, err: BaseException) -> None:
        upload_id = self._upload_id
        if upload_id is None:
            return
        if not isinstance(err, Exception):
            self.logger.warning(
                "Upload ID %s of %s was interrupted (%s); it is kept so that a retry resumes it.",
                upload_id,
                self.target,
                type(err).__name__,
            )
            return
        if self.abort_on_failure or self.checkpoint_store is None:
            why = "abort_on_failure=True" if self.abort_on_failure else "no checkpoint store could resume it"
            self._abort_quietly(self.key, upload_id, f"the upload failed and {why}")
            self._delete_checkpoint(only_upload_id=upload_id)
            return
        self.logger.warning(
            "Upload ID %s of %s failed and is kept with its checkpoint (%s) so that a retry sends only the "
            "missing parts. If no retry follows, abort it (AbortMultipartUpload for this key and upload ID) or "
            "give the bucket a lifecycle rule that aborts incomplete multipart uploads after N days: its parts "
            "are billed as storage until then.",
            upload_id,
            self.target,
            self._describe_store(),
        )

    # -- source checks ---------------------------------------------------------------------------

    def _source_changed(self, fingerprint: SourceFingerprint, changes: list[str]) -> SourceChangedError:
        what = ", ".join(changes)
        keep = (
            "it is aborted"
            if self.abort_on_failure or self.checkpoint_store is None
            else "the next try sees that the checkpoint no longer matches the file and starts clean"
        )
        return SourceChangedError(
            f"{self.filename} changed while it was being uploaded to {self.target} ({what}); upload ID "
            f"{self._upload_id} was not completed, so no object mixes old and new bytes ({keep}). Make sure "
            "nothing writes to the file during the upload.",
            upload_id=self._upload_id,
            changes=changes,
        )

    def _check_source_quick(
        self, fingerprint: SourceFingerprint, reader: PartReader, extra: Iterable[str] = ()
    ) -> None:
        changes = list(extra)
        try:
            now = os.stat(self.filename)
        except OSError as err:
            changes.append(f"the path cannot be read any more ({err.strerror or err})")
        else:
            opened = reader.stat()
            if (now.st_ino, now.st_dev) != (opened.st_ino, opened.st_dev):
                changes.append("the path now names another file")
            if now.st_size != fingerprint.size:
                changes.append(f"size {fingerprint.size} -> {now.st_size} bytes")
            if now.st_mtime_ns != fingerprint.mtime_ns:
                changes.append(f"mtime {fingerprint.mtime_ns} -> {now.st_mtime_ns} ns")
        if changes:
            raise self._source_changed(fingerprint, changes)

    def _check_source_full(self, fingerprint: SourceFingerprint, reader: PartReader) -> None:
        self._check_source_quick(fingerprint, reader)
        changes = fingerprint.differences(SourceFingerprint.of_file(self.filename))
        if changes:
            raise self._source_changed(fingerprint, changes)
