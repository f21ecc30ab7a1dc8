"""The server-side copy's own errors: each names what to check or fix."""

from __future__ import annotations

from airflow_provider_oss.core.errors import OssError


class CopyError(OssError):
    """Base class of the copy engine's errors."""


class CopySourceMissingError(CopyError):
    """The source object (or its bucket) does not exist."""


class CopyDestinationError(CopyError):
    """The destination cannot be written (no such bucket)."""


class CopySourceChangedError(CopyError):
    """
    The source was replaced while it was being copied (a part's ``x-oss-copy-source-if-match``
    failed): nothing was completed.

    :param source: ``oss://bucket/key`` of the source.
    :param etag: the ETag the copy was pinned to.
    :param upload_id: the multipart upload kept for the next try (None for a single CopyObject).
    """

    def __init__(self, message: str, *, source: str, etag: str, upload_id: str | None) -> None:
        super().__init__(message)
        self.source = source
        self.etag = etag
        self.upload_id = upload_id

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (str(self), self.source, self.etag, self.upload_id))


def _rebuild(message: str, source: str, etag: str, upload_id: str | None) -> CopySourceChangedError:
    return CopySourceChangedError(message, source=source, etag=etag, upload_id=upload_id)
