"""Errors of the resumable upload engine. None of them carries a credential."""

from __future__ import annotations

from airflow_provider_oss.core.errors import OssError


class UploadError(OssError):
    """Base class of the upload engine's own errors."""


class SourceFileError(UploadError):
    """The source file cannot be used: missing, not a regular file, or unreadable."""


class SourceChangedError(UploadError):
    """
    The source file changed while it was being uploaded; the upload was not completed, so no object
    mixes old and new bytes.

    :param message: what changed and what happens next.
    :param upload_id: the multipart upload that was left incomplete (or aborted).
    :param changes: the differences found (size, mtime, sampled content, short read).
    """

    def __init__(
        self, message: str, *, upload_id: str | None = None, changes: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.upload_id = upload_id
        self.changes = list(changes or [])


class ObjectExistsError(UploadError):
    """``replace=False`` and the destination object already exists."""

    def __init__(self, message: str, *, bucket: str, key: str) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key


class PartUploadError(UploadError):
    """
    A part could not be uploaded after the client's retries; the upload stopped there. The
    original error is the ``__cause__``.

    :param message: which part of which upload failed, why, and what happens next.
    :param part_number: the failed part.
    :param upload_id: the multipart upload.
    """

    def __init__(self, message: str, *, part_number: int, upload_id: str) -> None:
        super().__init__(message)
        self.part_number = part_number
        self.upload_id = upload_id


class UploadGoneError(UploadError):
    """
    The multipart upload disappeared while this try was using it (aborted by another try, removed
    by a lifecycle rule, or completed by a concurrent try) and the object now in OSS is not the local file.
    """

    def __init__(self, message: str, *, upload_id: str) -> None:
        super().__init__(message)
        self.upload_id = upload_id


class CheckpointCorruptError(UploadError, ValueError):
    """
    A checkpoint record that cannot be trusted: unreadable, not JSON, an unknown format version, or
    a field missing or of the wrong type. The engine logs why and starts a clean upload.

    :param message: what is wrong.
    :param salvage: ``bucket``, ``key`` and ``upload_id`` when they could still be read from the
        record, so that the engine can abort the upload it names.
    """

    def __init__(self, message: str, *, salvage: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.salvage = dict(salvage or {})
