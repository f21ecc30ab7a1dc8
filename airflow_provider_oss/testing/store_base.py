"""
The foundation of the local server's on-disk :class:`~airflow_provider_oss.testing.store.Store`:
its root, scratch files, JSON records, the index rebuilt at start, and buckets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from airflow_provider_oss.testing import storefiles
from airflow_provider_oss.testing.apierror import (
    OssApiError,
    no_such_bucket,
)
from airflow_provider_oss.testing.records import (
    BucketRecord,
    ObjectRecord,
    PartRecord,
    UploadRecord,
    new_token,
)


class StoreBase:
    """
    The store's root, files, index and buckets (see :class:`~airflow_provider_oss.testing.store.Store`).

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
        return os.path.join(self._tmp, new_token())

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
