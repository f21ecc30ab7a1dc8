"""
:class:`ServerSideCopier`: copy an object within or across buckets without its bytes passing
through this process, resumable across retries.

- A source up to ``config.threshold`` (and never above 5 GiB, OSS's single-copy limit) is copied by
  one CopyObject; a bigger one by InitiateMultipartUpload, UploadPartCopy of its ranges
  (``config.part_size``, ``config.parallelism`` at once) and CompleteMultipartUpload.
- The source is HEADed first: its size, ETag and CRC-64 are its identity. Every copy request carries
  ``x-oss-copy-source-if-match: <ETag>``, so a source replaced mid-copy fails the request
  (:class:`CopySourceChangedError`) instead of mixing versions; the checkpoint keeps the identity,
  so a retry that finds another version aborts the old upload (its own) and starts again.
- The checkpoint is saved before the first part: a retry lists the upload's parts (ListParts; OSS is
  the truth) and copies only the missing ones. Every part of that upload was copied pinned to the
  same ETag and range plan, so a listed part of the planned size holds the right bytes; the parts'
  CRC-64s must also combine to the source's before completing (one re-copy of the reused parts is
  tried before failing), and the completed object's CRC-64 must be the source's.
- Only the upload this run started, or the one its own checkpoint names, is ever aborted; a damaged
  record, or another writer's upload found by discovery, is left alone.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.copy.calls import (
    MAX_SINGLE_COPY,
    CopiedPart,
    SourceObject,
    copy_object,
    head_source,
)
from airflow_provider_oss.copy.checkpoint import CopyCheckpoint
from airflow_provider_oss.copy.errors import (
    CopyDestinationError,
    CopySourceChangedError,
    CopySourceMissingError,
)
from airflow_provider_oss.copy.parts import ConfirmationSaver, PartCopier, usable_parts
from airflow_provider_oss.copy.recovery import CopyRecovery
from airflow_provider_oss.copy.result import CopyOutcome
from airflow_provider_oss.copy.stores import CopyDiscoveryStore
from airflow_provider_oss.copy.verify import check_object_crc, prove_parts
from airflow_provider_oss.core.errors import OssNotFoundError, OssPreconditionError
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.object_match import options_digest
from airflow_provider_oss.upload.plan import PartPlan, plan_parts

if TYPE_CHECKING:
    from airflow_provider_oss.copy.stores import CopyCheckpointStore
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import ObjectOptions, PartInfo

log = logging.getLogger(__name__)
LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


class ServerSideCopier:
    """
    Copy ``oss://source_bucket/source_key`` to ``oss://bucket/key`` server-side.

    :param client: the OSS client (pool of at least ``config.parallelism + 1`` connections).
    :param source_bucket: the source bucket.
    :param source_key: the source key.
    :param bucket: the destination bucket.
    :param key: the destination key.
    :param config: part size, parallelism, threshold, traffic limit, checkpoint cadence.
    :param checkpoint_store: where the checkpoint lives (None: not resumable; a failed multipart copy
        then aborts its upload).
    :param options: the copy's properties (REPLACE); None keeps the source's.
    :param abort_on_failure: abort this run's upload when it fails (the final try).
    :param logger: where to log.
    :param source_version_id: copy this version of the source (a bucket with versioning); None:
        its current version.
    """

    def __init__(
        self,
        client: OssClient,
        source_bucket: str,
        source_key: str,
        bucket: str,
        key: str,
        *,
        config: TransferConfig | None = None,
        checkpoint_store: CopyCheckpointStore | None = None,
        options: ObjectOptions | None = None,
        abort_on_failure: bool = False,
        logger: LoggerLike | None = None,
        source_version_id: str | None = None,
    ) -> None:
        for name, value in (("source_bucket", source_bucket), ("source_key", source_key), ("bucket", bucket)):
            if not value:
                raise ValueError(f"{name} must not be empty.")
        if not key:
            raise ValueError("key must not be empty.")
        if (source_bucket, source_key) == (bucket, key) and options is None and source_version_id is None:
            raise ValueError(
                f"Copying oss://{bucket}/{key} onto itself without new properties changes nothing: give "
                "another destination, or options to rewrite its metadata."
            )
        self.client = client
        self.source_bucket = source_bucket
        self.source_key = source_key
        self.source_version_id = source_version_id
        self.bucket = bucket
        self.key = key
        self.config = config if config is not None else TransferConfig()
        self.store = checkpoint_store
        self.options = options
        self.abort_on_failure = abort_on_failure
        self.logger: LoggerLike = logger or log
        self.recovery = CopyRecovery(
            client, checkpoint_store, (source_bucket, source_key, bucket, key), self._digest(), self.logger
        )
        self._started = 0.0

    @property
    def target(self) -> str:
        """``oss://bucket/key`` of the copy."""
        return f"oss://{self.bucket}/{self.key}"

    def _digest(self) -> str | None:
        return options_digest(self.options) if self.options is not None else None

    def _outcome(
        self, source: SourceObject, etag: str, crc64: int | None, method: str, **kw: Any
    ) -> CopyOutcome:
        outcome = CopyOutcome(
            source.url,
            self.target,
            source.size,
            etag,
            crc64,
            method,
            seconds=time.monotonic() - self._started,
            **kw,
        )
        outcome.resumed = outcome.parts_reused > 0 or method == "already_complete"
        return outcome

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> CopyOutcome:
        """
        Copy (continuing the checkpointed upload when there is a usable one).

        :raises CopySourceMissingError: no such source object or bucket.
        :raises CopyDestinationError: no such destination bucket.
        :raises CopySourceChangedError: the source was replaced during this run (nothing completed).
        :raises CrcMismatchError: the copy's CRC-64 is not the source's.
        """
        self._started = time.monotonic()
        source = self._head_source()
        checkpoint = self.recovery.load()
        if checkpoint is not None and checkpoint.completed is not None:
            info = self.recovery.completed_earlier(checkpoint, source)
            if info is not None:
                return self._outcome(
                    source, info.etag, info.crc64, "already_complete", upload_id=checkpoint.upload_id
                )
            checkpoint = None
        single = source.size <= min(self.config.threshold, MAX_SINGLE_COPY)
        if single:
            if checkpoint is not None:
                self.recovery.abort_own(checkpoint.upload_id, "the source now goes in one CopyObject")
            return self._single(source)
        plan = plan_parts(source.size, self.config.part_size)
        if checkpoint is not None:
            stale = self.recovery.why_stale(checkpoint, source, plan)
            if stale is None:
                return self._resume(checkpoint, source, plan)
            self.logger.warning("The copy checkpoint no longer applies: %s. Starting the copy again.", stale)
            self.recovery.abort_own(checkpoint.upload_id, stale)
        elif isinstance(self.store, CopyDiscoveryStore):
            found = self.store.adoptable(source, plan, traffic_limit=self.config.traffic_limit)
            if found is not None:
                upload_id, usable = found
                return self._copy_parts(source, plan, self._checkpoint(source, plan, upload_id), usable)
        return self._fresh(source, plan)

    # -- the source and the record ---------------------------------------------------------------

    def _head_source(self) -> SourceObject:
        try:
            return head_source(self.client, self.source_bucket, self.source_key, self.source_version_id)
        except OssNotFoundError as err:
            version = "" if self.source_version_id is None else f" version {self.source_version_id!r}"
            raise CopySourceMissingError(
                f"The copy source oss://{self.source_bucket}/{self.source_key}{version} does not exist "
                f"({err.code or 'HTTP 404: no such key, version or bucket'}): check the source bucket, "
                "key and version."
            ) from None

    # -- one CopyObject --------------------------------------------------------------------------

    def _single(self, source: SourceObject) -> CopyOutcome:
        try:
            copied = copy_object(self.client, source, self.bucket, self.key, options=self.options)
        except OssPreconditionError as err:
            raise CopySourceChangedError(
                f"The copy source {source.url} changed during the copy (it is no longer ETag {source.etag}: "
                f"{err.code or 'PreconditionFailed'}); nothing was written. Retry to copy the new version.",
                source=source.url,
                etag=source.etag,
                upload_id=None,
            ) from None
        except OssNotFoundError as err:
            raise self._not_found(err) from None
        check_object_crc(source, copied.crc64, self.target, self.logger)
        self.logger.info(
            "Copied %s to %s with one CopyObject (%d bytes).", source.url, self.target, source.size
        )
        return self._outcome(source, copied.etag, copied.crc64, "CopyObject", parts_copied=1)

    def _not_found(self, err: OssNotFoundError) -> Exception:
        if err.code == "NoSuchBucket" and self.bucket != self.source_bucket:
            return CopyDestinationError(
                f"The destination bucket {self.bucket!r} does not exist (NoSuchBucket): check the destination "
                "bucket name (and that it is in the source's region)."
            )
        if err.code in ("NoSuchKey", "NoSuchBucket"):
            return CopySourceMissingError(
                f"The copy source oss://{self.source_bucket}/{self.source_key} disappeared during the copy "
                f"({err.code})."
            )
        return err

    # -- multipart -------------------------------------------------------------------------------

    def _checkpoint(self, source: SourceObject, plan: PartPlan, upload_id: str) -> CopyCheckpoint:
        return CopyCheckpoint(
            source_bucket=self.source_bucket,
            source_key=self.source_key,
            source=source.identity(),
            bucket=self.bucket,
            key=self.key,
            upload_id=upload_id,
            part_size=plan.part_size,
            options_digest=self._digest(),
        )

    def _fresh(self, source: SourceObject, plan: PartPlan) -> CopyOutcome:
        options = self.options if self.options is not None else source.options()
        try:
            upload_id = self.client.initiate_multipart_upload(self.bucket, self.key, options=options)
        except OssNotFoundError as err:
            raise self._not_found(err) from None
        checkpoint = self._checkpoint(source, plan, upload_id)
        try:
            self.recovery.save(checkpoint)  # before the first part: a retry always finds its upload
        except BaseException:
            self.recovery.abort_own(upload_id, "its checkpoint could not be saved", raise_errors=False)
            raise
        self.logger.info(
            "Started multipart copy upload ID %s of %s (%d bytes) to %s: %s, %d in parallel; checkpoint: %s.",
            upload_id,
            source.url,
            source.size,
            self.target,
            plan.describe(),
            self.config.parallelism,
            self.recovery.describe(),
        )
        return self._copy_parts(source, plan, checkpoint, {})

    def _resume(self, checkpoint: CopyCheckpoint, source: SourceObject, plan: PartPlan) -> CopyOutcome:
        try:
            listed = list(self.client.list_parts(self.bucket, self.key, checkpoint.upload_id))
        except OssNotFoundError:
            info = self.recovery.already_copied(source)
            if info is not None:
                return self._outcome(
                    source, info.etag, info.crc64, "already_complete", upload_id=checkpoint.upload_id
                )
            self.logger.warning(
                "Upload ID %s of the copy checkpoint is gone (aborted or expired): starting again.",
                checkpoint.upload_id,
            )
            self.recovery.forget()
            return self._fresh(source, plan)
        usable = usable_parts(listed, plan)
        self.logger.info(
            "Resuming copy upload ID %s (%s): %d of %d parts already in OSS; copying %d.",
            checkpoint.upload_id,
            self.recovery.describe(),
            len(usable),
            plan.part_count,
            plan.part_count - len(usable),
        )
        return self._copy_parts(source, plan, checkpoint, usable)

    def _copy_parts(
        self,
        source: SourceObject,
        plan: PartPlan,
        checkpoint: CopyCheckpoint,
        listed: dict[int, PartInfo],
    ) -> CopyOutcome:
        upload_id = checkpoint.upload_id
        saver = ConfirmationSaver(
            lambda confirmed: self.recovery.save(checkpoint.with_confirmed(confirmed)),
            part_count=plan.part_count,
            interval=self.config.checkpoint_save_interval,
            confirmed=checkpoint.confirmed_parts,
        )
        copier = PartCopier(
            self.client,
            source,
            self.bucket,
            self.key,
            upload_id,
            parallelism=self.config.parallelism,
            traffic_limit=self.config.traffic_limit,
            on_confirmed=lambda part: saver.confirm(part.number, part.crc64),
            logger=self.logger,
        )
        confirmed = checkpoint.confirmed_parts
        # Per part: a listed part whose CRC-64 differs from the one OSS confirmed when it was copied is copied again.
        parts: dict[int, CopiedPart] = {
            n: CopiedPart(n, p.etag, p.size, p.crc64)
            for n, p in listed.items()
            if confirmed.get(n) is None or p.crc64 is None or confirmed[n] == p.crc64
        }
        reused = set(parts)
        try:
            parts.update(copier.run([p for p in plan if p.number not in parts]))
            parts = prove_parts(self.client, source, plan, copier, parts, reused)
            saver.flush()
            completed = self.client.complete_multipart_upload(
                self.bucket,
                self.key,
                upload_id,
                [(n, parts[n].etag) for n in sorted(parts)],
                expected_crc64=source.crc64,
                expected_size=source.size,
            )
        except BaseException as err:
            if isinstance(err, Exception):
                saver.flush()
            self._on_failure(err, upload_id)
            raise
        check_object_crc(source, completed.crc64, self.target, self.logger)
        self.recovery.finish(checkpoint, completed.etag, completed.crc64, self.config.completed_retention)
        reused_count = plan.part_count - len(copier.numbers)
        self.logger.info(
            "Copied %s to %s: upload ID %s, %d parts (%d copied by this run, %d reused from an earlier try).",
            source.url,
            self.target,
            upload_id,
            plan.part_count,
            len(copier.numbers),
            reused_count,
        )
        return self._outcome(
            source,
            completed.etag,
            completed.crc64,
            "UploadPartCopy",
            upload_id=upload_id,
            parts_total=plan.part_count,
            parts_copied=copier.requests,
            parts_reused=reused_count,
        )

    def _on_failure(self, err: BaseException, upload_id: str) -> None:
        if not isinstance(err, Exception):
            self.logger.warning(
                "Copy upload ID %s of %s was interrupted; it is kept for a retry.", upload_id, self.target
            )
            return
        if self.abort_on_failure or self.store is None:  # discovery finds a kept upload again
            why = "abort_on_failure=True" if self.abort_on_failure else "no checkpoint store could resume it"
            # the original failure is what the caller needs: a failed abort is only logged
            self.recovery.abort_own(upload_id, f"the copy failed and {why}", raise_errors=False)
            return
        self.logger.warning(
            "Copy upload ID %s of %s failed and is kept with its checkpoint: the next try continues it and copies "
            "only the missing parts. To abort it instead: oss-uploads abort %s %s; until then its parts are "
            "billed as storage.",
            upload_id,
            self.target,
            self.target,
            upload_id,
        )
