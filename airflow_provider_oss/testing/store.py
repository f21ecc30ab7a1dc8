"""
On-disk storage of the local server: buckets, objects and in-progress multipart uploads.

Layout under the root directory (every file is written to the scratch folder first, then renamed into place,
so a reader never sees half a file)::

    oss-local-server.json                   marks the directory as a server root (see :mod:`.storefiles`)
    .oss-local-scratch/                     request bodies being received, JSON being written
    buckets/<bucket>/bucket.json            creation time, public_read
    buckets/<bucket>/objects/<hh>/<sha>.json         object record (key, size, ETag, CRC, metadata)
    buckets/<bucket>/objects/<hh>/<sha>.<token>.data the bytes of a simple object (a file per version)
    buckets/<bucket>/objects/<hh>/<sha>.<token>.parts/part-<n>.data  a multipart object's segments
    buckets/<bucket>/uploads/<upload_id>/upload.json           key, initiation time, metadata
    buckets/<bucket>/uploads/<upload_id>/part-<n>.json         part record
    buckets/<bucket>/uploads/<upload_id>/part-<n>.<token>.data part bytes

Completing a multipart upload moves its part files into the object's ``.parts`` folder: the object
is read across them (:class:`~airflow_provider_oss.testing.objectdata.ObjectReader`), so completion
costs metadata, not a copy of every byte. The index lives in memory and is rebuilt from the JSON
records when a server starts on an existing root directory. A reader registers with the object's
record under the store lock; a replaced or deleted version's files stay until its last reader is
closed.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_oss.core.crc64 import combine as crc64_combine
from airflow_provider_oss.testing import storefiles
from airflow_provider_oss.testing.apierror import (
    OssApiError,
    no_such_bucket,
    no_such_key,
    no_such_upload,
)
from airflow_provider_oss.testing.objectdata import (
    ObjectReader,
    Segment,
    remove_segments,
)


@dataclass
class ObjectRecord:
    """
    An object version: the segment files holding its bytes, its size, ETag (quoted), CRC-64 and
    metadata headers; ``readers`` open readers, ``retired`` once replaced or deleted.
    """

    key: str
    segments: list[Segment]
    size: int
    etag: str
    crc64: int
    last_modified: float
    object_type: str
    meta: dict[str, str]
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
        }

    @classmethod
    def loaded(cls, data: dict[str, Any], folder: str) -> ObjectRecord:
        """The record saved by :meth:`saved` in ``folder``."""
        fields = dict(data)
        if "data_file" in fields:  # a record from before segments: one file
            fields["segments"] = [[fields.pop("data_file"), fields["size"]]]
        fields["segments"] = [
            Segment(os.path.join(folder, path), int(size)) for path, size in fields["segments"]
        ]
        return cls(**fields)


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
    """A bucket and its index."""

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


@dataclass
class ListPage:
    """One page of a listing: records, common prefixes, and where the next page starts."""

    items: list[Any]
    prefixes: list[str]
    truncated: bool
    next_marker: str


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def _token() -> str:
    return secrets.token_hex(8)


def _with_bucket_storage_class(meta: dict[str, str], bucket: BucketRecord) -> dict[str, str]:
    """An object without its own storage class takes its bucket's (as OSS)."""
    if "x-oss-storage-class" in meta or bucket.storage_class == "Standard":
        return dict(meta)
    return {**meta, "x-oss-storage-class": bucket.storage_class}


def new_upload_id() -> str:
    """A 32-character upload id that sorts by initiation time, like OSS's."""
    return f"{time.time_ns():016X}{secrets.token_hex(8).upper()}"


