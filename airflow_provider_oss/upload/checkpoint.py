"""
The checkpoint of a resumable upload, and where it is kept.

A :class:`Checkpoint` is written right after InitiateMultipartUpload, before any part is sent: it
names the upload (bucket, key, upload ID), how the file is cut (part size, file size) and which
file it is (a :class:`~airflow_provider_oss.upload.fingerprint.SourceFingerprint`). A retry asks
OSS which parts it holds (ListParts), which is the truth, so a checkpoint can never make a part
count as stored. While parts go up, the record is rewritten now and then with ``confirmed_parts``:
the CRC-64 of each part that OSS acknowledged with the CRC-64 of the local bytes. A retry reuses a
listed part whose CRC-64 equals its confirmed one without reading it again (the file's fingerprint,
its identity included, already matched); any other listed part is read and CRC-checked first. It never holds credentials,
endpoints or tokens.

Where it is kept is :mod:`airflow_provider_oss.upload.stores`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_oss.upload.errors import CheckpointCorruptError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.plan import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE

__all__ = [
    "FORMAT_VERSION",
    "MAX_RECORD_BYTES",
    "Checkpoint",
    "CheckpointCorruptError",
    "CompletedMark",
    "decode_confirmed",
    "encode_confirmed",
]

#: The checkpoint format this code writes (2 added ``confirmed_parts``, 3 ``completed``, 4 the
#: fingerprint's ``ctime_ns``, ``inode`` and ``device``: a record without them has every reused part
#: read and CRC-checked; an older version of this code refuses a version 4 record as unknown, and
#: then proves the upload's parts by reading them, as for a damaged record).
FORMAT_VERSION = 4
#: The formats this code reads.
READABLE_VERSIONS = (1, 2, 3, 4)
#: A checkpoint record larger than this is not one of ours.
MAX_RECORD_BYTES = 256 * 1024

_FIELDS = (
    "version",
    "bucket",
    "key",
    "upload_id",
    "part_size",
    "file_size",
    "fingerprint",
    "source_path",
    "created_at",
    "options_digest",
)
_FIELDS_V2 = (*_FIELDS, "confirmed_parts")
_FIELDS_V3 = (*_FIELDS_V2, "completed")
_COMPLETED_FIELDS = ("crc64", "etag", "at", "until")
#: One confirmed part in ``confirmed_parts``: part number (uint32) and CRC-64 (uint64), little-endian.
_CONFIRMED = struct.Struct("<IQ")
_UPLOAD_ID_RE = re.compile(r"^[\x21-\x7e]{1,1024}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CompletedMark:
    """
    What a completed upload leaves in its checkpoint, so that a retry (a try killed after
    CompleteMultipartUpload but before Airflow recorded success) or a re-run of the task (a cleared
    task) finds the object already there and sends nothing, without reading the file.

    :param crc64: the object's CRC-64 as OSS reported it at completion.
    :param etag: the object's ETag.
    :param at: ISO-8601 UTC time of the completion.
    :param until: ISO-8601 UTC time after which the mark is no longer trusted (its retention).
    """

    crc64: int
    etag: str
    at: str
    until: str

    @classmethod
    def for_retention(cls, etag: str, crc64: int, retention: float) -> CompletedMark | None:
        """
        The mark of an object completed now, trusted for ``retention`` seconds (None: keep no mark).

        :param etag: the object's ETag.
        :param crc64: the object's CRC-64 as OSS reported it.
        :param retention: ``TransferConfig.completed_retention``, in seconds.
        """
        if not retention:
            return None
        now = datetime.now(timezone.utc)
        return cls(
            crc64=crc64,
            etag=etag,
            at=now.isoformat(timespec="seconds"),
            until=(now + timedelta(seconds=retention)).isoformat(timespec="seconds"),
        )

    def to_dict(self) -> dict[str, str]:
        """JSON-ready: the CRC-64 as a decimal string (64-bit integers do not survive every JSON reader)."""
        return {"crc64": str(self.crc64), "etag": self.etag, "at": self.at, "until": self.until}

    @classmethod
    def from_dict(cls, data: Any) -> CompletedMark:
        """
        Rebuild a mark strictly.

        :raises ValueError: a missing, extra or invalid field.
        """
        if not isinstance(data, dict) or sorted(data) != sorted(_COMPLETED_FIELDS):
            raise ValueError(f"completed must be an object with exactly {', '.join(_COMPLETED_FIELDS)}")
        text = data["crc64"]
        if not isinstance(text, str) or not text.isascii() or not text.isdigit() or int(text) >= 1 << 64:
            raise ValueError("completed.crc64 must be a decimal string of a 64-bit CRC")
        if not isinstance(data["etag"], str) or not _UPLOAD_ID_RE.match(data["etag"] or " "):
            raise ValueError("completed.etag must be printable ASCII")
        for name in ("at", "until"):
            when = _parse_time(data[name])
            if when is None:
                raise ValueError(f"completed.{name} must be an ISO-8601 time with a time zone")
        return cls(int(text), data["etag"], data["at"], data["until"])

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the retention has run out."""
        until = _parse_time(self.until)
        return until is None or (now or datetime.now(timezone.utc)) >= until


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


