"""
The foundation of the local server's on-disk :class:`~airflow_provider_oss.testing.store.Store`:
its root, scratch files, JSON records, the index rebuilt at start, and buckets.
"""

from __future__ import annotations

import contextlib
import json
import logging
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
from airflow_provider_oss.testing.record_checks import (
    RecordError,
    checked_journal,
    checked_object,
    checked_part,
    checked_upload_head,
    is_inside,
)
from airflow_provider_oss.testing.records import (
    BucketRecord,
    UploadRecord,
    new_token,
)
from airflow_provider_oss.testing.routing import valid_bucket_name

log = logging.getLogger(__name__)
_UPLOAD_ID_RE = re.compile(r"^[0-9A-F]{32}$")


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
        self._last_version = ""  # the last version id given (new ones sort after it)
        self._last_stamp = 0  # the last version stamp given (new ones are larger)
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

    def _load(self) -> None:
        """Rebuild the index from the records on disk; a record that fails its checks is skipped."""
        buckets_dir = os.path.join(self.root, "buckets")
        for name in sorted(os.listdir(buckets_dir)):
            directory = os.path.join(buckets_dir, name)
            try:
                bucket = self._load_bucket(name, directory)
            except RecordError as err:
                log.warning("The local OSS server skipped the bucket folder %s: %s.", directory, err)
                continue
            if bucket is None:
                continue
            self._buckets[name] = bucket
            uploads_dir = os.path.join(directory, "uploads")
            upload_dirs = [
                os.path.join(uploads_dir, upload_id)
                for upload_id in (sorted(os.listdir(uploads_dir)) if os.path.isdir(uploads_dir) else [])
                if _UPLOAD_ID_RE.match(upload_id)
                and is_inside(self.root, os.path.join(uploads_dir, upload_id))
            ]
            for updir in upload_dirs:
                self._recover_completion(updir)
            self._load_objects(bucket)
            for updir in upload_dirs:
                upload = self._load_upload(name, updir)
                if upload is not None:
                    bucket.uploads[upload.upload_id] = upload

    def _load_bucket(self, name: str, directory: str) -> BucketRecord | None:
        info = self._read_json(os.path.join(directory, "bucket.json"))
        if info is None:
            return None
        if not valid_bucket_name(name) or not is_inside(self.root, directory):
            raise RecordError("not a bucket this server wrote")
        created = info.get("created")
        if not isinstance(created, int | float) or not isinstance(info.get("public_read"), bool):
            raise RecordError("bucket.json lacks created or public_read")
        bucket = BucketRecord(name, float(created), bool(info["public_read"]), directory)
        bucket.storage_class = str(info.get("storage_class", "Standard"))
        bucket.redundancy = str(info.get("redundancy", "LRS"))
        bucket.acl = str(info.get("acl", ""))
        versioning = info.get("versioning", "")
        if versioning not in ("", "Enabled", "Suspended"):
            raise RecordError("bucket.json has an unknown versioning status")
        bucket.versioning = versioning
        return bucket

    def _load_objects(self, bucket: BucketRecord) -> None:
        objects_dir = os.path.join(bucket.directory, "objects")
        for sub in sorted(os.listdir(objects_dir)) if os.path.isdir(objects_dir) else []:
            folder = os.path.join(objects_dir, sub)
            if not re.fullmatch(r"[0-9a-f]{2}", sub) or not is_inside(self.root, folder):
                continue
            referenced: set[str] = set()
            for entry in os.listdir(folder):
                if not entry.endswith(".json"):
                    continue
                path = os.path.join(folder, entry)
                data = self._read_json(path)
                if data is None:
                    continue
                try:
                    record = checked_object(data, path, self.root)
                except RecordError as err:
                    log.warning("The local OSS server skipped the object record %s: %s.", path, err)
                    continue
                versions = bucket.history.setdefault(record.key, [])
                if all(v.version_id != record.version_id for v in versions):
                    versions.append(record)
                referenced.update(segment.path for segment in record.segments)
                self._last_stamp = max(self._last_stamp, record.stamp)
            storefiles.collect_unreferenced_object_files(folder, referenced)
        for key, versions in bucket.history.items():
            versions.sort(key=lambda v: v.stamp, reverse=True)
            if not versions[0].delete_marker:
                bucket.objects[key] = versions[0]
        bucket.keys = sorted(bucket.objects)

    def _load_upload(self, bucket_name: str, updir: str) -> UploadRecord | None:
        head = self._read_json(os.path.join(updir, "upload.json"))
        if head is None:
            return None
        try:
            key, initiated, meta = checked_upload_head(head)
            upload = UploadRecord(bucket_name, key, os.path.basename(updir), initiated, meta, updir)
            for entry in os.listdir(updir):
                found = re.fullmatch(r"part-([1-9][0-9]{0,4})\.json", entry)
                part = self._read_json(os.path.join(updir, entry)) if found else None
                if found and part is not None:
                    number = int(found.group(1))
                    upload.parts[number] = checked_part(part, updir, number)
        except RecordError as err:
            log.warning("The local OSS server skipped the upload %s: %s.", updir, err)
            return None
        return upload

    def _recover_completion(self, updir: str) -> None:
        """
        Finish a multipart completion a crash interrupted (its journal is there with the upload's
        record), or clear the files of an upload that was completed or aborted before a crash. A
        journal that fails its checks is not carried out (the upload stays as it is).
        """
        journal = self._read_json(os.path.join(updir, storefiles.COMPLETION))
        has_record = os.path.exists(os.path.join(updir, "upload.json"))
        if journal is not None and has_record:
            try:
                checked_journal(journal, self.root, updir)
            except RecordError as err:
                log.warning("The local OSS server ignored the completion journal of %s: %s.", updir, err)
                return
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
                    "versioning": bucket.versioning,
                },
            )
            return bucket

    def set_versioning(self, name: str, status: str) -> None:
        """Set a bucket's versioning status (``Enabled`` or ``Suspended``), kept in its bucket.json."""
        with self._lock:
            bucket = self.bucket(name)
            bucket.versioning = status
            self.create_bucket(name, public_read=bucket.public_read, acl=bucket.acl)

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket."""
        with self._lock:
            bucket = self.bucket(name)
            if bucket.history or bucket.uploads:
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
