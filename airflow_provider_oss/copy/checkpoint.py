"""
The checkpoint of a resumable server-side copy.

Saved right after InitiateMultipartUpload, before any part is copied: the source (bucket, key and
the version's identity: size, ETag, CRC-64), the destination, the upload ID and the part size. While
parts are copied it is rewritten now and then with ``confirmed_parts`` (part number -> the CRC-64 OSS
reported for it). A retry compares the source's identity with a HEAD of the source: another version
means the old upload is aborted (it is this record's own) and the copy starts again. It never holds
credentials, endpoints or tokens.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_oss.upload.checkpoint import (
    MAX_RECORD_BYTES,
    CompletedMark,
    decode_confirmed,
    encode_confirmed,
)
from airflow_provider_oss.upload.errors import CheckpointCorruptError
from airflow_provider_oss.upload.plan import MAX_PART_SIZE, MIN_PART_SIZE

__all__ = ["COPY_FORMAT", "MAX_RECORD_BYTES", "CopyCheckpoint"]

#: The ``kind`` and version of a copy record (an upload's record has no ``kind``).
COPY_FORMAT = "oss-copy-1"
_FIELDS = (
    "kind",
    "source_bucket",
    "source_key",
    "source",
    "bucket",
    "key",
    "upload_id",
    "part_size",
    "created_at",
    "options_digest",
    "confirmed_parts",
    "completed",
)
_PRINTABLE = re.compile(r"^[\x21-\x7e]{1,1024}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CopyCheckpoint:
    """
    The record that lets a new process continue a multipart copy.

    :param source_bucket: the source bucket.
    :param source_key: the source key.
    :param source: the source version's identity: ``{"size", "etag", "crc64"}`` (CRC-64 as a decimal
        string or None).
    :param bucket: the destination bucket.
    :param key: the destination key.
    :param upload_id: the multipart upload ID.
    :param part_size: the part size of the plan.
    :param created_at: ISO-8601 UTC time of the copy's start.
    :param options_digest: SHA-256 of the destination's properties (None: the source's kept).
    :param confirmed_parts: part number -> CRC-64 OSS reported for the part.
    :param completed: set once the copy completed (the object's CRC-64 and ETag, and until when).
    """

    source_bucket: str
    source_key: str
    source: dict[str, Any]
    bucket: str
    key: str
    upload_id: str
    part_size: int
    created_at: str = field(default_factory=_utc_now)
    options_digest: str | None = None
    confirmed_parts: dict[int, int] = field(default_factory=dict)
    completed: CompletedMark | None = None

    def __post_init__(self) -> None:
        _validate(self.to_dict())

    @property
    def source_size(self) -> int:
        """The source version's size."""
        return int(self.source["size"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": COPY_FORMAT,
            "source_bucket": self.source_bucket,
            "source_key": self.source_key,
            "source": dict(self.source),
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "part_size": self.part_size,
            "created_at": self.created_at,
            "options_digest": self.options_digest,
            "confirmed_parts": encode_confirmed(self.confirmed_parts),
            "completed": self.completed.to_dict() if self.completed is not None else None,
        }

    def to_json(self) -> str:
        """The record as a JSON document."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, data: Any) -> CopyCheckpoint:
        """
        Rebuild a record strictly.

        :raises CheckpointCorruptError: not a copy record, or a missing, extra or invalid field.
        """
        _validate(data)
        return cls(
            source_bucket=data["source_bucket"],
            source_key=data["source_key"],
            source=dict(data["source"]),
            bucket=data["bucket"],
            key=data["key"],
            upload_id=data["upload_id"],
            part_size=data["part_size"],
            created_at=data["created_at"],
            options_digest=data["options_digest"],
            confirmed_parts=decode_confirmed(data["confirmed_parts"]),
            completed=CompletedMark.from_dict(data["completed"]) if data["completed"] is not None else None,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> CopyCheckpoint:
        """
        Parse a record.

        :raises CheckpointCorruptError: not JSON, too large, or not a valid copy record.
        """
        if len(text) > MAX_RECORD_BYTES:
            raise CheckpointCorruptError(f"the copy checkpoint is larger than any ({MAX_RECORD_BYTES} bytes)")
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise CheckpointCorruptError(f"the copy checkpoint is not valid JSON ({err})") from None
        except RecursionError:
            raise CheckpointCorruptError("the copy checkpoint is JSON nested too deeply to be ours") from None
        return cls.from_dict(data)

    def with_confirmed(self, confirmed: dict[int, int]) -> CopyCheckpoint:
        """This record with ``confirmed_parts`` replaced by a copy of ``confirmed``."""
        return dataclasses.replace(self, confirmed_parts=dict(confirmed))

    def with_completed(self, mark: CompletedMark) -> CopyCheckpoint:
        """This record marked completed."""
        return dataclasses.replace(self, completed=mark, confirmed_parts={})

    def describe(self) -> str:
        """One line for logs."""
        return (
            f"upload ID {self.upload_id} copying oss://{self.source_bucket}/{self.source_key} "
            f"(ETag {self.source['etag']}, {self.source['size']} bytes) to oss://{self.bucket}/{self.key} "
            f"in parts of {self.part_size}, started {self.created_at}"
        )


def _bad(reason: str) -> CheckpointCorruptError:
    return CheckpointCorruptError(f"invalid copy checkpoint: {reason}")


def _validate(data: Any) -> None:
    if not isinstance(data, dict):
        raise CheckpointCorruptError(f"a copy checkpoint is a JSON object, not {type(data).__name__}")
    if data.get("kind") != COPY_FORMAT:
        raise _bad(
            f"kind must be {COPY_FORMAT!r} (is it another transfer's record?); got {data.get('kind')!r}"
        )
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise _bad(f"missing field(s) {', '.join(missing)}")
    extra = sorted(map(str, set(data) - set(_FIELDS)))
    if extra:
        raise _bad(f"unknown field(s) {', '.join(extra)}")
    _validate_names(data)
    _validate_source(data["source"])
    _validate_progress(data)


def _validate_names(data: dict[str, Any]) -> None:
    for name in ("source_bucket", "source_key", "bucket", "key", "created_at"):
        if not isinstance(data[name], str) or not data[name]:
            raise _bad(f"{name} must be a non-empty string")
    if not isinstance(data["upload_id"], str) or not _PRINTABLE.match(data["upload_id"]):
        raise _bad("upload_id must be 1-1024 printable ASCII characters without spaces")
    if not _is_int(data["part_size"]) or not MIN_PART_SIZE <= data["part_size"] <= MAX_PART_SIZE:
        raise _bad(f"part_size must be an int from {MIN_PART_SIZE} to {MAX_PART_SIZE}")
    digest = data["options_digest"]
    if digest is not None and (not isinstance(digest, str) or not _HEX64.match(digest)):
        raise _bad("options_digest must be null or 64 lower-case hex digits")


def _validate_source(source: Any) -> None:
    if not isinstance(source, dict) or sorted(source) != ["crc64", "etag", "size"]:
        raise _bad("source must be an object with exactly size, etag and crc64")
    if not _is_int(source["size"]) or source["size"] < 0:
        raise _bad("source.size must be a non-negative int")
    if not isinstance(source["etag"], str) or not _PRINTABLE.match(source["etag"]):
        raise _bad("source.etag must be printable ASCII")
    crc = source["crc64"]
    if crc is not None and (
        not isinstance(crc, str) or not crc.isascii() or not crc.isdigit() or int(crc) >= 1 << 64
    ):
        raise _bad("source.crc64 must be null or the decimal string of a 64-bit CRC")


def _validate_progress(data: dict[str, Any]) -> None:
    try:
        created = datetime.fromisoformat(data["created_at"])
    except ValueError:
        raise _bad("created_at must be an ISO-8601 time") from None
    if created.tzinfo is None:
        raise _bad("created_at must carry a time zone")
    try:
        decode_confirmed(data["confirmed_parts"])
    except ValueError as err:
        raise _bad(str(err)) from None
    completed = data["completed"]
    if completed is not None and not isinstance(completed, CompletedMark):
        try:
            CompletedMark.from_dict(completed)
        except ValueError as err:
            raise _bad(str(err)) from None
