"""
Multipart uploads in the local server's store: initiate, parts, the crash-safe completion that
moves part files into the object, abort and listing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict

from airflow_provider_oss.testing import storefiles
from airflow_provider_oss.testing.apierror import (
    OssApiError,
    no_such_upload,
)
from airflow_provider_oss.testing.objectdata import (
    Segment,
)
from airflow_provider_oss.testing.records import (
    ListPage,
    ObjectRecord,
    PartRecord,
    UploadRecord,
    new_token,
    new_upload_id,
    with_bucket_storage_class,
)
from airflow_provider_oss.testing.store_objects import ObjectStore


class UploadStore(ObjectStore):
    """The in-progress multipart uploads of every bucket."""

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
            data_file = os.path.join(upload.directory, f"part-{number}.{new_token()}.data")
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
            if forbid_overwrite and key in bucket.objects and not bucket.versioning:
                upload.completing = False
                self._release(upload)
                raise OssApiError(
                    409, "FileAlreadyExists", "The object you specified already exists.", Key=key
                )
            directory, stem = self._object_paths(bucket, key)
            folder = f"{stem}.{new_token()}.parts"
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
                with_bucket_storage_class(meta, bucket),
                version_id=self._next_version(bucket),
                stamp=self._next_stamp(),
            )
            journal = {
                "moves": [
                    [os.path.relpath(p.data_file, self.root), os.path.relpath(seg.path, self.root)]
                    for p, seg in zip(chosen, segments, strict=True)
                ],
                "record_path": os.path.relpath(record.record_file(stem), self.root),
                "record": record.saved(directory),
            }
            self._write_json(os.path.join(upload.directory, storefiles.COMPLETION), journal)
            storefiles.apply_completion(self.root, journal, self._write_json)
            with contextlib.suppress(FileNotFoundError):  # from now on the upload is gone on disk
                os.unlink(os.path.join(upload.directory, "upload.json"))
            self._install(bucket, record, stem, write=False)
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
