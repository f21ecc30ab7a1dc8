"""What an upload run returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class UploadResult:
    """
    What :meth:`ResumableUploader.run` did.

    :param bucket: the bucket.
    :param key: the object key.
    :param etag: the object's ETag.
    :param crc64: the object's CRC-64 (as OSS reports it, checked against the local bytes).
    :param size: the object's size.
    :param upload_id: the multipart upload ID (None for a single PutObject).
    :param parts_total: parts in the plan (1 for a single PutObject).
    :param parts_reused: parts an earlier try had stored, reused after a CRC-64 check.
    :param parts_sent: parts sent by this run.
    :param bytes_sent: bytes sent by this run.
    :param bytes_reused: bytes of the reused parts.
    :param resumed: True when this run continued an upload an earlier try had started.
    :param seconds: the run's duration.
    :param already_complete: True when an earlier try had already completed the object (nothing sent).
    :param parts_reused_without_reading: of ``parts_reused``, those the checkpoint had confirmed
        with the CRC-64 OSS lists, so the file was not read again for them.
    """

    bucket: str
    key: str
    etag: str
    crc64: int | None
    size: int
    upload_id: str | None
    parts_total: int
    parts_reused: int
    parts_sent: int
    bytes_sent: int
    bytes_reused: int
    resumed: bool
    seconds: float
    already_complete: bool = False
    parts_reused_without_reading: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for XCom); ``crc64`` is an int, ``seconds`` rounded to ms."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data