class Store:
    """
    Thread-safe on-disk storage.

    :param root: the root directory (created if missing; existing records are loaded).
    :param clock: the server clock (epoch seconds), for modification times.
    """

    def __init__(self, root: str, clock: Callable[[], float]) -> None:
        self.root = os.path.abspath(root)
        self._clock = clock
        self._lock = threading.RLock()
        self._buckets: dict[str, BucketRecord] = {}
        storefiles.claim_root(self.root)
        legacy_tmp = os.path.join(self.root, "tmp")
        if os.path.isdir(legacy_tmp):  # the scratch folder of older servers: only their own files
            storefiles.remove_own_files(legacy_tmp, re.compile(r"^[0-9a-f]{16}$"))
        self._tmp = os.path.join(self.root, storefiles.SCRATCH)
        os.makedirs(self._tmp, exist_ok=True)
        storefiles.clean_scratch(self._tmp)
        os.makedirs(os.path.join(self.root, "buckets"), exist_ok=True)
        self._load()

    # -- files -----------------------------------------------------------------------------------

    def new_temp(self) -> str:
        """A fresh path in the store's temp directory (same file system, so renames are atomic)."""
        return os.path.join(self._tmp, _token())

    @staticmethod
    def discard(path: str) -> None:
        """Remove a temp file if it exists."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def _write_json(self, path: str, record: dict[str, Any]) -> None:
        temp = self.new_temp()
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(temp, path)

    @staticmethod
    def _read_json(path: str) -> dict[str, Any] | None:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _load(self) -> None:  # noqa: C901  # rebuilding the index skips each kind of damaged or foreign file where it is met
        buckets_dir = os.path.join(self.root, "buckets")
        for name in sorted(os.listdir(buckets_dir)):
            directory = os.path.join(buckets_dir, name)
            info = self._read_json(os.path.join(directory, "bucket.json"))
            if info is None:
                continue
            bucket = BucketRecord(name, float(info["created"]), bool(info["public_read"]), directory)
            bucket.storage_class = str(info.get("storage_class", "Standard"))
            bucket.redundancy = str(info.get("redundancy", "LRS"))
            bucket.acl = str(info.get("acl", ""))
            self._buckets[name] = bucket
            uploads_dir = os.path.join(directory, "uploads")
            for upload_id in os.listdir(uploads_dir) if os.path.isdir(uploads_dir) else []:
                self._recover_completion(os.path.join(uploads_dir, upload_id))
            objects_dir = os.path.join(directory, "objects")
            for sub in sorted(os.listdir(objects_dir)) if os.path.isdir(objects_dir) else []:
                referenced: set[str] = set()
                for entry in os.listdir(os.path.join(objects_dir, sub)):
                    if entry.endswith(".json"):
                        data = self._read_json(os.path.join(objects_dir, sub, entry))
                        if data is not None:
                            record = ObjectRecord.loaded(data, os.path.join(objects_dir, sub))
                            bucket.objects[record.key] = record
                            referenced.update(segment.path for segment in record.segments)
                storefiles.collect_unreferenced_object_files(os.path.join(objects_dir, sub), referenced)
            bucket.keys = sorted(bucket.objects)
            for upload_id in os.listdir(uploads_dir) if os.path.isdir(uploads_dir) else []:
                updir = os.path.join(uploads_dir, upload_id)
                head = self._read_json(os.path.join(updir, "upload.json"))
                if head is None:
                    continue
                upload = UploadRecord(
                    name, head["key"], upload_id, float(head["initiated"]), head["meta"], updir
                )
                for entry in os.listdir(updir):
                    if entry.startswith("part-") and entry.endswith(".json"):
                        part = self._read_json(os.path.join(updir, entry))
                        if part is not None:
                            part["data_file"] = os.path.join(updir, part["data_file"])
                            upload.parts[int(part["number"])] = PartRecord(**part)
                bucket.uploads[upload_id] = upload

    def _recover_completion(self, updir: str) -> None:
        """
        Finish a multipart completion a crash interrupted (its journal is there with the upload's
        record), or clear the files of an upload that was completed or aborted before a crash.
        """
        journal = self._read_json(os.path.join(updir, storefiles.COMPLETION))
        has_record = os.path.exists(os.path.join(updir, "upload.json"))
        if journal is not None and has_record:
            storefiles.apply_completion(self.root, journal, self._write_json)
            storefiles.remove_upload_folder(updir)
        elif not has_record:
            storefiles.remove_upload_folder(updir)

    # -- buckets ---------------------------------------------------------------------------------

    def create_bucket(
        self,
        name: str,
        *,
        public_read: bool = False,
        acl: str = "",
        storage_class: str | None = None,
        redundancy: str | None = None,
    ) -> BucketRecord:
        """
        Create a bucket, or update ``public_read`` (and ``acl``) of an existing one; the storage
        class and redundancy type are set at creation only.
        """
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                directory = os.path.join(self.root, "buckets", name)
                os.makedirs(os.path.join(directory, "objects"), exist_ok=True)
                os.makedirs(os.path.join(directory, "uploads"), exist_ok=True)
                bucket = BucketRecord(name, self._clock(), public_read, directory)
                bucket.storage_class = storage_class or "Standard"
                bucket.redundancy = redundancy or "LRS"
                self._buckets[name] = bucket
            bucket.public_read = public_read
            bucket.acl = acl
            self._write_json(
                os.path.join(bucket.directory, "bucket.json"),
                {
                    "created": bucket.created,
                    "public_read": bucket.public_read,
                    "acl": bucket.acl,
                    "storage_class": bucket.storage_class,
                    "redundancy": bucket.redundancy,
                },
            )
            return bucket

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket."""
        with self._lock:
            bucket = self.bucket(name)
            if bucket.objects or bucket.uploads:
                raise OssApiError(
                    409,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty.",
                    BucketName=name,
                )
            del self._buckets[name]
            storefiles.remove_bucket_folder(bucket.directory)

    def bucket(self, name: str) -> BucketRecord:
        """The bucket called ``name``; ``NoSuchBucket`` when there is none."""
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                raise no_such_bucket(name)
            return bucket

    def bucket_exists(self, name: str) -> bool:
        """Whether a bucket exists."""
        with self._lock:
            return name in self._buckets

    def buckets(self) -> list[BucketRecord]:
        """Every bucket, by name."""
        with self._lock:
            return [self._buckets[name] for name in sorted(self._buckets)]

    # -- objects ---------------------------------------------------------------------------------

    def _object_paths(self, bucket: BucketRecord, key: str) -> tuple[str, str]:
        digest = _key_hash(key)
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
            meta = _with_bucket_storage_class(meta, bucket)
            segments = place(f"{stem}.{_token()}")
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
            data_file = f"{stem}.{_token()}.data"
            os.replace(temp, data_file)
            if old is None:
                segments, total_crc, record_meta = [Segment(data_file, size)], crc64, dict(meta)
                record_meta = _with_bucket_storage_class(record_meta, bucket)
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
            data_file = f"{stem}.{_token()}.data"
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

    # -- multipart uploads -----------------------------------------------------------------------

    def initiate_upload(self, bucket_name: str, key: str, meta: dict[str, str]) -> UploadRecord:
        """Start a multipart upload."""
        with self._lock:
            bucket = self.bucket(bucket_name)
            upload_id = new_upload_id()
            directory = os.path.join(bucket.directory, "uploads", upload_id)
            os.makedirs(directory)
            upload = UploadRecord(bucket_name, key, upload_id, self._clock(), dict(meta), directory)
            self._write_json(
                os.path.join(directory, "upload.json"),
                {"key": key, "initiated": upload.initiated, "meta": upload.meta},
            )
            bucket.uploads[upload_id] = upload
            return upload

    def upload(self, bucket_name: str, upload_id: str, key: str | None = None) -> UploadRecord:
        """An in-progress upload of ``key`` (any key when None); ``NoSuchUpload`` otherwise."""
        with self._lock:
            upload = self.bucket(bucket_name).uploads.get(upload_id)
            if upload is None or (key is not None and upload.key != key):
                raise no_such_upload(upload_id)
            return upload

    def commit_part(
        self,
        bucket_name: str,
        upload_id: str,
        key: str,
        number: int,
        temp: str,
        *,
        size: int,
        etag: str,
        crc64: int,
    ) -> PartRecord:
        """Store a received part, replacing an earlier upload of the same part number."""
        with self._lock:
            upload = self.upload(bucket_name, upload_id, key)
            data_file = os.path.join(upload.directory, f"part-{number}.{_token()}.data")
            os.replace(temp, data_file)
            part = PartRecord(number, data_file, size, etag, crc64, self._clock())
            saved = asdict(part)
            saved["data_file"] = os.path.basename(data_file)
            self._write_json(os.path.join(upload.directory, f"part-{number}.json"), saved)
            old = upload.parts.get(number)
            upload.parts[number] = part
            if old is not None:
                if upload.busy:
                    upload.garbage.append(old.data_file)
                else:
                    self.discard(old.data_file)
            return part

    def parts(self, bucket_name: str, upload_id: str, key: str | None = None) -> list[PartRecord]:
        """The parts of an upload, by part number."""
        with self._lock:
            upload = self.upload(bucket_name, upload_id, key)
            return [upload.parts[n] for n in sorted(upload.parts)]

    def begin_complete(self, bucket_name: str, upload_id: str, key: str) -> dict[int, PartRecord]:
        """
        Mark an upload as being completed and return a snapshot of its parts. Until
        :meth:`finish_complete` or :meth:`cancel_complete`, replaced part files are kept.
        """
        with self._lock:
            upload = self.upload(bucket_name, upload_id, key)
            if upload.completing:
                raise no_such_upload(upload_id, "Another request is completing it.")
            upload.completing = True
            upload.busy += 1
            return dict(upload.parts)

    def _release(self, upload: UploadRecord) -> None:
        upload.busy -= 1
        if upload.busy == 0:
            for path in upload.garbage:
                self.discard(path)
            upload.garbage.clear()
            if upload.gone:
                storefiles.remove_upload_folder(upload.directory)

    def cancel_complete(self, bucket_name: str, upload_id: str) -> None:
        """Undo :meth:`begin_complete` after a failed completion (the upload stays in progress)."""
        with self._lock:
            upload = self._buckets[bucket_name].uploads.get(upload_id)
            if upload is not None:
                upload.completing = False
                self._release(upload)

    def finish_complete(
        self,
        bucket_name: str,
        upload_id: str,
        chosen: list[PartRecord],
        *,
        etag: str,
        crc64: int,
        meta: dict[str, str],
        forbid_overwrite: bool,
    ) -> ObjectRecord:
        """
        Turn an upload into its object, whose segments are the ``chosen`` parts' files (moved, not
        copied), and forget the upload.

        Crash-safe: a journal (the moves and the object record) is written to the upload's folder
        first; a server restarted after a crash at any point finishes the completion from it
        (:meth:`_recover_completion`), so the object appears whole and the upload never stays half
        moved. The upload's record is removed only once the object record is written.
        """
        with self._lock:
            bucket = self.bucket(bucket_name)
            upload = bucket.uploads.get(upload_id)
            if upload is None:
                raise no_such_upload(upload_id, "It was aborted while it was being completed.")
            key = upload.key
            if forbid_overwrite and key in bucket.objects:
                upload.completing = False
                self._release(upload)
                raise OssApiError(
                    409, "FileAlreadyExists", "The object you specified already exists.", Key=key
                )
            directory, stem = self._object_paths(bucket, key)
            folder = f"{stem}.{_token()}.parts"
            segments = [
                Segment(os.path.join(folder, f"part-{n}.data"), p.size) for n, p in enumerate(chosen, 1)
            ]
            record = ObjectRecord(
                key,
                segments,
                sum(p.size for p in chosen),
                etag,
                crc64,
                self._clock(),
                "Multipart",
                _with_bucket_storage_class(meta, bucket),
            )
            journal = {
                "moves": [
                    [os.path.relpath(p.data_file, self.root), os.path.relpath(seg.path, self.root)]
                    for p, seg in zip(chosen, segments, strict=True)
                ],
                "record_path": os.path.relpath(stem + ".json", self.root),
                "record": record.saved(directory),
            }
            self._write_json(os.path.join(upload.directory, storefiles.COMPLETION), journal)
            storefiles.apply_completion(self.root, journal, self._write_json)
            with contextlib.suppress(FileNotFoundError):  # from now on the upload is gone on disk
                os.unlink(os.path.join(upload.directory, "upload.json"))
            old = bucket.objects.get(key)
            bucket.objects[key] = record
            if old is None:
                bisect.insort(bucket.keys, key)
            else:
                self._retire(old)
            del bucket.uploads[upload_id]
            upload.gone = True
            self._release(upload)
            return record

    def abort_upload(self, bucket_name: str, upload_id: str, key: str | None = None) -> None:
        """Abort an upload and delete its parts (``NoSuchUpload`` when unknown)."""
        with self._lock:
            upload = self.upload(bucket_name, upload_id, key)
            del self._buckets[bucket_name].uploads[upload_id]
            upload.gone = True
            if upload.busy == 0:
                storefiles.remove_upload_folder(upload.directory)

    def list_uploads(
        self,
        bucket_name: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> ListPage:
        """
        In-progress uploads in (key, upload id) order after the markers.

        :return: a page of :class:`UploadRecord`; ``next_marker`` is ``"key\\nupload_id"`` of the
            last one when truncated.
        """
        with self._lock:
            uploads = sorted(self.bucket(bucket_name).uploads.values(), key=lambda u: (u.key, u.upload_id))
            items: list[UploadRecord] = []
            prefixes: list[str] = []
            truncated = False
            last = ""
            for upload in uploads:
                if not upload.key.startswith(prefix):
                    continue
                if key_marker and (
                    upload.key < key_marker
                    or (
                        upload.key == key_marker
                        and (not upload_id_marker or upload.upload_id <= upload_id_marker)
                    )
                ):
                    continue
                common = ""
                if delimiter:
                    at = upload.key.find(delimiter, len(prefix))
                    if at >= 0:
                        common = upload.key[: at + len(delimiter)]
                        if (prefixes and common == prefixes[-1]) or common == key_marker:
                            continue
                if len(items) + len(prefixes) == max_uploads:
                    truncated = True
                    break
                if common:
                    prefixes.append(common)
                    last = common + "\n"
                else:
                    items.append(upload)
                    last = upload.key + "\n" + upload.upload_id
            return ListPage(items, prefixes, truncated, last if truncated else "")
