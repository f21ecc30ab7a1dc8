"""
Objects in the local server's store: commit (simple, appended or completed from parts), read,
delete and list, each version's files kept until its last reader closes.

Versions follow OSS: in a bucket whose versioning was never enabled every key has one version,
``null``, which a write replaces and a delete removes. With versioning ``Enabled`` each write adds
a version with a new id and a delete without a version id adds a delete marker; with ``Suspended``
a write or a delete replaces the key's ``null`` version (the others stay). A delete with a version
id removes that version for good. Every version has its own record file
(:meth:`~airflow_provider_oss.testing.records.ObjectRecord.record_file`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_oss.core.crc64 import combine as crc64_combine
from airflow_provider_oss.testing.apierror import (
    OssApiError,
    no_such_key,
)
from airflow_provider_oss.testing.objectdata import (
    ObjectReader,
    Segment,
    remove_segments,
)
from airflow_provider_oss.testing.records import (
    NULL_VERSION,
    BucketRecord,
    ListPage,
    ObjectRecord,
    key_hash,
    new_token,
    new_version_id,
    with_bucket_storage_class,
)
from airflow_provider_oss.testing.store_base import StoreBase


@dataclass(frozen=True)
class Deletion:
    """What a delete did: the version id it removed or created, and whether that is a delete marker."""

    version_id: str | None
    delete_marker: bool


def no_such_version(version_id: str) -> OssApiError:
    """``NoSuchVersion`` (404): a well-formed version id the object does not have."""
    return OssApiError(404, "NoSuchVersion", "The specified version does not exist.", VersionId=version_id)


def check_version_id(version_id: str) -> None:
    """
    Refuse a version id that is no version id at all, as OSS does (``InvalidArgument``, 400).
    OSS's version ids are base64 text (``CAEQ...``): ``null`` and any base64 text of up to 256
    characters are valid (the ids of this server are hexadecimal, so base64 too) and answer
    ``NoSuchVersion`` when the object has no such version; ``234`` or ``IllegalVersion`` (no
    base64 text) are invalid.
    """
    valid = version_id == NULL_VERSION
    if not valid and 0 < len(version_id) <= 256 and version_id.isascii():
        try:
            base64.b64decode(version_id, validate=True)
            valid = True
        except binascii.Error:
            valid = False
    if not valid:
        raise OssApiError(
            400,
            "InvalidArgument",
            "Invalid version id specified.",
            ArgumentName="versionId",
            ArgumentValue=version_id[:256],
        )


def _common_prefix(key: str, prefix: str, delimiter: str) -> str:
    """The common prefix ``key`` is listed under (``""``: listed itself)."""
    at = key.find(delimiter, len(prefix)) if delimiter else -1
    return key[: at + len(delimiter)] if at >= 0 else ""


def _marker_headers(record: ObjectRecord) -> dict[str, str]:
    return {"x-oss-delete-marker": "true", "x-oss-version-id": record.version_id}


class ObjectStore(StoreBase):
    """The objects of every bucket."""

    # -- versions --------------------------------------------------------------------------------

    def _next_version(self, bucket: BucketRecord) -> str:
        """The version id of a new version: a new id with versioning enabled, else ``null``."""
        if bucket.versioning != "Enabled":
            return NULL_VERSION
        self._last_version = new_version_id(self._last_version)
        return self._last_version

    def _next_stamp(self) -> int:
        self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
        return self._last_stamp

    def _install(self, bucket: BucketRecord, record: ObjectRecord, stem: str, *, write: bool = True) -> None:
        """
        Make ``record`` the newest version of its key (its record file written unless the caller
        did); the ``null`` version it replaces, if it is one, is retired.
        """
        if write:
            self._write_json(record.record_file(stem), record.saved(os.path.dirname(stem)))
        versions = bucket.history.setdefault(record.key, [])
        if record.version_id == NULL_VERSION:
            for old in [v for v in versions if v.version_id == NULL_VERSION]:
                versions.remove(old)
                self._retire(old)
        versions.insert(0, record)
        self._sync_current(bucket, record.key)

    def _replace(self, bucket: BucketRecord, old: ObjectRecord, new: ObjectRecord, stem: str) -> None:
        """Put ``new`` in the place of the version ``old`` (same version id), its record file written."""
        self._write_json(new.record_file(stem), new.saved(os.path.dirname(stem)))
        versions = bucket.history[old.key]
        versions[versions.index(old)] = new
        self._sync_current(bucket, old.key)

    @staticmethod
    def _sync_current(bucket: BucketRecord, key: str) -> None:
        """Bring ``objects`` and ``keys`` in line with the newest version of ``key``."""
        versions = bucket.history.get(key)
        if not versions:
            bucket.history.pop(key, None)
        head = versions[0] if versions else None
        had = key in bucket.objects
        if head is None or head.delete_marker:
            if had:
                del bucket.objects[key]
                del bucket.keys[bisect.bisect_left(bucket.keys, key)]
        else:
            bucket.objects[key] = head
            if not had:
                bisect.insort(bucket.keys, key)

    def find_version(
        self, bucket_name: str, key: str, version_id: str | None, *, for_copy: bool = False
    ) -> ObjectRecord:
        """
        A version of an object: the current one when ``version_id`` is None.

        :raises OssApiError: ``NoSuchKey`` (with ``x-oss-delete-marker`` when the newest version is
            a delete marker); ``InvalidArgument`` or ``NoSuchVersion`` for the version id;
            ``MethodNotAllowed`` (405) when it is a delete marker's (``InvalidArgument`` for a copy source).
        """
        if version_id is not None:
            check_version_id(version_id)
        with self._lock:
            versions = self.bucket(bucket_name).history.get(key, [])
            if version_id is None:
                if not versions:
                    raise no_such_key(key)
                if versions[0].delete_marker:
                    err = no_such_key(key)
                    err.headers.update(_marker_headers(versions[0]))
                    raise err
                return versions[0]
            found = next((v for v in versions if v.version_id == version_id), None)
            if found is None:
                raise no_such_version(version_id)
            if found.delete_marker:
                if for_copy:
                    raise OssApiError(
                        400,
                        "InvalidArgument",
                        "The version in x-oss-copy-source is a delete marker, which cannot be copied.",
                        ArgumentName="x-oss-copy-source",
                        ArgumentValue=version_id,
                    )
                err = OssApiError(
                    405, "MethodNotAllowed", "The specified method is not allowed against this resource."
                )
                err.headers.update(_marker_headers(found))
                raise err
            return found

    def versions_of(self, bucket_name: str, key: str) -> list[ObjectRecord]:
        """Every version of ``key``, newest first (delete markers included)."""
        with self._lock:
            return list(self.bucket(bucket_name).history.get(key, []))

    def list_versions(
        self,
        bucket_name: str,
        *,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_marker: str,
        max_keys: int,
    ) -> tuple[ListPage, str]:
        """
        List versions (and delete markers) after ``key_marker`` (and, within that key, after the
        version ``version_marker``), by key, newest version first.

        :return: a page whose items are :class:`ObjectRecord` versions, and the next version id
            marker (``next_marker`` is the next key marker) when it is truncated.
        """
        with self._lock:
            bucket = self.bucket(bucket_name)
            keys = sorted(k for k in bucket.history if k.startswith(prefix) and k >= key_marker)
            entries: list[tuple[str, ObjectRecord | None]] = []
            truncated = False
            last_prefix = ""
            for key in keys:
                if key == key_marker and not version_marker:
                    continue
                common = _common_prefix(key, prefix, delimiter)
                if common:
                    if common in (last_prefix, key_marker):
                        continue
                    if len(entries) == max_keys:
                        truncated = True
                        break
                    last_prefix = common
                    entries.append((common, None))
                    continue
                versions = bucket.history[key]
                start = 0
                if key == key_marker:
                    ids = [v.version_id for v in versions]
                    start = ids.index(version_marker) + 1 if version_marker in ids else len(ids)
                for version in versions[start:]:
                    if len(entries) == max_keys:
                        truncated = True
                        break
                    entries.append((key, version))
                if truncated:
                    break
            last_name, last_version = entries[-1] if truncated and entries else ("", None)
            page = ListPage(
                items=[record for _, record in entries if record is not None],
                prefixes=[name for name, record in entries if record is None],
                truncated=truncated,
                next_marker=last_name,
            )
            return page, last_version.version_id if last_version is not None else ""

    def is_latest(self, bucket_name: str, record: ObjectRecord) -> bool:
        """Whether ``record`` is the newest version of its key."""
        with self._lock:
            versions = self.bucket(bucket_name).history.get(record.key, [])
            return bool(versions) and versions[0] is record

    # -- objects ---------------------------------------------------------------------------------

    def _object_paths(self, bucket: BucketRecord, key: str) -> tuple[str, str]:
        digest = key_hash(key)
        directory = os.path.join(bucket.directory, "objects", digest[:2])
        return directory, os.path.join(directory, digest)

    def commit_object(
        self,
        bucket_name: str,
        key: str,
        temp: str,
        *,
        size: int,
        etag: str,
        crc64: int,
        meta: dict[str, str],
        object_type: str,
        forbid_overwrite: bool = False,
    ) -> ObjectRecord:
        """
        Make the file ``temp`` the object's new content, atomically.

        :raises OssApiError: ``NoSuchBucket``; ``FileAlreadyExists`` with ``forbid_overwrite``.
        """

        def place(stem: str) -> list[Segment]:
            data_file = f"{stem}.data"
            os.replace(temp, data_file)
            return [Segment(data_file, size)]

        return self._commit(bucket_name, key, place, size, etag, crc64, meta, object_type, forbid_overwrite)

    def _commit(
        self,
        bucket_name: str,
        key: str,
        place: Callable[[str], list[Segment]],
        size: int,
        etag: str,
        crc64: int,
        meta: dict[str, str],
        object_type: str,
        forbid_overwrite: bool,
    ) -> ObjectRecord:
        """Install a new object version whose files ``place(stem)`` moves into the store."""
        with self._lock:
            bucket = self.bucket(bucket_name)
            if forbid_overwrite and key in bucket.objects and not bucket.versioning:
                raise OssApiError(
                    409, "FileAlreadyExists", "The object you specified already exists.", Key=key
                )
            directory, stem = self._object_paths(bucket, key)
            os.makedirs(directory, exist_ok=True)
            meta = with_bucket_storage_class(meta, bucket)
            segments = place(f"{stem}.{new_token()}")
            record = ObjectRecord(
                key,
                segments,
                size,
                etag,
                crc64,
                self._clock(),
                object_type,
                dict(meta),
                version_id=self._next_version(bucket),
                stamp=self._next_stamp(),
            )
            self._install(bucket, record, stem)
            return record

    def append_object(
        self,
        bucket_name: str,
        key: str,
        temp: str,
        *,
        position: int,
        size: int,
        crc64: int,
        meta: dict[str, str],
    ) -> ObjectRecord:
        """
        Append the file ``temp`` to an appendable object (created at position 0): a new segment,
        no copy of the bytes already there.

        :raises OssApiError: ``ObjectNotAppendable`` for a Normal or Multipart object;
            ``PositionNotEqualToLength`` (with the next position) when ``position`` is not its length.
        """
        with self._lock:
            bucket = self.bucket(bucket_name)
            old = bucket.objects.get(key)
            length = old.size if old is not None else 0
            if old is not None and old.object_type != "Appendable":
                raise OssApiError(409, "ObjectNotAppendable", "The object is not appendable.", Key=key)
            if position != length:
                err = OssApiError(409, "PositionNotEqualToLength", "Position is not equal to file length.")
                err.headers["x-oss-next-append-position"] = str(length)
                raise err
            directory, stem = self._object_paths(bucket, key)
            os.makedirs(directory, exist_ok=True)
            data_file = f"{stem}.{new_token()}.data"
            os.replace(temp, data_file)
            if old is None:
                segments, total_crc, record_meta = [Segment(data_file, size)], crc64, dict(meta)
                record_meta = with_bucket_storage_class(record_meta, bucket)
            else:
                segments = [*old.segments, Segment(data_file, size)]
                total_crc = crc64_combine(old.crc64, crc64, size)
                record_meta = old.meta  # as OSS: metadata is set by the first append only
            total = length + size
            record = ObjectRecord(
                key,
                segments,
                total,
                f'"{total_crc:016X}"',
                total_crc,
                self._clock(),
                "Appendable",
                record_meta,
                version_id=self._next_version(bucket) if old is None else old.version_id,
                stamp=self._next_stamp(),
            )
            if old is None:
                self._install(bucket, record, stem)
            else:  # the same version, longer; its files live on as the new record's first segments
                self._replace(bucket, old, record, stem)
                old.retired = True
                old.segments = []
            return record

    def _retire(self, record: ObjectRecord) -> None:
        """A version was replaced or deleted: remove its files now, or when its last reader closes."""
        record.retired = True
        if record.readers == 0:
            remove_segments(record.segments)

    def _reader_closed(self, record: ObjectRecord) -> None:
        with self._lock:
            record.readers -= 1
            if record.retired and record.readers == 0:
                remove_segments(record.segments)

    def get_object(self, bucket_name: str, key: str) -> ObjectRecord:
        """An object's current record; ``NoSuchBucket`` or ``NoSuchKey`` when missing."""
        return self.find_version(bucket_name, key, None)

    def open_object(
        self, bucket_name: str, key: str, version_id: str | None = None, *, for_copy: bool = False
    ) -> tuple[ObjectRecord, ObjectReader]:
        """
        An object's record (the current version, or ``version_id``'s: see :meth:`find_version`) and
        a reader of that version's bytes (the caller closes it; until then, the version's files stay
        even if the object is replaced or that version deleted).
        """
        with self._lock:
            record = self.find_version(bucket_name, key, version_id, for_copy=for_copy)
            record.readers += 1
            return record, ObjectReader(record.segments, lambda: self._reader_closed(record))

    def object_file(self, bucket_name: str, key: str) -> str:
        """
        One file holding the object's whole content. A multipart object is joined into one file
        first (its record then points at that file; size, ETag and CRC-64 are unchanged).
        """
        record, reader = self.open_object(bucket_name, key)
        with reader:
            if len(record.segments) == 1:
                return record.segments[0].path
            temp = self.new_temp()
            with open(temp, "wb", buffering=0) as out:
                reader.copy_into(out)
        with self._lock:
            bucket = self.bucket(bucket_name)
            if bucket.objects.get(key) is not record:  # replaced meanwhile: use the newer one
                self.discard(temp)
                return self.object_file(bucket_name, key)
            _, stem = self._object_paths(bucket, key)
            data_file = f"{stem}.{new_token()}.data"
            os.replace(temp, data_file)
            joined = ObjectRecord(
                key,
                [Segment(data_file, record.size)],
                record.size,
                record.etag,
                record.crc64,
                record.last_modified,
                record.object_type,
                record.meta,
                version_id=record.version_id,
                stamp=record.stamp,
            )
            self._replace(bucket, record, joined, stem)
            self._retire(record)
            return data_file

    def delete_object(self, bucket_name: str, key: str, version_id: str | None = None) -> Deletion:
        """
        Delete an object: without ``version_id``, its ``null`` version (and, in a bucket with
        versioning enabled or suspended, add a delete marker); with it, that version for good (a
        version the object does not have: nothing happens, as OSS).

        :raises OssApiError: ``InvalidArgument`` for an invalid version id.
        """
        if version_id is not None:
            check_version_id(version_id)
        with self._lock:
            bucket = self.bucket(bucket_name)
            directory, stem = self._object_paths(bucket, key)
            versions = bucket.history.get(key, [])
            if version_id is not None:
                found = next((v for v in versions if v.version_id == version_id), None)
                if found is None:
                    return Deletion(version_id, False)
                self._remove_version(bucket, found, stem)
                return Deletion(version_id, found.delete_marker)
            if not bucket.versioning:
                for old in list(versions):
                    self._remove_version(bucket, old, stem)
                return Deletion(None, False)
            os.makedirs(directory, exist_ok=True)
            marker = ObjectRecord(
                key,
                [],
                0,
                "",
                0,
                self._clock(),
                "Normal",
                {},
                version_id=self._next_version(bucket),
                delete_marker=True,
                stamp=self._next_stamp(),
            )
            self._install(bucket, marker, stem)
            return Deletion(marker.version_id, True)

    def _remove_version(self, bucket: BucketRecord, record: ObjectRecord, stem: str) -> None:
        self.discard(record.record_file(stem))
        bucket.history[record.key].remove(record)
        self._sync_current(bucket, record.key)
        self._retire(record)

    def list_objects(
        self, bucket_name: str, *, prefix: str, delimiter: str, marker: str, max_keys: int
    ) -> ListPage:
        """
        List objects after ``marker`` (a key or a common prefix) in key order.

        :return: a page of :class:`ObjectRecord` and common prefixes; ``next_marker`` is the last
            key or prefix returned when the page is truncated.
        """
        with self._lock:
            bucket = self.bucket(bucket_name)
            keys = bucket.keys
            start = bisect.bisect_left(keys, prefix)
            if marker:
                start = max(start, bisect.bisect_right(keys, marker))
            entries: list[tuple[str, ObjectRecord | None]] = []
            truncated = False
            last_prefix = ""
            for index in range(start, len(keys)):
                key = keys[index]
                if not key.startswith(prefix):
                    break
                common = ""
                if delimiter:
                    at = key.find(delimiter, len(prefix))
                    if at >= 0:
                        common = key[: at + len(delimiter)]
                        if common in (last_prefix, marker):
                            continue
                if len(entries) == max_keys:
                    truncated = True
                    break
                if common:
                    last_prefix = common
                    entries.append((common, None))
                else:
                    entries.append((key, bucket.objects[key]))
            return ListPage(
                items=[record for _, record in entries if record is not None],
                prefixes=[name for name, record in entries if record is None],
                truncated=truncated,
                next_marker=entries[-1][0] if truncated and entries else "",
            )
