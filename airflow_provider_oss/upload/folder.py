"""
:class:`FolderUploader`: every file of a scanned folder to a key prefix, ``concurrency`` files in
flight through one shared client.

Per file:

1. With ``skip_unchanged`` (the default): the prefix is listed once at the start (ListObjectsV2,
   1,000 keys a page: sizes, no CRC-64), so a file whose key is absent or has another size is
   uploaded without any HEAD; a file whose object has its size gets one HEAD, and when its
   ``x-oss-hash-crc64ecma`` equals the local CRC-64 nothing is sent (``skipped``). The local CRC is
   computed only when the sizes agree. When the prefix holds far more objects than the folder has
   files (over ``max(4 x files, 10,000)``), the listing stops and every file gets a HEAD instead.
   An object another writer creates after the listing is overwritten, as with ``replace=True``
   anyway (with ``replace=False`` OSS refuses it atomically).
2. A file below the multipart threshold is read once into memory; that buffer is both CRC-64'd and
   sent in one PutObject (OSS checks the CRC of what it received), and ``fstat`` before and after
   the read proves the file did not change meanwhile, so the object is exactly one state of the file.
3. A larger file goes through :class:`~airflow_provider_oss.upload.engine.ResumableUploader` with
   its own checkpoint (``store_for``), so a retried task continues its multipart upload ID.

A failure of one file never stops the others; they all finish (an object is written whole or not
at all) and the run reports every failure at the end. An error that will fail every file (bad
credentials, a missing bucket, an endpoint that does not answer as OSS) stops new files from
starting; those are counted ``not_attempted``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import (
    OssAuthError,
    OssConnectionError,
    OssNotFoundError,
    OssPreconditionError,
    OssResponseError,
)
from airflow_provider_oss.upload.config import MAX_PARALLELISM, TransferConfig, TransferConfigError
from airflow_provider_oss.upload.engine import ResumableUploader
from airflow_provider_oss.upload.errors import SourceFileError
from airflow_provider_oss.upload.folder_open import FolderFileOpener
from airflow_provider_oss.upload.folder_read import read_small_file
from airflow_provider_oss.upload.folder_result import (
    DEFAULT_MAX_ERRORS,
    DEFAULT_MAX_KEYS,
    FileOutcome,
    FolderUploadSummary,
)
from airflow_provider_oss.upload.folder_scan import scan_folder

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import ObjectInfo, ObjectOptions
    from airflow_provider_oss.upload.folder_scan import FolderFile, FolderScan
    from airflow_provider_oss.upload.stores import CheckpointStore

__all__ = ["FolderUploadConfig", "FolderUploader", "StoreFor", "upload_folder"]

log = logging.getLogger(__name__)

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]
#: The checkpoint store of one big file (None: that file is not resumable).
StoreFor = Callable[["FolderFile"], "CheckpointStore | None"]

#: The most files in flight at once.
MAX_CONCURRENCY = 64
#: Files in flight at once, by default.
DEFAULT_CONCURRENCY = 8
#: Parts in flight per big file, by default (memory: concurrency x parallelism x part_size at most).
DEFAULT_FOLDER_PARALLELISM = 2


def _default_transfer() -> TransferConfig:
    return TransferConfig(parallelism=DEFAULT_FOLDER_PARALLELISM)


@dataclass(frozen=True)
class FolderUploadConfig:
    """
    How a folder is uploaded.

    :param concurrency: files in flight at once, 1 to 64.
    :param transfer: the per-file settings: ``multipart_threshold`` (files below it go in one
        PutObject, read whole into memory), ``part_size`` and ``parallelism`` for the bigger ones.
        Memory is at most about ``concurrency * max(threshold, parallelism * part_size)``.
    :param skip_unchanged: skip a file when its object has the same size and CRC-64.
    :param replace: when False, never overwrite an object that differs from the file (that file fails).
    :param max_keys: keys listed in each key list of the summary at most.
    :param max_errors: failures listed in the summary and the error message at most.
    :param progress_interval: seconds between progress log lines at most.
    :raises TransferConfigError: (a ``ValueError``) for any value out of range, naming it.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    transfer: TransferConfig = field(default_factory=_default_transfer)
    skip_unchanged: bool = True
    replace: bool = True
    max_keys: int = DEFAULT_MAX_KEYS
    max_errors: int = DEFAULT_MAX_ERRORS
    progress_interval: float = 10.0

    def __post_init__(self) -> None:
        def is_int(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not is_int(self.concurrency) or not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise TransferConfigError(
                f"concurrency must be an int from 1 to {MAX_CONCURRENCY} (files in flight); got {self.concurrency!r}."
            )
        if not isinstance(self.transfer, TransferConfig):
            raise TransferConfigError(f"transfer must be a TransferConfig; got {self.transfer!r}.")
        for name in ("skip_unchanged", "replace"):
            if not isinstance(getattr(self, name), bool):
                raise TransferConfigError(f"{name} must be True or False; got {getattr(self, name)!r}.")
        for name in ("max_keys", "max_errors"):
            value = getattr(self, name)
            if not is_int(value) or not 0 <= value <= 100_000:
                raise TransferConfigError(f"{name} must be an int from 0 to 100000; got {value!r}.")

    @property
    def pool_size(self) -> int:
        """Connections the shared client needs: every file in flight may be a big one with its parts."""
        return min(self.concurrency * self.transfer.parallelism, MAX_CONCURRENCY * MAX_PARALLELISM) + 1


_FATAL_NOT_FOUND = ("NoSuchBucket",)


def is_fatal(err: BaseException) -> bool:
    """Whether ``err`` will fail every other file too (so no new file should start)."""
    if isinstance(err, (OssAuthError, OssConnectionError, OssResponseError)):
        return True
    return isinstance(err, OssNotFoundError) and err.code in _FATAL_NOT_FOUND


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else 'no message'}"


