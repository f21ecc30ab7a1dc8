"""
The checkpoint of a resumable upload, and where it is kept.

A :class:`Checkpoint` is written right after InitiateMultipartUpload, before any part is sent: it
names the upload (bucket, key, upload ID), how the file is cut (part size, file size) and which
file it is (a :class:`~airflow_provider_oss.upload.fingerprint.SourceFingerprint`). A retry asks
OSS which parts it holds (ListParts), which is the truth, so a checkpoint can never make a part
count as stored. While parts go up, the record is rewritten now and then with ``confirmed_parts``:
the CRC-64 of each part that OSS acknowledged with the CRC-64 of the local bytes. A retry reuses a
listed part whose CRC-64 equals its confirmed one without reading it again (the file's fingerprint
already matched); any other listed part is read and CRC-checked first. It never holds credentials,
endpoints or tokens.

Stores implement :class:`CheckpointStore`: :class:`FileCheckpointStore` (a JSON file written
atomically, for a directory every worker shares), :class:`KeyValueCheckpointStore` (any
``get/set/delete`` JSON store, such as Airflow 3.3's ``task_state_store``) and
:class:`MemoryCheckpointStore` (tests, library users).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from airflow_provider_oss.upload.errors import CheckpointCorruptError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.plan import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointStore",
    "FileCheckpointStore",
    "KeyValueCheckpointStore",
    "MemoryCheckpointStore",
]

#: The checkpoint format this code writes (2 added ``confirmed_parts``).
FORMAT_VERSION = 2
#: The formats this code reads.
READABLE_VERSIONS = (1, 2)
#: A checkpoint record larger than this is not one of ours.
MAX_RECORD_BYTES = 256 * 1024
#: Temp files of a killed writer older than this are removed by the next save.
STALE_TEMP_SECONDS = 3600

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
#: One confirmed part in ``confirmed_parts``: part number (uint32) and CRC-64 (uint64), little-endian.
_CONFIRMED = struct.Struct("<IQ")
_UPLOAD_ID_RE = re.compile(r"^[\x21-\x7e]{1,1024}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
        return cls.from_dict(data)

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


def _validate(data: Any) -> None:
    if not isinstance(data, dict):
        raise CheckpointCorruptError(f"the checkpoint must be a JSON object, not {type(data).__name__}")
    salvage = _salvage(data)

    def bad(reason: str) -> CheckpointCorruptError:
        return CheckpointCorruptError(f"invalid checkpoint: {reason}", salvage=salvage)

    version = data.get("version")
    if version not in READABLE_VERSIONS or not _is_int(version):
        raise bad(f"unknown format version {version!r} (this code reads versions 1 and 2)")
    fields = _FIELDS if version == 1 else _FIELDS_V2
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
    if version == 2:
        try:
            decode_confirmed(data["confirmed_parts"])
        except ValueError as err:
            raise bad(str(err)) from None


@runtime_checkable
class CheckpointStore(Protocol):
    """
    Where the checkpoint of one upload (one bucket, key and source) is kept.

    A store may also set a class attribute ``keeps_record = False`` when it stores nothing (its
    ``load`` derives the checkpoint from OSS itself); the engine then skips re-reading it to delete it.
    """

    def load(self) -> Checkpoint | None:
        """
        Return the stored checkpoint, or None when there is none.

        :raises CheckpointCorruptError: when a record exists but cannot be trusted.
        """

    def save(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` (replacing any earlier one) durably before returning."""

    def delete(self) -> None:
        """Remove the checkpoint; no error when there is none."""

    def describe(self) -> str:
        """Where the checkpoint lives, for logs (never a secret)."""


