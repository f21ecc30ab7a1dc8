"""
:class:`CopyRecovery`: what a copy makes of an earlier try, through its own checkpoint.

- The record is loaded only when it is valid and names this very copy (source and destination); a
  damaged record or another copy's is ignored, and nothing it names is ever aborted.
- A record of another source version, part size or options is stale: its upload (this copy's own) is
  aborted and the record forgotten.
- A completed mark, or a destination that already has the source's size and CRC-64 once the
  recorded upload is gone, means an earlier try finished: nothing is copied.
- On success the record is replaced by a completed mark (for ``completed_retention`` seconds) or
  deleted.

This is the only code that aborts an upload named by a record or deletes the record;
:class:`~airflow_provider_oss.copy.engine.ServerSideCopier` decides when.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.upload.checkpoint import CheckpointCorruptError, CompletedMark

if TYPE_CHECKING:
    from airflow_provider_oss.copy.calls import SourceObject
    from airflow_provider_oss.copy.checkpoint import CopyCheckpoint
    from airflow_provider_oss.copy.stores import CopyCheckpointStore
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import ObjectInfo
    from airflow_provider_oss.upload.plan import PartPlan

__all__ = ["CopyRecovery"]


class CopyRecovery:
    """
    The checkpoint side of one copy of ``oss://source_bucket/source_key`` to ``oss://bucket/key``.

    :param client: the OSS client.
    :param store: where the checkpoint lives (None: nothing is kept or recovered).
    :param names: ``(source_bucket, source_key, bucket, key)`` of the copy.
    :param options_digest: the digest of the copy's options (None: the source's are kept).
    :param logger: where to log.
    """

    def __init__(
        self,
        client: OssClient,
        store: CopyCheckpointStore | None,
        names: tuple[str, str, str, str],
        options_digest: str | None,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.client = client
        self.store = store
        self.names = names
        self.options_digest = options_digest
        self.logger = logger

    @property
    def bucket(self) -> str:
        """The destination bucket."""
        return self.names[2]

    @property
    def key(self) -> str:
        """The destination key."""
        return self.names[3]

    @property
    def target(self) -> str:
        """``oss://bucket/key`` of the copy."""
        return f"oss://{self.bucket}/{self.key}"

    @property
    def keeps_record(self) -> bool:
        """Whether there is a record to save and delete (not for no store or discovery)."""
        return self.store is not None and self.store.keeps_record

    def describe(self) -> str:
        """Where the record lives, for logs."""
        return self.store.describe() if self.store is not None else "none"

    # -- the record --------------------------------------------------------------------------------

    def load(self) -> CopyCheckpoint | None:
        """This copy's record, or None (none, damaged, or another copy's: all logged and left alone)."""
        if self.store is None:
            return None
        try:
            checkpoint = self.store.load()
        except CheckpointCorruptError as err:
            self.logger.warning(
                "Ignoring the damaged %s (%s): the copy starts its own upload; no upload it may name is aborted.",
                self.store.describe(),
                err,
            )
            return None
        if checkpoint is None:
            return None
        named = (checkpoint.source_bucket, checkpoint.source_key, checkpoint.bucket, checkpoint.key)
        if named != self.names:
            self.logger.warning(
                "The %s belongs to another copy (%s): it is left alone and replaced.",
                self.store.describe(),
                checkpoint.describe(),
            )
            return None
        return checkpoint

    def save(self, checkpoint: CopyCheckpoint) -> None:
        """Store ``checkpoint`` (nothing for no store or discovery)."""
        if self.store is not None and self.store.keeps_record:
            self.store.save(checkpoint)

    def forget(self) -> None:
        """Delete the record (nothing for no store or discovery)."""
        if self.store is not None and self.store.keeps_record:
            self.store.delete()

    def why_stale(self, checkpoint: CopyCheckpoint, source: SourceObject, plan: PartPlan) -> str | None:
        """Why ``checkpoint`` cannot be continued for ``source`` and ``plan`` (None: it can)."""
        if checkpoint.source != source.identity():
            was = checkpoint.source
            return (
                f"the source {source.url} changed between tries (was ETag {was['etag']}, {was['size']} bytes; "
                f"now ETag {source.etag}, {source.size} bytes)"
            )
        if checkpoint.part_size != plan.part_size:
            return f"the part size changed ({checkpoint.part_size} -> {plan.part_size})"
        if checkpoint.options_digest != self.options_digest:
            return "the copy's properties (options) changed"
        return None

    def abort_own(self, upload_id: str, why: str, *, raise_errors: bool = True) -> None:
        """
        Abort an upload of this copy (one gone already is fine) and forget its record: the one place
        the copy aborts its own uploads (discovery's scratch probe, aborted where it is made, aside).

        :param upload_id: the upload to abort.
        :param why: logged with the abort.
        :param raise_errors: False where a failed abort must not hide the caller's own failure: it is
            then logged, and the record is forgotten all the same.
        """
        try:
            self.client.abort_multipart_upload(self.bucket, self.key, upload_id)
            self.logger.warning("Aborted copy upload ID %s of %s: %s.", upload_id, self.target, why)
        except OssNotFoundError:
            pass
        except Exception as err:
            if raise_errors:
                raise
            self.logger.warning("Could not abort copy upload ID %s of %s: %s", upload_id, self.target, err)
        self.forget()

    # -- an earlier try that finished --------------------------------------------------------------

    def completed_earlier(self, checkpoint: CopyCheckpoint, source: SourceObject) -> ObjectInfo | None:
        """
        The destination's HeadObject when the record's completed mark still holds (same source version,
        the destination still the ETag and CRC-64 the mark recorded); None otherwise.
        """
        mark = checkpoint.completed
        if mark is None or mark.expired() or checkpoint.source != source.identity():
            return None
        try:
            info = self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        if info.etag != mark.etag or info.crc64 != mark.crc64:
            return None
        self.logger.info(
            "%s is already the copy of %s (ETag %s): an earlier try completed it; nothing to copy.",
            self.target,
            source.url,
            info.etag,
        )
        return info

    def already_copied(self, source: SourceObject) -> ObjectInfo | None:
        """The destination's HeadObject when it already holds the source's size and CRC-64 (else None)."""
        try:
            info = self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        if source.crc64 is None or info.size != source.size or info.crc64 != source.crc64:
            return None
        self.logger.info(
            "%s already holds the copy of %s (same size and CRC-64): nothing to copy.",
            self.target,
            source.url,
        )
        return info

    def finish(self, checkpoint: CopyCheckpoint, etag: str, crc64: int | None, retention: float) -> None:
        """
        The copy completed: keep a completed mark for ``retention`` seconds (a re-run then copies
        nothing), or delete the record when there is no retention or no CRC-64 to mark.
        """
        if not self.keeps_record or self.store is None:
            return
        mark = CompletedMark.for_retention(etag, crc64, retention) if crc64 is not None else None
        if mark is None:
            self.store.delete()
            return
        self.store.save(checkpoint.with_completed(mark))