class FolderUploader:
    """
    Upload the files of a :class:`~airflow_provider_oss.upload.folder_scan.FolderScan`.

    :param client: the OSS client, shared by every file (thread-safe); build it with
        ``pool_size >= config.pool_size``.
    :param bucket: the bucket.
    :param scan: the files and their keys (:func:`~airflow_provider_oss.upload.folder_scan.scan_folder`).
    :param prefix: the normalised prefix the keys were built with (default: the scan's); the
        listing of existing objects covers it.
    :param config: concurrency, per-file transfer settings, skipping.
    :param store_for: the checkpoint store of a big file; None: big files are not resumable.
    :param object_options: headers for every object (type, metadata, storage class...).
    :param abort_on_failure: abort a big file's multipart upload when it fails (the final try only).
    :param logger: where to log.
    :param conn_id: the Airflow connection, named in the command that aborts a kept upload.
    """

    #: The listing of the prefix stops (HEAD per file instead) above max(4 x files, this) objects.
    LISTING_LIMIT_MIN = 10_000

    def __init__(
        self,
        client: OssClient,
        bucket: str,
        scan: FolderScan,
        *,
        prefix: str | None = None,
        config: FolderUploadConfig | None = None,
        store_for: StoreFor | None = None,
        object_options: ObjectOptions | None = None,
        abort_on_failure: bool = False,
        logger: LoggerLike | None = None,
        conn_id: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.scan = scan
        self.prefix = scan.prefix if prefix is None else prefix
        self.config = config if config is not None else FolderUploadConfig()
        self.store_for = store_for
        self.object_options = object_options
        self.abort_on_failure = abort_on_failure
        self.logger: LoggerLike = logger or log
        self.conn_id = conn_id
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = 0
        self._done_bytes = 0
        self._last_log = 0.0
        self._listed: dict[str, int] | None = None
        if client.config.pool_size < self.config.pool_size:
            self.logger.warning(
                "The OSS client's pool_size (%d) is below what %d files in flight need (%d): connections will "
                "be reopened.",
                client.config.pool_size,
                self.config.concurrency,
                self.config.pool_size,
            )

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> FolderUploadSummary:
        """Upload every file; return the summary (call ``summary.error()`` when not ``summary.ok``)."""
        started = time.monotonic()
        self._last_log = started
        files = self.scan.files
        for entry in self.scan.ignored:
            self.logger.warning("Not uploading %s: %s.", entry.relpath, entry.reason)
        for entry in self.scan.refused:
            self.logger.error("Cannot upload %s: %s.", entry.relpath, entry.reason)
        self.logger.info(
            "Uploading %d file(s) (%d bytes) of %s to oss://%s/%s, %d at a time%s.",
            len(files),
            self.scan.total_bytes,
            self.scan.root,
            self.bucket,
            self.prefix,
            self.config.concurrency,
            ", skipping those already in OSS (same size and CRC-64)" if self.config.skip_unchanged else "",
        )
        if self.config.skip_unchanged and files:
            self._listed = self._list_existing()
        if self.config.concurrency == 1 or len(files) <= 1:
            outcomes = [self._one(f) for f in files]
        else:
            pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="oss-folder")
            try:
                outcomes = list(pool.map(self._one_or_stop, files))
            except BaseException:
                # Killed (Airflow's SIGTERM) or interrupted: start no new file; the files in flight
                # finish or stop whole (a PutObject is atomic, a big file keeps its checkpoint).
                self._stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
        summary = FolderUploadSummary(
            self.bucket,
            self.prefix,
            self.scan.root,
            self.scan,
            outcomes,
            time.monotonic() - started,
            max_keys=self.config.max_keys,
            max_errors=self.config.max_errors,
        )
        self.logger.info("%s", summary.describe())
        return summary

    # -- one file --------------------------------------------------------------------------------

    def _one_or_stop(self, file: FolderFile) -> FileOutcome:
        """
        :meth:`_one` in a pool thread. An interruption there (``KeyboardInterrupt``, ``SystemExit``)
        stops new files at once, not only when :meth:`run`'s in-order wait reaches this file.
        """
        try:
            return self._one(file)
        except BaseException:
            self._stop.set()
            raise

    def _one(self, file: FolderFile) -> FileOutcome:
        if self._stop.is_set():
            return FileOutcome(file, "not_attempted")
        try:
            outcome = self._small(file) if file.size < self.config.transfer.threshold else self._big(file)
        except Exception as err:
            if is_fatal(err) and not self._stop.is_set():
                self._stop.set()
                self.logger.error(
                    "Stopping: %s fails every file (%s); files not started yet are not attempted.",
                    file.relpath,
                    _one_line(err),
                )
            else:
                self.logger.error(
                    "Failed to upload %s to oss://%s/%s: %s", file.path, self.bucket, file.key, err
                )
            outcome = FileOutcome(file, "failed", error=_one_line(err))
        self._progress(file)
        return outcome

    def _progress(self, file: FolderFile) -> None:
        with self._lock:
            self._done += 1
            self._done_bytes += file.size
            now = time.monotonic()
            if now - self._last_log < self.config.progress_interval and self._done != len(self.scan.files):
                return
            self._last_log = now
            done, done_bytes = self._done, self._done_bytes
        self.logger.info(
            "Folder upload progress: %d of %d file(s), %d of %d bytes.",
            done,
            len(self.scan.files),
            done_bytes,
            self.scan.total_bytes,
        )

    def _list_existing(self) -> dict[str, int] | None:
        """
        The sizes of the objects under the prefix (None when there are too many to be worth it).

        :raises OssError: the listing failed (bad credentials, missing bucket...): nothing was sent.
        """
        limit = max(4 * len(self.scan.files), self.LISTING_LIMIT_MIN)
        sizes: dict[str, int] = {}
        for summary in self.client.list_objects_v2(self.bucket, prefix=self.prefix):
            sizes[summary.key] = summary.size
            if len(sizes) > limit:
                self.logger.info(
                    "oss://%s/%s holds over %d objects: checking each file with a HEAD instead of the listing.",
                    self.bucket,
                    self.prefix,
                    limit,
                )
                return None
        return sizes

    def _head(self, key: str, size: int) -> ObjectInfo | None:
        """The object when it may hold the file (same size), else None (upload it)."""
        if not self.config.skip_unchanged:
            return None
        if self._listed is not None and self._listed.get(key) != size:
            return None  # absent or another size at the listing: no HEAD needed
        try:
            return self.client.head_object(self.bucket, key)
        except OssNotFoundError as err:
            if err.code not in ("", "NoSuchKey"):
                raise
            return None

    def _small(self, file: FolderFile) -> FileOutcome:
        opener = FolderFileOpener(self.scan, file)
        fd = opener()
        try:
            data = read_small_file(file, fd, self.config.transfer.threshold)
        finally:
            os.close(fd)
        if data is None:  # grew past the threshold since the scan
            return self._big(file, opener)
        local = crc.crc64(data)
        info = self._head(file.key, len(data))
        if info is not None and info.size == len(data) and info.crc64 == local:
            return FileOutcome(file, "skipped")
        try:
            self.client.put_object(
                self.bucket,
                file.key,
                data,
                options=self.object_options,
                crc64=local,
                forbid_overwrite=not self.config.replace,
            )
        except OssPreconditionError as err:
            if err.code != "FileAlreadyExists":
                raise
            raise OssPreconditionError(
                status=err.status,
                code=err.code,
                message="the object exists with other bytes and replace=False: it was not overwritten",
                request_id=err.request_id,
                method="PUT",
                bucket=self.bucket,
                key=file.key,
            ) from None
        return FileOutcome(file, "uploaded", bytes_sent=len(data))

    def _big(self, file: FolderFile, opener: FolderFileOpener | None = None) -> FileOutcome:
        """
        Upload a file in parts. Every byte read for it (the CRC-64 that may skip it, each part sent)
        comes through ``opener``: the file opened inside the folder without following a link, the
        same file (device and inode) each time.
        """
        opener = opener or FolderFileOpener(self.scan, file)
        fd = opener()
        try:
            before = os.fstat(fd)
            info = self._head(file.key, before.st_size)
            if info is not None and info.crc64 is not None and info.size == before.st_size:
                local = crc.crc64_of_fd(fd, 0, before.st_size)
                after = os.fstat(fd)
                unchanged = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
                if unchanged and local == info.crc64:
                    return FileOutcome(file, "skipped")
        finally:
            os.close(fd)
        uploader = ResumableUploader(
            self.client,
            self.bucket,
            file.key,
            file.path,
            config=self.config.transfer,
            checkpoint_store=self.store_for(file) if self.store_for is not None else None,
            object_options=self.object_options,
            replace=self.config.replace,
            abort_on_failure=self.abort_on_failure,
            logger=self.logger,
            conn_id=self.conn_id,
            source_opener=opener,
        )
        result = uploader.run()
        if result.already_complete:
            # the uploader judged the object by the file's path: judge it again by the file itself
            fd = opener()
            try:
                same = (
                    crc.crc64_of_fd(fd, 0, result.size) == result.crc64
                    and os.fstat(fd).st_size == result.size
                )
            finally:
                os.close(fd)
            if not same:
                raise SourceFileError(
                    f"{file.relpath} changed while it was checked against oss://{self.bucket}/{file.key}; nothing "
                    "was sent for it"
                )
            return FileOutcome(file, "skipped")  # the summary's `resumed` counts uploaded files only
        return FileOutcome(file, "uploaded", bytes_sent=result.bytes_sent, resumed=result.resumed)


