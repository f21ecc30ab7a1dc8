"""
:class:`OssFileSystem`: an fsspec filesystem over :class:`~airflow_provider_oss.core.client.OssClient`,
so ``oss://bucket/key`` paths work with fsspec, universal_pathlib and Airflow's ObjectStoragePath.

Reads are ranged GETs of ``block_size`` bytes, each answer checked to be exactly the range asked
(:mod:`~airflow_provider_oss.core.read_answers`); a read that spans the whole object is one GET
checked against the object's CRC-64. A write is one PutObject when it fits in a block, else a
multipart upload of block-sized parts whose combined CRC-64 is checked at completion (and aborted
when the write fails). OSS's errors are raised as Python's (:mod:`~airflow_provider_oss.fs.errors`);
``open(path, "xb")`` and ``pipe_file(..., mode="create")`` never overwrite. "Directories" are key prefixes
ending in ``/``: ``mkdir`` is a no-op, and a directory exists while an object lies under it. No
listing is cached, so what one writer does is seen by the next call.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.bulk_delete import delete_in_batches
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.errors import OssClientError, OssNotFoundError, OssPreconditionError
from airflow_provider_oss.core.models import ObjectInfo, ObjectSummary, UploadedPart
from airflow_provider_oss.fs.errors import python_errors
from airflow_provider_oss.fs.options import client_from_options

log = logging.getLogger(__name__)

#: Options fsspec's base class takes (listing caches, which this filesystem does not use).
FSSPEC_OPTIONS = frozenset({"skip_instance_cache", "use_listings_cache", "listings_expiry_time", "max_paths"})

#: The smallest part OSS accepts in a multipart upload (but the last).
MIN_BLOCK_SIZE = 100 * 1024
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024


class OssFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec ships no type hints
    """
    fsspec filesystem for ``oss://bucket/key``: on a given client (Airflow's ``ObjectStoragePath``
    passes the connection's), or on ossfs's options, so ``fsspec.filesystem("oss", key=...,
    secret=..., endpoint=...)`` and pandas' ``storage_options`` work as they did with ossfs.

    :param client: the signed client (e.g. ``OssHook(conn_id).get_client()``); else the options below.
    :param block_size: bytes per ranged read and per uploaded part (at least 100 KiB).
    :param endpoint: ossfs's option: ``https://oss-cn-hangzhou.aliyuncs.com``; ``$OSS_ENDPOINT`` when None.
    :param key: ossfs's option: the AccessKeyId.
    :param secret: ossfs's option: the AccessKeySecret.
    :param token: ossfs's option: the STS security token.
    :param region: the region to sign with, when the endpoint names none.
    :param client_options: other :class:`~airflow_provider_oss.core.client_config.ClientConfig` fields.
    :param default_block_size: ossfs's name for ``block_size``.
    :param default_cache_type: the read cache of :meth:`open` when none is given (ossfs's option).
    """

    protocol = ("oss",)
    root_marker = ""
    cachable = False  # the instance holds a live client; never share it through fsspec's cache

    def __init__(
        self,
        client: OssClient | None = None,
        *,
        block_size: int | None = None,
        endpoint: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        region: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        default_block_size: int | None = None,
        default_cache_type: str = "readahead",
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - FSSPEC_OPTIONS)
        if unknown:
            raise TypeError(
                f"OssFileSystem got unknown option(s) {unknown}; it takes client, block_size, endpoint, key, "
                "secret, token, region, client_options, default_block_size and default_cache_type."
            )
        super().__init__(**kwargs)
        if block_size is not None and default_block_size is not None:
            raise TypeError("Pass block_size or default_block_size (ossfs's name), not both.")
        if block_size is None:
            block_size = DEFAULT_BLOCK_SIZE if default_block_size is None else default_block_size
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < MIN_BLOCK_SIZE:
            raise OssClientError(
                f"block_size must be an int of at least {MIN_BLOCK_SIZE} (100 KiB); got {block_size!r}."
            )
        options = {"endpoint": endpoint, "key": key, "secret": secret, "token": token, "region": region}
        if client is None:
            client = client_from_options(**options, client_options=client_options)
        elif any(value is not None for value in options.values()) or client_options is not None:
            raise TypeError("Pass client= or ossfs's options (endpoint, key, secret, token...), not both.")
        self.client = client
        self.blocksize = block_size
        self.default_cache_type = default_cache_type

    # -- paths -------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """
        ``oss://bucket/key``, ``bucket/key``, ``/bucket/key`` and Airflow's ``oss://conn_id@bucket/key``
        -> ``bucket/key`` (a bucket name never contains ``@``, so what precedes one is a connection id).
        """
        stripped = super()._strip_protocol(path)
        if not isinstance(stripped, str):
            return stripped
        stripped = stripped.lstrip("/")
        head, sep, tail = stripped.partition("/")
        if "@" in head:
            stripped = head.rpartition("@")[2] + sep + tail
        return stripped

    def split_path(self, path: str) -> tuple[str, str]:
        """``oss://bucket/a/b`` or ``bucket/a/b`` -> ``("bucket", "a/b")``."""
        stripped = self._strip_protocol(path)
        bucket, _, key = stripped.partition("/")
        if not bucket:
            raise OssClientError(f"{path!r} names no bucket (expected oss://bucket/key).")
        return bucket, key

    def _key_path(self, path: str) -> tuple[str, str]:
        bucket, key = self.split_path(path)
        if not key:
            raise IsADirectoryError(f"{path!r} is a bucket, not an object.")
        return bucket, key

    # -- metadata ------------------------------------------------------------------------------

    @staticmethod
    def _file_info(bucket: str, obj: ObjectInfo | ObjectSummary) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": f"{bucket}/{obj.key}",
            "size": obj.size,
            "type": "file",
            "ETag": obj.etag,
            "LastModified": obj.last_modified,
            "StorageClass": obj.storage_class,
        }
        if isinstance(obj, ObjectInfo):
            info.update(crc64=obj.crc64, ContentType=obj.content_type, metadata=dict(obj.metadata))
        return info

    @staticmethod
    def _dir_info(name: str) -> dict[str, Any]:
        return {"name": name.rstrip("/"), "size": 0, "type": "directory"}

    def _has_children(self, bucket: str, prefix: str) -> bool:
        return next(iter(self.client.list_objects_v2(bucket, prefix=prefix, page_size=1)), None) is not None

    @python_errors
    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        bucket, key = self.split_path(path)
        if not key:
            self.client.get_bucket_info(bucket)  # raises OssNotFoundError for a missing bucket
            return self._dir_info(bucket)
        key = key.rstrip("/")
        try:
            return self._file_info(bucket, self.client.head_object(bucket, key))
        except OssNotFoundError as err:
            if err.code not in ("NoSuchKey", ""):
                raise
        if self._has_children(bucket, key + "/"):
            return self._dir_info(f"{bucket}/{key}")
        raise FileNotFoundError(f"oss://{bucket}/{key} does not exist.")

    @python_errors
    def exists(self, path: str, **kwargs: Any) -> bool:
        """
        Whether the file or directory exists. Only "not found" is False: a wrong secret, a denied
        access or an unreachable endpoint raises (fsspec's default takes every error for "absent").
        """
        try:
            self.info(path)
        except FileNotFoundError:  # a missing key or bucket (fs.errors)
            return False
        return True

    @python_errors
    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        bucket, key = self.split_path(path)
        prefix = key.rstrip("/") + "/" if key else ""
        entries: list[dict[str, Any]] = [
            self._file_info(bucket, summary)
            for summary in self.client.list_objects_v2(bucket, prefix=prefix, delimiter="/")
            if summary.key != prefix  # the "folder marker" object some tools write
        ]
        entries += [
            self._dir_info(f"{bucket}/{common}")
            for common in self.client.list_common_prefixes(bucket, prefix=prefix)
        ]
        if not entries:
            info = self.info(path)  # a file lists as itself; a missing path raises FileNotFoundError
            entries = [info] if info["type"] == "file" else []
        entries.sort(key=lambda entry: entry["name"])
        return entries if detail else [entry["name"] for entry in entries]

    @python_errors
    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        if maxdepth is not None or withdirs:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        bucket, key = self.split_path(path)
        prefix = key.rstrip("/") + "/" if key else ""
        found = {
            f"{bucket}/{summary.key}": self._file_info(bucket, summary)
            for summary in self.client.list_objects_v2(bucket, prefix=prefix)
            if not summary.key.endswith("/")
        }
        if not found and key:
            try:
                info = self.info(path)
            except FileNotFoundError:
                info = {}
            if info.get("type") == "file":
                found = {info["name"]: info}
        return found if detail else sorted(found)

    @python_errors
    def modified(self, path: str) -> datetime:
        """The object's last modification time (UTC)."""
        modified: datetime | None = self.info(path).get("LastModified")
        if modified is None:
            raise IsADirectoryError(f"{path!r} is a directory: it has no modification time.")
        return modified

    # -- whole-object operations -----------------------------------------------------------------

    @python_errors
    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        bucket, key = self._key_path(path)
        if start is None and end is None:
            return self.client.get_object(bucket, key)  # CRC-64 checked
        details = self.info(path)
        size = details["size"]
        first = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        stop = size if end is None else (end if end >= 0 else max(size + end, 0))
        return self._read_span(bucket, key, first, min(stop, size), size, details.get("ETag") or None)

    @python_errors
    def _read_span(
        self, bucket: str, key: str, first: int, stop: int, size: int, etag: str | None = None
    ) -> bytes:
        """
        Bytes ``first..stop-1`` of an object of ``size`` bytes: a ranged GET, or, when the span is the
        whole object, a GET checked against the object's CRC-64.

        :param etag: the ETag the object had when it was opened: every GET is pinned to it
            (``If-Match``), so the blocks of one open file never mix two versions of the object.
        :raises OSError: when the object changed since it was opened (another ETag or size).
        """
        if first >= stop:
            return b""
        try:
            if first > 0 or stop < size:
                return self.client.get_object(bucket, key, byte_range=(first, stop - 1), if_match=etag)
            data = self.client.get_object(bucket, key, if_match=etag)  # CRC-64 checked
        except OssPreconditionError as err:
            raise OSError(
                errno.ESTALE,
                f"oss://{bucket}/{key} changed while it was read (ETag {etag} when opened, another now): "
                "open it again.",
            ) from err
        if len(data) != size:
            raise OSError(
                f"oss://{bucket}/{key} changed while it was read ({size} bytes when opened, {len(data)} now): "
                "open it again."
            )
        return data

    @python_errors
    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """
        Write ``value`` as the object at ``path`` in one PutObject.

        :param mode: ``"overwrite"``, or ``"create"``: OSS refuses atomically to replace an existing
            object (``x-oss-forbid-overwrite``), raised as ``FileExistsError``.
        """
        if mode not in ("overwrite", "create"):
            raise ValueError(f"pipe_file mode must be 'overwrite' or 'create'; got {mode!r}.")
        bucket, key = self._key_path(path)
        self.client.put_object(bucket, key, value, forbid_overwrite=mode == "create")

    @python_errors
    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy server-side (CopyObject): no bytes pass through this process."""
        src_bucket, src_key = self._key_path(path1)
        dst_bucket, dst_key = self._key_path(path2)
        self.client.copy_object(src_bucket, src_key, dst_bucket, dst_key)

    @python_errors
    def rm_file(self, path: str) -> None:
        bucket, key = self._key_path(path)
        self.client.delete_object(bucket, key)

    @python_errors
    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files (with ``recursive``, everything under a directory) in batches of 1,000."""
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        by_bucket: dict[str, list[str]] = {}
        for expanded in paths:
            bucket, key = self.split_path(expanded)
            if key:
                by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            delete_in_batches(bucket, keys, functools.partial(self.client.delete_multiple_objects, bucket))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A no-op: OSS has no directories; one appears when an object is written under it."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """A no-op, as :meth:`mkdir`."""

    def rmdir(self, path: str) -> None:
        """A no-op: an empty "directory" does not exist in OSS."""

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> OssFile:
        if not autocommit:
            raise NotImplementedError("OssFileSystem has no transactions: open files with autocommit=True.")
        kwargs.setdefault("cache_type", self.default_cache_type)
        return OssFile(
            self, path, mode, block_size=block_size or self.blocksize, cache_options=cache_options, **kwargs
        )


class OssFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec ships no type hints
    """A file of :class:`OssFileSystem`: ranged GETs for reading, PutObject or multipart for writing."""

    fs: OssFileSystem

    def __init__(self, fs: OssFileSystem, path: str, mode: str = "rb", **kwargs: Any) -> None:
        if "a" in mode:
            raise NotImplementedError("Appending to an OSS object is not supported: write a new object.")
        self.bucket, self.key = fs._key_path(path)
        # "xb": refused at open when the object exists, and again atomically by OSS when the write
        # is committed (x-oss-forbid-overwrite), so a second writer in between cannot be overwritten
        self._exclusive = "x" in mode
        if self._exclusive and fs.exists(path):
            raise FileExistsError(f"oss://{self.bucket}/{self.key} already exists (mode {mode!r}).")
        self._upload_id: str | None = None
        self._parts: list[UploadedPart] = []
        self._failed = False
        super().__init__(fs, path, mode, **kwargs)

    @python_errors
    def _fetch_range(self, start: int, end: int) -> bytes:
        etag = self.details.get("ETag") or None
        return self.fs._read_span(self.bucket, self.key, start, min(end, self.size), self.size, etag)

    def _initiate_upload(self) -> None:
        """Nothing yet: a file that fits in one block is sent with one PutObject at close."""

    @python_errors
    def _upload_chunk(self, final: bool = False) -> bool:
        if self._failed:
            raise OSError(f"Writing oss://{self.bucket}/{self.key} failed earlier; nothing more is sent.")
        data = self.buffer.getvalue()
        client = self.fs.client
        if final and self._upload_id is None:
            client.put_object(self.bucket, self.key, data, forbid_overwrite=self._exclusive)
            return True
        try:
            if self._upload_id is None:
                self._upload_id = client.initiate_multipart_upload(self.bucket, self.key)
            if data or not self._parts:
                number = len(self._parts) + 1
                self._parts.append(client.upload_part(self.bucket, self.key, self._upload_id, number, data))
            if final:
                expected = crc64_mod.combine_all([(part.crc64, part.size) for part in self._parts])
                client.complete_multipart_upload(
                    self.bucket,
                    self.key,
                    self._upload_id,
                    self._parts,
                    expected_crc64=expected,
                    forbid_overwrite=self._exclusive,
                )
        except BaseException:
            self._failed = True
            self._abort()
            raise
        return True  # flush() then counts the buffer's bytes and starts a new buffer

    def _abort(self) -> None:
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self.fs.client.abort_multipart_upload(self.bucket, self.key, upload_id)
            except Exception as err:  # the write's own error is the one to raise; say what is left
                log.warning(
                    "Could not abort multipart upload %s of oss://%s/%s (%s): its parts stay until "
                    "aborted or removed by a lifecycle rule.",
                    upload_id,
                    self.bucket,
                    self.key,
                    err,
                )

    def discard(self) -> None:
        """Abandon a write: abort its multipart upload, so no parts are left behind."""
        self._abort()
        super().discard()

    def close(self) -> None:
        """Commit a write (the last part, or the one PutObject); after a failure, commit nothing."""
        if self._failed and not getattr(self, "closed", False):
            self._abort()
            self.closed = True
            return
        super().close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Leaving a ``with`` block by an exception abandons the write: no half-written object."""
        if exc_type is not None and self.writable():
            self._failed = True
        self.close()
