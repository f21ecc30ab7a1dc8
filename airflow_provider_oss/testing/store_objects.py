"""
Objects in the local server's store: commit (simple, appended or completed from parts), read,
delete and list, each version's files kept until its last reader closes.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable

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
    BucketRecord,
    ListPage,
    ObjectRecord,
    key_hash,
    new_token,
    with_bucket_storage_class,
)
from airflow_provider_oss.testing.store_base import StoreBase


class ObjectStore(StoreBase):
    """The objects of every bucket."""

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
            if forbid_overwrite and key in bucket.objects:
                raise OssApiError(
                    409, "FileAlreadyExists", "The object you specified already exists.", Key=key
                )
            directory, stem = self._object_paths(bucket, key)
            os.makedirs(directory, exist_ok=True)
            meta = with_bucket_storage_class(meta, bucket)
            segments = place(f"{stem}.{new_token()}")
            record = ObjectRecord(key, segments, size, etag, crc64, self._clock(), object_type, dict(meta))
            self._write_json(stem + ".json", record.saved(directory))
            old = bucket.objects.get(key)
            bucket.objects[key] = record
            if old is None:
                bisect.insort(bucket.keys, key)
            else:
                self._retire(old)
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
            )
            self._write_json(stem + ".json", record.saved(directory))
            bucket.objects[key] = record
            if old is None:
                bisect.insort(bucket.keys, key)
            else:  # its files live on as the new version's first segments: never remove them through it
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
        """An object's record; ``NoSuchBucket`` or ``NoSuchKey`` when missing."""
        with self._lock:
            record = self.bucket(bucket_name).objects.get(key)
            if record is None:
                raise no_such_key(key)
            return record

    def open_object(self, bucket_name: str, key: str) -> tuple[ObjectRecord, ObjectReader]:
        """
        An object's record and a reader of that version's bytes (the caller closes it; until then,
        the version's files stay even if the object is replaced).
        """
        with self._lock:
            record = self.get_object(bucket_name, key)
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
            directory, stem = self._object_paths(bucket, key)
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
            )
            self._write_json(stem + ".json", joined.saved(directory))
            bucket.objects[key] = joined
            self._retire(record)
            return data_file

    def delete_object(self, bucket_name: str, key: str) -> bool:
        """Delete an object; False when there was none."""
        with self._lock:
            bucket = self.bucket(bucket_name)
            record = bucket.objects.pop(key, None)
            if record is None:
                return False
            index = bisect.bisect_left(bucket.keys, key)
            del bucket.keys[index]
            _, stem = self._object_paths(bucket, key)
            self.discard(stem + ".json")
            self._retire(record)
            return True

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
