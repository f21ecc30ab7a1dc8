"""
The local server's records: buckets, objects, parts and uploads as the store keeps them (and their
JSON form on disk), a page of a listing, and the names the store gives to new files and uploads.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oss.testing.objectdata import (
    Segment,
)

#: The version id of an object written while versioning was never enabled or is suspended.
NULL_VERSION = "null"
#: The version ids this server gives: 32 hexadecimal digits (time-ordered).
VERSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class ObjectRecord:
    """
    An object version: the segment files holding its bytes, its size, ETag (quoted), CRC-64 and
    metadata headers; ``readers`` open readers, ``retired`` once replaced or deleted. ``version_id``
    is ``null`` except in a bucket with versioning enabled; a ``delete_marker`` has no bytes;
    ``stamp`` (nanoseconds, increasing) orders the versions of a key, newest last.
    """

    key: str
    segments: list[Segment]
    size: int
    etag: str
    crc64: int
    last_modified: float
    object_type: str
    meta: dict[str, str]
    version_id: str = "null"
    delete_marker: bool = False
    stamp: int = 0
    readers: int = 0
    retired: bool = False

    def saved(self, folder: str) -> dict[str, Any]:
        """The JSON record, with segment paths relative to ``folder``."""
        return {
            "key": self.key,
            "segments": [[os.path.relpath(s.path, folder), s.size] for s in self.segments],
            "size": self.size,
            "etag": self.etag,
            "crc64": self.crc64,
            "last_modified": self.last_modified,
            "object_type": self.object_type,
            "meta": self.meta,
            "version_id": self.version_id,
            "delete_marker": self.delete_marker,
            "stamp": self.stamp,
        }

    def record_file(self, stem: str) -> str:
        """The record file of this version: ``<stem>.json`` (``null``) or ``<stem>.<version id>.json``."""
        return f"{stem}.json" if self.version_id == NULL_VERSION else f"{stem}.{self.version_id}.json"


@dataclass
class PartRecord:
    """An uploaded part of a multipart upload."""

    number: int
    data_file: str
    size: int
    etag: str
    crc64: int
    last_modified: float


@dataclass
class UploadRecord:
    """An in-progress multipart upload."""

    bucket: str
    key: str
    upload_id: str
    initiated: float
    meta: dict[str, str]
    directory: str
    parts: dict[int, PartRecord] = field(default_factory=dict)
    completing: bool = False
    busy: int = 0
    gone: bool = False
    garbage: list[str] = field(default_factory=list)


@dataclass
class BucketRecord:
    """
    A bucket and its index: ``history`` holds every version of a key (delete markers included),
    newest first; ``objects`` the current version of each key whose newest is not a delete marker,
    ``keys`` their sorted names. ``versioning`` is ``""`` (never enabled), ``Enabled`` or ``Suspended``.
    """

    name: str
    created: float
    public_read: bool
    directory: str
    objects: dict[str, ObjectRecord] = field(default_factory=dict)
    storage_class: str = "Standard"
    redundancy: str = "LRS"
    acl: str = ""
    keys: list[str] = field(default_factory=list)
    uploads: dict[str, UploadRecord] = field(default_factory=dict)
    history: dict[str, list[ObjectRecord]] = field(default_factory=dict)
    versioning: str = ""


@dataclass
class ListPage:
    """One page of a listing: records, common prefixes, and where the next page starts."""

    items: list[Any]
    prefixes: list[str]
    truncated: bool
    next_marker: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def new_token() -> str:
    return secrets.token_hex(8)


def with_bucket_storage_class(meta: dict[str, str], bucket: BucketRecord) -> dict[str, str]:
    """An object without its own storage class takes its bucket's (as OSS)."""
    if "x-oss-storage-class" in meta or bucket.storage_class == "Standard":
        return dict(meta)
    return {**meta, "x-oss-storage-class": bucket.storage_class}


def new_version_id(previous: str = "") -> str:
    """A new version id, after ``previous`` (the last one given) in sort order."""
    candidate = f"{time.time_ns():020x}{secrets.token_hex(6)}"
    if previous and candidate <= previous:
        candidate = f"{int(previous[:20], 16) + 1:020x}{secrets.token_hex(6)}"
    return candidate


def new_upload_id() -> str:
    """A 32-character upload id that sorts by initiation time, like OSS's."""
    return f"{time.time_ns():016X}{secrets.token_hex(8).upper()}"
