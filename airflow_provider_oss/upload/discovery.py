"""
A checkpoint store that keeps nothing: it finds the upload to continue by asking OSS.

Where no state survives a failed try (Airflow 3.0-3.2 have no ``task_state_store``, and there may be
no volume shared by the workers), OSS itself still holds the in-progress multipart upload:
ListMultipartUploads names it and ListParts lists its parts. This store hands the newest in-progress
upload of exactly this key to the engine, which reuses a listed part only when its size and CRC-64
equal the local bytes at that offset. So the object that is completed is always the local file, even
if the adopted upload had been started by another writer or for an older version of the file: such
parts simply do not match and are sent again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import timezone

from airflow_provider_oss.core.models import MultipartUploadInfo
from airflow_provider_oss.upload.api import UploadAPI
from airflow_provider_oss.upload.checkpoint import Checkpoint
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.plan import plan_parts

log = logging.getLogger(__name__)


class UploadDiscoveryStore:
    """
    Recover the upload to continue from OSS's list of in-progress multipart uploads.

    :param client: the OSS client.
    :param bucket: the destination bucket.
    :param key: the destination key; only uploads of exactly this key are considered.
    :param filename: the local source file.
    :param part_size: the requested part size (the plan grows it the same way on every try).
    """

    #: Nothing is stored: there is no record to update, re-read or delete after the upload completes.
    keeps_record = False

    def __init__(self, client: UploadAPI, bucket: str, key: str, filename: str, part_size: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.filename = os.path.abspath(filename)
        self.part_size = part_size

    def __repr__(self) -> str:
        return f"UploadDiscoveryStore(oss://{self.bucket}/{self.key})"

    def describe(self) -> str:
        """Say where the "checkpoint" comes from, for the log."""
        return f"OSS's in-progress uploads of oss://{self.bucket}/{self.key} (ListMultipartUploads)"

    def _uploads(self) -> list[MultipartUploadInfo]:
        return [
            u for u in self.client.list_multipart_uploads(self.bucket, prefix=self.key) if u.key == self.key
        ]

    def load(self) -> Checkpoint | None:
        """
        Return a checkpoint for the newest in-progress upload of the key, or None when there is none.

        The checkpoint carries the current file's fingerprint: whether each part can be reused is
        decided by the engine from the part's size and CRC-64, not from a stored record.
        """
        uploads = self._uploads()
        if not uploads:
            return None
        newest = max(uploads, key=lambda u: (u.initiated.timestamp() if u.initiated else 0.0, u.upload_id))
        if len(uploads) > 1:
            others = ", ".join(u.upload_id for u in uploads if u is not newest)
            log.warning(
                "%d in-progress uploads of oss://%s/%s: continuing the newest, %s; left alone: %s.",
                len(uploads),
                self.bucket,
                self.key,
                newest.upload_id,
                others,
            )
        fingerprint = SourceFingerprint.of_file(self.filename)
        plan = plan_parts(fingerprint.size, self.part_size) if fingerprint.size else None
        checkpoint = Checkpoint(
            bucket=self.bucket,
            key=self.key,
            upload_id=newest.upload_id,
            part_size=plan.part_size if plan else self.part_size,
            file_size=fingerprint.size,
            fingerprint=fingerprint,
            source_path=self.filename,
        )
        if newest.initiated is not None:
            started = newest.initiated.astimezone(timezone.utc).isoformat(timespec="seconds")
            checkpoint = replace(checkpoint, created_at=started)
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Nothing to write: OSS keeps the in-progress upload, and that is what a retry finds."""

    def delete(self) -> None:
        """Nothing to delete: a completed or aborted upload leaves OSS's list by itself."""
