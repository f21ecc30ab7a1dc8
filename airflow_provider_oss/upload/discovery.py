"""
A checkpoint store that keeps nothing: a retry finds the upload to continue by asking OSS.

Where no state survives a failed try (Airflow 3.0-3.2 have no ``task_state_store``, and there may be
no volume shared by the workers), OSS itself still holds the in-progress multipart upload:
ListMultipartUploads names it and ListParts lists its parts. Other writers' uploads of the same key
are in that list too, so:

- a first try never adopts anything (``retry=False``): it starts its own upload and leaves every
  other one alone;
- a retry adopts only an upload that proves to hold this file (every listed part is the local bytes,
  by size and CRC-64; see :mod:`~airflow_provider_oss.upload.adoption`), and never aborts one that
  does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from typing import Any

from airflow_provider_oss.upload.adoption import LeftUpload, find_own_upload
from airflow_provider_oss.upload.api import UploadAPI
from airflow_provider_oss.upload.checkpoint import Checkpoint, CheckpointCorruptError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.plan import plan_parts

log = logging.getLogger(__name__)


class UploadDiscoveryStore:
    """
    Recover this task's upload from OSS's list of in-progress multipart uploads.

    :param client: the OSS client.
    :param bucket: the destination bucket.
    :param key: the destination key; only uploads of exactly this key are considered.
    :param filename: the local source file.
    :param part_size: the requested part size (the plan grows it the same way on every try).
    :param retry: whether this run is a retry (Airflow's ``try_number > 1``): only a retry adopts.
    :param logger: where to say what was adopted or left alone.
    """

    #: There is no record to re-read or delete after the upload completes.
    keeps_record = False

    def __init__(
        self,
        client: UploadAPI,
        bucket: str,
        key: str,
        filename: str,
        part_size: int,
        *,
        retry: bool,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.filename = os.path.abspath(filename)
        self.part_size = part_size
        self.retry = retry
        self.logger = logger if logger is not None else log
        #: The in-progress uploads of the key that :meth:`load` left alone (never aborted).
        self.left_in_progress: tuple[LeftUpload, ...] = ()

    def __repr__(self) -> str:
        return f"UploadDiscoveryStore(oss://{self.bucket}/{self.key}, retry={self.retry})"

    def describe(self) -> str:
        """Say where the "checkpoint" comes from, for the log."""
        return f"OSS's in-progress uploads of oss://{self.bucket}/{self.key} (ListMultipartUploads)"

    def load(self) -> Checkpoint | None:
        """
        On a retry, a checkpoint for the in-progress upload of the key that proves to hold this
        file, with the proven parts as confirmed; None on a first try or when none proves itself.
        """
        if not self.retry:
            return None
        fingerprint = SourceFingerprint.of_file(self.filename)
        if not fingerprint.size:
            return None
        plan = plan_parts(fingerprint.size, self.part_size)
        found = find_own_upload(self.client, self.bucket, self.key, self.filename, plan, logger=self.logger)
        self.left_in_progress = found.left
        adopted = found.adopted
        if adopted is None:
            return None
        checkpoint = adopted.checkpoint(self.bucket, self.key, self.filename, plan, fingerprint)
        if adopted.initiated is not None:
            with contextlib.suppress(CheckpointCorruptError):  # a time OSS gave without a zone: keep ours
                checkpoint = dataclasses.replace(checkpoint, created_at=adopted.initiated)
        return checkpoint

    def save(self, checkpoint: Checkpoint) -> None:
        """Nothing to write: OSS keeps the in-progress upload, and that is what a retry finds."""

    def delete(self) -> None:
        """Nothing to delete: a completed or aborted upload leaves OSS's list by itself."""