@dataclass(frozen=True)
class Checkpoint:
    """
    The record that lets a new process continue a multipart upload.

    :param bucket: the destination bucket.
    :param key: the destination object key.
    :param upload_id: the multipart upload ID from InitiateMultipartUpload.
    :param part_size: the part size of the plan (after growth).
    :param file_size: the source file's size when the upload started.
    :param fingerprint: the source file's fingerprint when the upload started.
    :param source_path: the absolute path of the source file (informational: the fingerprint is
        what identifies the file, so a retry on a worker that mounts it elsewhere can still resume).
    :param created_at: ISO-8601 UTC time of the upload's start.
    :param options_digest: SHA-256 of the object options sent at initiate (type, metadata, storage
        class...), so that a retry with different options does not complete an object with the old ones.
    :param confirmed_parts: part number -> CRC-64 of the parts OSS acknowledged with the local
        bytes' CRC-64 (kept packed: 10,000 parts take ~160 KB).
    :param completed: set when the upload was completed: the object's CRC-64 and ETag, and how long
        the mark is trusted (None while the upload is in progress).
    :param version: the record format version.
    """

    bucket: str
    key: str
    upload_id: str
    part_size: int
    file_size: int
    fingerprint: SourceFingerprint
    source_path: str
    created_at: str = field(default_factory=_utc_now)
    options_digest: str | None = None
    confirmed_parts: dict[int, int] = field(default_factory=dict)
    completed: CompletedMark | None = None
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _validate(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the stores keep)."""
        return {
            "version": self.version,
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "part_size": self.part_size,
            "file_size": self.file_size,
            "fingerprint": self.fingerprint.to_dict()
            if isinstance(self.fingerprint, SourceFingerprint)
            else self.fingerprint,
            "source_path": self.source_path,
            "created_at": self.created_at,
            "options_digest": self.options_digest,
            "confirmed_parts": encode_confirmed(self.confirmed_parts),
            "completed": self.completed.to_dict() if self.completed is not None else None,
        }

    def to_json(self) -> str:
        """The record as a JSON document."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """
        Rebuild a checkpoint from :meth:`to_dict`'s output, strictly.

        :raises CheckpointCorruptError: for an unknown version or a missing, extra or invalid field.
        """
        _validate(data)
        return cls(
            bucket=data["bucket"],
            key=data["key"],
            upload_id=data["upload_id"],
            part_size=data["part_size"],
            file_size=data["file_size"],
            fingerprint=SourceFingerprint.from_dict(data["fingerprint"]),
            source_path=data["source_path"],
            created_at=data["created_at"],
            options_digest=data["options_digest"],
            confirmed_parts=decode_confirmed(data.get("confirmed_parts", "")),
            completed=CompletedMark.from_dict(data["completed"])
            if data.get("completed") is not None
            else None,
            version=FORMAT_VERSION,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """
        Parse a checkpoint document.

        :raises CheckpointCorruptError: when it is not JSON or not a valid checkpoint.
        """
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise CheckpointCorruptError(f"the checkpoint is not valid JSON ({err})") from None
        except RecursionError:  # deeply nested arrays or objects: not a checkpoint of ours
            raise CheckpointCorruptError(
                "the checkpoint is JSON nested too deeply to be one of ours"
            ) from None
        return cls.from_dict(data)

    def with_completed(self, mark: CompletedMark) -> Checkpoint:
        """This checkpoint marked completed."""
        return dataclasses.replace(self, completed=mark)

    def with_confirmed(self, confirmed: dict[int, int]) -> Checkpoint:
        """This checkpoint with ``confirmed_parts`` replaced by (a copy of) ``confirmed``."""
        return dataclasses.replace(self, confirmed_parts=dict(confirmed))

    def describe(self) -> str:
        """A one-line description for logs."""
        return (
            f"upload ID {self.upload_id} of oss://{self.bucket}/{self.key} "
            f"({self.file_size} bytes in parts of {self.part_size}, started {self.created_at})"
        )


def encode_confirmed(confirmed: dict[int, int]) -> str:
    """
    ``confirmed_parts`` as stored: base64 of (part number, CRC-64) pairs in part order.

    :raises ValueError: a part number outside 1..10000 or a CRC-64 outside 64 bits.
    """
    for number, value in confirmed.items():
        if not (_is_int(number) and 1 <= number <= MAX_PARTS and _is_int(value) and 0 <= value < 1 << 64):
            raise ValueError(f"confirmed part {number!r} with CRC-64 {value!r} is out of range")
    packed = b"".join(_CONFIRMED.pack(number, confirmed[number]) for number in sorted(confirmed))
    return base64.b64encode(packed).decode("ascii")


def decode_confirmed(text: Any) -> dict[int, int]:
    """
    The inverse of :func:`encode_confirmed`, strictly.

    :raises ValueError: not base64 of whole pairs, or part numbers not ascending within 1..10000.
    """
    if not isinstance(text, str):
        raise ValueError("confirmed_parts must be a string")
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("confirmed_parts is not base64") from None
    if len(packed) % _CONFIRMED.size:
        raise ValueError("confirmed_parts does not hold whole (part number, CRC-64) pairs")
    confirmed: dict[int, int] = {}
    last = 0
    for number, value in _CONFIRMED.iter_unpack(packed):
        if not last < number <= MAX_PARTS:
            raise ValueError(f"confirmed_parts lists part {number} out of order or beyond {MAX_PARTS}")
        confirmed[number] = value
        last = number
    return confirmed


def _salvage(data: dict[str, Any]) -> dict[str, str]:
    found = {}
    for name in ("bucket", "key", "upload_id"):
        value = data.get(name)
        if isinstance(value, str) and value:
            found[name] = value
    if "upload_id" in found and not _UPLOAD_ID_RE.match(found["upload_id"]):
        del found["upload_id"]
    return found if len(found) == 3 else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(data: Any) -> None:  # noqa: C901, PLR0912  # a flat list of field checks on untrusted JSON, each with its own message
    if not isinstance(data, dict):
        raise CheckpointCorruptError(f"the checkpoint must be a JSON object, not {type(data).__name__}")
    salvage = _salvage(data)

    def bad(reason: str) -> CheckpointCorruptError:
        return CheckpointCorruptError(f"invalid checkpoint: {reason}", salvage=salvage)

    version = data.get("version")
    if version not in READABLE_VERSIONS or not _is_int(version):
        raise bad(f"unknown format version {version!r} (this code reads versions 1 to 4)")
    fields = {1: _FIELDS, 2: _FIELDS_V2}.get(version, _FIELDS_V3)
    missing = [name for name in fields if name not in data]
    if missing:
        raise bad(f"missing field(s) {', '.join(missing)}")
    extra = sorted(set(data) - set(fields))
    if extra:
        raise bad(f"unknown field(s) {', '.join(map(str, extra))}")
    for name in ("bucket", "key", "source_path", "created_at"):
        if not isinstance(data[name], str) or not data[name]:
            raise bad(f"{name} must be a non-empty string")
    if not isinstance(data["upload_id"], str) or not _UPLOAD_ID_RE.match(data["upload_id"]):
        raise bad("upload_id must be 1-1024 printable ASCII characters without spaces")
    if not _is_int(data["part_size"]) or not MIN_PART_SIZE <= data["part_size"] <= MAX_PART_SIZE:
        raise bad(f"part_size must be an int from {MIN_PART_SIZE} to {MAX_PART_SIZE}")
    if not _is_int(data["file_size"]) or data["file_size"] < 0:
        raise bad("file_size must be a non-negative int")
    try:
        fingerprint = (
            data["fingerprint"]
            if isinstance(data["fingerprint"], SourceFingerprint)
            else SourceFingerprint.from_dict(data["fingerprint"])
        )
    except ValueError as err:
        raise bad(str(err)) from None
    if fingerprint.size != data["file_size"]:
        raise bad("fingerprint.size differs from file_size")
    digest = data["options_digest"]
    if digest is not None and (not isinstance(digest, str) or not _HEX64_RE.match(digest)):
        raise bad("options_digest must be null or 64 lower-case hex digits")
    try:
        created = datetime.fromisoformat(data["created_at"])
    except ValueError:
        raise bad("created_at must be an ISO-8601 time") from None
    if created.tzinfo is None:
        raise bad("created_at must carry a time zone")
    if version >= 2:
        try:
            decode_confirmed(data["confirmed_parts"])
        except ValueError as err:
            raise bad(str(err)) from None
    if version >= 3 and data["completed"] is not None and not isinstance(data["completed"], CompletedMark):
        try:
            CompletedMark.from_dict(data["completed"])
        except ValueError as err:
            raise bad(str(err)) from None