def upload_folder(
    client: OssClient,
    bucket: str,
    folder: str | os.PathLike[str],
    prefix: str = "",
    *,
    pattern: str | None = None,
    recursive: bool = True,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
    config: FolderUploadConfig | None = None,
    store_for: StoreFor | None = None,
    object_options: ObjectOptions | None = None,
    abort_on_failure: bool = False,
    logger: LoggerLike | None = None,
    conn_id: str | None = None,
) -> FolderUploadSummary:
    """
    Scan ``folder`` (:func:`~airflow_provider_oss.upload.folder_scan.scan_folder`) and upload its
    files under ``prefix`` (:class:`FolderUploader`).

    :param client: the shared client (``pool_size >= config.pool_size``).
    :param bucket: the bucket.
    :param folder: the local directory.
    :param prefix: the key prefix (``data``, ``data/`` and ``data//`` all give ``data/<relative path>``).
    :param pattern: a glob on the relative path; without ``/`` it matches file names. None: all files.
    :param recursive: walk sub-directories.
    :param include_hidden: include names starting with ``.``.
    :param follow_symlinks: follow links that stay inside the folder (others are refused).
    :param config: concurrency, per-file transfer settings, skipping.
    :param store_for: the checkpoint store of each big file; None: not resumable.
    :param object_options: the objects' headers.
    :param abort_on_failure: abort a failed big file's multipart upload (the final try).
    :param logger: where to log.
    :param conn_id: the Airflow connection, named in the command that aborts a kept upload.
    :raises FolderScanError: the folder is missing, not a directory or cannot be listed.
    """
    scan = scan_folder(
        folder,
        prefix,
        pattern=pattern,
        recursive=recursive,
        include_hidden=include_hidden,
        follow_symlinks=follow_symlinks,
    )
    uploader = FolderUploader(
        client,
        bucket,
        scan,
        config=config,
        store_for=store_for,
        object_options=object_options,
        abort_on_failure=abort_on_failure,
        logger=logger,
        conn_id=conn_id,
    )
    return uploader.run()
