"""
The checkpoint record of a resumable download: which object (its identity when the download
started), where it goes, how it is cut, and the CRC-64 of every range already written to the
temporary file. It never holds credentials, endpoints or tokens.

The record is parsed strictly: any missing, extra or ill-typed field, a range outside the plan or a
record of another kind (an upload's checkpoint) is a :class:`CheckpointCorruptError`, and the engine
then starts the download from scratch rather than trust it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_oss.core.models import ObjectInfo
from airflow_provider_oss.upload.checkpoint import MAX_RECORD_BYTES, decode_confirmed, encode_confirmed
from airflow_provider_oss.upload.errors import CheckpointCorruptError
from airflow_provider_oss.upload.plan import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE

__all__ = ["KIND", "DownloadCheckpoint", "ObjectIdentity"]

#: The ``kind`` field that tells a download record from an upload's.
KIND = "oss-download"
#: The format this code writes and reads.
FORMAT_VERSION = 1
_FIELDS = ("kind", "version", "bucket", "key", "destination", "part_size", "object", "done", "created_at")
_OBJECT_FIELDS = ("size", "etag", "crc64", "last_modified")
_CRC_MAX = (1 << 64) - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ObjectIdentity:
    """
    Which version of an object a download is of: what HeadObject said when it started.

    :param size: the size in bytes.
    :param etag: the ETag (without quotes); every ranged GET is sent with ``If-Match`` on it.
    :param crc64: the object's CRC-64 (None when the server reports none).
    :param last_modified: the ``Last-Modified`` time, ISO-8601 (None when absent).
    """

    size: int
    etag: str
    crc64: int | None
    last_modified: str | None

    @classmethod
    def from_info(cls, info: ObjectInfo) -> ObjectIdentity:
        """The identity of a HeadObject answer."""
        modified = info.last_modified.isoformat() if info.last_modified is not None else None
        return cls(info.size, info.etag, info.crc64, modified)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CRC-64 as a decimal string)."""
        return {
            "size": self.size,
            "etag": self.etag,
            "crc64": None if self.crc64 is None else str(self.crc64),
            "last_modified": self.last_modified,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ObjectIdentity:
        """
        Rebuild strictly.

        :raises CheckpointCorruptError: a missing, extra or invalid field.
        """
        if not isinstance(data, dict) or sorted(data) != sorted(_OBJECT_FIELDS):
            raise CheckpointCorruptError(f"object must have exactly the fields {', '.join(_OBJECT_FIELDS)}")
        size, etag, crc, modified = (data[name] for name in _OBJECT_FIELDS)
        if not _is_int(size) or size < 0:
            raise CheckpointCorruptError("object.size must be a non-negative integer")
        if not isinstance(etag, str) or not etag or not etag.isascii() or not etag.isprintable():
            raise CheckpointCorruptError("object.etag must be a non-empty printable ASCII string")
        if crc is not None and (
            not isinstance(crc, str) or not crc.isascii() or not crc.isdigit() or int(crc) > _CRC_MAX
        ):
            raise CheckpointCorruptError("object.crc64 must be null or the decimal string of a 64-bit CRC")
        if modified is not None and not isinstance(modified, str):
            raise CheckpointCorruptError("object.last_modified must be null or a string")
        return cls(size, etag, None if crc is None else int(crc), modified)

    def differences(self, other: ObjectIdentity) -> list[str]:
        """What differs between this identity and ``other`` (empty when they are the same version)."""
        return [
            f"{name} {getattr(self, name)!r} -> {getattr(other, name)!r}"
            for name in ("size", "etag", "crc64", "last_modified")
            if getattr(self, name) != getattr(other, name)
        ]


def _check_shape(data: Any) -> None:
    """A JSON object of this kind and version, with exactly the expected fields and non-empty names."""
    if not isinstance(data, dict):
        raise CheckpointCorruptError("the download checkpoint is not a JSON object")
    if data.get("kind") != KIND:
        raise CheckpointCorruptError(f"the record is not a download checkpoint (kind {data.get('kind')!r})")
    if data.get("version") != FORMAT_VERSION:
        raise CheckpointCorruptError(f"unknown download checkpoint version {data.get('version')!r}")
    if sorted(data) != sorted(_FIELDS):
        raise CheckpointCorruptError(
            f"the download checkpoint must have exactly the fields {', '.join(_FIELDS)}"
        )
    for name in ("bucket", "key", "destination", "created_at"):
        if not isinstance(data[name], str) or not data[name]:
            raise CheckpointCorruptError(f"{name} must be a non-empty string")


@dataclass(frozen=True)
class DownloadCheckpoint:
    """
    The record of one download of ``oss://bucket/key`` to ``destination``.

    :param bucket: the bucket.
    :param key: the object key.
    :param destination: the absolute destination path.
    :param part_size: the range size the download was planned with.
    :param object: the object's identity when the download started.
    :param done: range number (from 1) -> CRC-64 of the range's bytes, for every range written to
        the temporary file (and flushed to disk before the record was saved).
    :param created_at: ISO-8601 UTC time the download started.
    """

    bucket: str
    key: str
    destination: str
    part_size: int
    object: ObjectIdentity
    done: dict[int, int] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def part_count(self) -> int:
        """The number of ranges of the plan."""
        return -(-self.object.size // self.part_size)

    def with_done(self, done: dict[int, int]) -> DownloadCheckpoint:
        """This record with ``done`` replaced by (a copy of) ``done``."""
        return dataclasses.replace(self, done=dict(done))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kind": KIND,
            "version": FORMAT_VERSION,
            "bucket": self.bucket,
            "key": self.key,
            "destination": self.destination,
            "part_size": self.part_size,
            "object": self.object.to_dict(),
            "done": encode_confirmed(self.done),
            "created_at": self.created_at,
        }

    def to_json(self) -> str:
        """The record as a JSON document."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> DownloadCheckpoint:
        """
        Parse a record.

        :raises CheckpointCorruptError: when it is not JSON or not a valid download record.
        """
        if len(text) > MAX_RECORD_BYTES:
            raise CheckpointCorruptError(
                f"the record is larger than any checkpoint ({MAX_RECORD_BYTES} bytes)"
            )
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise CheckpointCorruptError(f"the download checkpoint is not valid JSON ({err})") from None
        except RecursionError:
            raise CheckpointCorruptError("the download checkpoint is JSON nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> DownloadCheckpoint:
        """
        Rebuild a record from :meth:`to_dict`'s output, strictly.

        :raises CheckpointCorruptError: another kind of record, an unknown version, or a missing,
            extra or invalid field.
        """
        _check_shape(data)
        part_size = data["part_size"]
        if not _is_int(part_size) or not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise CheckpointCorruptError(f"part_size {part_size!r} is out of range")
        identity = ObjectIdentity.from_dict(data["object"])
        try:
            done = decode_confirmed(data["done"])
        except ValueError as err:
            raise CheckpointCorruptError(f"done: {err}") from None
        record = cls(
            bucket=data["bucket"],
            key=data["key"],
            destination=data["destination"],
            part_size=part_size,
            object=identity,
            done=done,
            created_at=data["created_at"],
        )
        if record.part_count > MAX_PARTS:
            raise CheckpointCorruptError(f"the plan would have more than {MAX_PARTS} ranges")
        if done and max(done) > record.part_count:
            raise CheckpointCorruptError(
                f"done lists range {max(done)}, beyond the plan's {record.part_count} ranges"
            )
        return record

    def describe(self) -> str:
        """A one-line description for logs."""
        return (
            f"download of oss://{self.bucket}/{self.key} (ETag {self.object.etag}, {self.object.size} bytes) to "
            f"{self.destination}: {len(self.done)} of {self.part_count} ranges written, started {self.created_at}"
        )
