"""What a finished download did: :class:`DownloadResult`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.crc64 import format_crc

if TYPE_CHECKING:
    from airflow_provider_oss.download.record import ObjectIdentity


@dataclass(frozen=True)
class DownloadResult:
    """
    A verified download.

    :param bucket: the bucket.
    :param key: the object key.
    :param path: the destination file (absolute).
    :param size: bytes in the file.
    :param etag: the object's ETag.
    :param crc64: the file's CRC-64 (the object's), or None when the server reported none.
    :param ranges_total: ranges of the plan.
    :param ranges_reused: ranges an earlier try had written (re-read and CRC-checked).
    :param ranges_fetched: ranges this try downloaded.
    :param bytes_fetched: bytes this try downloaded.
    :param bytes_reused: bytes reused from an earlier try.
    :param resumed: True when this try built on what an earlier try left: it reused at least one
        range (``ranges_reused > 0``) or found the file already complete; False when it fetched
        every byte itself, even if it found (and could not use) an earlier try's record.
    :param elapsed: seconds this try took.
    :param already_complete: an earlier try had finished the file (renamed it, killed before
        deleting its checkpoint): this try verified the destination's CRC-64 and fetched nothing.
    """

    bucket: str
    key: str
    path: str
    size: int
    etag: str
    crc64: int | None
    ranges_total: int
    ranges_reused: int
    ranges_fetched: int
    bytes_fetched: int
    bytes_reused: int
    resumed: bool
    elapsed: float
    already_complete: bool = False

    @classmethod
    def of_object(
        cls,
        bucket: str,
        key: str,
        path: str,
        identity: ObjectIdentity,
        *,
        ranges_total: int,
        ranges_reused: int,
        bytes_reused: int,
        elapsed: float,
        already_complete: bool = False,
    ) -> DownloadResult:
        """
        The result of downloading the object version ``identity`` to ``path``: what was fetched is
        what was not reused; ``resumed`` is whether anything was reused (or nothing needed).
        """
        return cls(
            bucket=bucket,
            key=key,
            path=path,
            size=identity.size,
            etag=identity.etag,
            crc64=identity.crc64,
            ranges_total=ranges_total,
            ranges_reused=ranges_reused,
            ranges_fetched=ranges_total - ranges_reused,
            bytes_fetched=identity.size - bytes_reused,
            bytes_reused=bytes_reused,
            resumed=ranges_reused > 0 or already_complete,
            elapsed=elapsed,
            already_complete=already_complete,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for XCom): the CRC-64 as a decimal string, since JSON readers lose 64-bit integers."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "path": self.path,
            "size": self.size,
            "etag": self.etag,
            "crc64": None if self.crc64 is None else format_crc(self.crc64),
            "ranges_total": self.ranges_total,
            "ranges_reused": self.ranges_reused,
            "ranges_fetched": self.ranges_fetched,
            "bytes_fetched": self.bytes_fetched,
            "bytes_reused": self.bytes_reused,
            "resumed": self.resumed,
            "elapsed": round(self.elapsed, 3),
            "already_complete": self.already_complete,
        }