def _fsync_dir(directory: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return  # some platforms cannot open a directory; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileCheckpointStore:
    """
    A checkpoint kept as a JSON file in ``directory`` (which every worker that may retry the task
    must see, e.g. a shared volume).

    The file name is the SHA-256 of (bucket, key, absolute source path), so any key, even
    ``../../etc/passwd``, maps to a plain name inside the directory. Writes are atomic: a temp file
    (unique name, created with ``O_EXCL`` and mode 0600) is written, fsynced and renamed over the
    record, then the directory is fsynced; a reader sees the old record or the new one, never a
    mix. Two processes saving at once each rename a complete record, and the last one wins.

    :param directory: the checkpoint directory (with or without a trailing slash; ``~`` expanded);
        created with mode 0700 when missing.
    :param bucket: the destination bucket.
    :param key: the destination object key.
    :param source_path: the source file.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        bucket: str,
        key: str,
        source_path: str | os.PathLike[str],
    ) -> None:
        if not os.fspath(directory):
            raise ValueError("FileCheckpointStore needs a directory; got an empty path.")
        self.directory = os.path.abspath(os.path.expanduser(os.fspath(directory)))
        self.bucket = bucket
        self.key = key
        self.source_path = os.path.abspath(os.fspath(source_path))
        identity = json.dumps([bucket, key, self.source_path], ensure_ascii=False)
        self.name = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest() + ".json"
        self.path = os.path.join(self.directory, self.name)

    def __repr__(self) -> str:
        return f"FileCheckpointStore(path={self.path!r})"

    def describe(self) -> str:
        """The checkpoint file's path."""
        return f"checkpoint file {self.path}"

    def load(self) -> Checkpoint | None:
        """Read the checkpoint file (None when there is none)."""
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return None
        except OSError as err:
            if os.path.islink(self.path):
                raise CheckpointCorruptError(
                    f"{self.path} is a symbolic link, not a checkpoint file"
                ) from None
            raise OSError(
                err.errno,
                f"Cannot read the checkpoint file {self.path}: {err.strerror}; check the checkpoint directory "
                "and its permissions",
            ) from None
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_RECORD_BYTES + 1)
        except OSError as err:
            raise CheckpointCorruptError(f"cannot read {self.path}: {err.strerror or err}") from None
        if len(data) > MAX_RECORD_BYTES:
            raise CheckpointCorruptError(
                f"{self.path} is larger than any checkpoint ({MAX_RECORD_BYTES} bytes)"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointCorruptError(f"{self.path} is not UTF-8 text") from None
        return Checkpoint.from_json(text)

    def save(self, checkpoint: Checkpoint) -> None:
        """Write the checkpoint atomically and durably (temp file, fsync, rename, fsync of the directory)."""
        payload = checkpoint.to_json().encode("utf-8")
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._remove_stale_temps()
        temp = os.path.join(self.directory, f".{self.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
        fd = os.open(temp, flags, 0o600)
        try:
            try:
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_dir(self.directory)

    def delete(self) -> None:
        """Remove the checkpoint file (and fsync the directory)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        _fsync_dir(self.directory)

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for temp in glob.glob(os.path.join(glob.escape(self.directory), f".{self.name}.*.tmp")):
            with contextlib.suppress(OSError):
                if os.lstat(temp).st_mtime < cutoff:
                    os.unlink(temp)


class KeyValueCheckpointStore:
    """
    A checkpoint kept as a JSON value under one key of a key-value store with
    ``get(key, default=None)``, ``set(key, value, **set_kwargs)`` and ``delete(key)``, such as
    Airflow 3.3's ``context["task_state_store"]`` (kept per DAG run, task and map index across tries).

    :param kv: the store.
    :param key: the key to keep the checkpoint under.
    :param set_kwargs: extra keyword arguments for ``kv.set`` (e.g. ``{"retention": NEVER_EXPIRE}``).
    :param description: how :meth:`describe` names the store (default: the store's type and key).
    """

    def __init__(
        self,
        kv: Any,
        key: str = "oss_resumable_upload",
        *,
        set_kwargs: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> None:
        for method in ("get", "set", "delete"):
            if not callable(getattr(kv, method, None)):
                raise TypeError(
                    f"KeyValueCheckpointStore needs a store with get/set/delete; {kv!r} has no {method}()."
                )
        if not key:
            raise ValueError("KeyValueCheckpointStore needs a non-empty key.")
        self.kv = kv
        self.key = key
        self.set_kwargs = dict(set_kwargs or {})
        self._description = description

    def __repr__(self) -> str:
        return f"KeyValueCheckpointStore(kv={type(self.kv).__name__}, key={self.key!r})"

    def describe(self) -> str:
        """The store's type and key."""
        return self._description or f"key {self.key!r} of {type(self.kv).__name__}"

    def load(self) -> Checkpoint | None:
        """Read the value under the key (None when there is none)."""
        value = self.kv.get(self.key, None)
        if value is None:
            return None
        if isinstance(value, (str, bytes)):
            if len(value) > MAX_RECORD_BYTES:
                raise CheckpointCorruptError(f"the value under {self.key!r} is larger than any checkpoint")
            return Checkpoint.from_json(value)
        return Checkpoint.from_dict(value)

    def save(self, checkpoint: Checkpoint) -> None:
        """Set the key to the checkpoint (a JSON object)."""
        self.kv.set(self.key, checkpoint.to_dict(), **self.set_kwargs)

    def delete(self) -> None:
        """Delete the key."""
        self.kv.delete(self.key)


class MemoryCheckpointStore:
    """
    A checkpoint kept in memory as its JSON text (for tests and for library users whose process
    lives on); thread-safe. ``saves`` counts :meth:`save` calls.
    """

    def __init__(self, text: str | None = None) -> None:
        self._lock = threading.Lock()
        self._text = text
        self.saves = 0

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore(has_checkpoint={self._text is not None})"

    def describe(self) -> str:
        """Always ``in-memory checkpoint``."""
        return "in-memory checkpoint"

    @property
    def text(self) -> str | None:
        """The stored JSON text (None when empty); tests may set it to anything."""
        with self._lock:
            return self._text

    @text.setter
    def text(self, value: str | None) -> None:
        with self._lock:
            self._text = value

    def load(self) -> Checkpoint | None:
        """Parse the stored text (None when empty)."""
        text = self.text
        return None if text is None else Checkpoint.from_json(text)

    def save(self, checkpoint: Checkpoint) -> None:
        """Keep the checkpoint's JSON text."""
        text = checkpoint.to_json()
        with self._lock:
            self._text = text
            self.saves += 1

    def delete(self) -> None:
        """Forget the checkpoint."""
        self.text = None
