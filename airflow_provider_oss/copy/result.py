"""What a server-side copy did: :class:`CopyOutcome` (and its XCom-ready dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class CopyOutcome:
    """
    The result of one run of a server-side copy.

    :param source: ``oss://bucket/key`` of the source.
    :param destination: ``oss://bucket/key`` of the copy.
    :param size: bytes in the object.
    :param etag: the copy's ETag.
    :param crc64: the copy's CRC-64 (None only when OSS reported none for the source).
    :param method: ``CopyObject`` (one request), ``UploadPartCopy`` (multipart) or ``already_complete``
        (an earlier try had completed it: nothing was copied).
    :param upload_id: the multipart upload ID (None for CopyObject).
    :param parts_total: parts in the plan (1 for CopyObject).
    :param parts_copied: parts this run copied (UploadPartCopy requests that succeeded).
    :param parts_reused: parts an earlier try had copied, found in OSS and kept.
    :param resumed: True when this run built on what an earlier try left: it reused at least one
        part (``parts_reused > 0``) or found the copy already complete (``method ==
        "already_complete"``); False when it copied every byte itself.
    :param seconds: the run's duration.
    """

    source: str
    destination: str
    size: int
    etag: str
    crc64: int | None
    method: str
    upload_id: str | None = None
    parts_total: int = 1
    parts_copied: int = 0
    parts_reused: int = 0
    resumed: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for XCom): the CRC-64 as a decimal string, since JSON readers lose 64-bit integers."""
        return {
            "source": self.source,
            "destination": self.destination,
            "size": self.size,
            "etag": self.etag,
            "crc64": None if self.crc64 is None else str(self.crc64),
            "method": self.method,
            "upload_id": self.upload_id,
            "parts_total": self.parts_total,
            "parts_copied": self.parts_copied,
            "parts_reused": self.parts_reused,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
        }
