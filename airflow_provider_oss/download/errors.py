"""Errors of the resumable download. None of them carries a credential."""

from __future__ import annotations

from airflow_provider_oss.core.errors import OssError


class DownloadError(OssError):
    """Base class of the resumable download's own errors."""


class DestinationError(DownloadError):
    """The destination cannot be written: its directory is missing, not writable, or it is a directory."""


class DownloadInProgressError(DownloadError):
    """Another process holds the lock of the same destination's temporary file (a second downloader)."""


class ObjectChangedError(DownloadError):
    """
    The object changed while it was being downloaded (its ETag, size or CRC-64 is no longer the one
    recorded at the start). The temporary file and the checkpoint were discarded, so the next try
    downloads the new object from the start; no file mixing two versions is ever produced.

    :param message: what changed and what happens next.
    :param bucket: the bucket.
    :param key: the object key.
    """

    def __init__(self, message: str, *, bucket: str, key: str) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key


class RangeFetchError(DownloadError):
    """
    A byte range could not be downloaded after the client's retries; the download stopped there
    (the ranges already written stay in the checkpoint for the next try). The cause is ``__cause__``.

    :param message: which range failed and why.
    :param part_number: the range's number (from 1).
    """

    def __init__(self, message: str, *, part_number: int) -> None:
        super().__init__(message)
        self.part_number = part_number
