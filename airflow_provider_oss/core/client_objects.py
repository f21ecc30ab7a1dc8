"""
Object calls of the OSS client: put, get, head, delete and copy of one object, and batch delete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence

import requests

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.bulk_delete import DeleteResult, delete_request, parse_delete_result
from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.client_base import (
    DEFAULT_CHUNK_SIZE,
    ClientBase,
    check_crc_arg,
    check_object,
    describe_target,
)
from airflow_provider_oss.core.client_callback import CALLBACK_FAILED_STATUS, callback_answer, callback_failed
from airflow_provider_oss.core.client_versions import check_version_id, version_query
from airflow_provider_oss.core.errors import (
    OssClientError,
    OssConnectionError,
    OssNotFoundError,
)
from airflow_provider_oss.core.models import (
    CopyResult,
    ObjectInfo,
    ObjectOptions,
    PutObjectResult,
    normalize_etag,
)
from airflow_provider_oss.core.read_answers import ReadContext, stream_span
from airflow_provider_oss.core.signing import uri_encode
from airflow_provider_oss.core.transport import (
    Body,
    RetryEvent,
    as_body,
)
from airflow_provider_oss.core.xmlutil import (
    find_text,
    parse_iso_time,
    parse_xml,
)


class ObjectCalls(ClientBase):
    """PutObject, GetObject, HeadObject, DeleteObject, CopyObject and DeleteMultipleObjects."""

    # -- objects ---------------------------------------------------------------------------------

    def put_object(
        self,
        bucket: str,
        key: str,
        data: Body,
        *,
        options: ObjectOptions | None = None,
        crc64: int | None = None,
        forbid_overwrite: bool = False,
        callback: UploadCallback | None = None,
    ) -> PutObjectResult:
        """
        Upload an object in one request.

        :param bucket: the bucket.
        :param key: the object key.
        :param data: the bytes (bytes, bytearray or memoryview; sent without a copy).
        :param options: content type, metadata, storage class, ACL, encryption...
        :param crc64: the data's CRC-64 when already known (computed here otherwise).
        :param forbid_overwrite: fail with ``FileAlreadyExists`` (:class:`OssPreconditionError`)
            when the key exists, atomically in OSS (``x-oss-forbid-overwrite``).
        :param callback: OSS's upload callback: after storing the object OSS POSTs to its URL, and the
            result's ``callback_response`` is the callback server's answer.
        :raises CrcMismatchError: when OSS's CRC-64 differs from the local one.
        :raises CallbackFailedError: (HTTP 203) the object is stored but the callback failed.
        """
        check_object(bucket, key)
        check_crc_arg("crc64", crc64)
        payload = as_body(data)
        assert payload is not None
        local = crc64 if crc64 is not None else crc64_mod.crc64(payload)
        headers = options.to_headers() if options is not None else {}
        if forbid_overwrite:
            headers["x-oss-forbid-overwrite"] = "true"
        if callback is not None:
            headers.update(callback.headers())
        response = self._transport.send("PUT", bucket, key, headers=headers, body=payload, op="PutObject")
        etag, server = self._check_write_answer("PutObject", local, response, bucket, key)
        crc = server if server is not None else local
        if callback is not None and response.status_code == CALLBACK_FAILED_STATUS:
            raise callback_failed("PutObject", response, bucket, key, etag, crc, callback)
        return PutObjectResult(
            etag=etag,
            crc64=crc,
            request_id=response.headers.get("x-oss-request-id", ""),
            callback_response=callback_answer("PutObject", response, bucket, key, callback)
            if callback is not None
            else None,
        )

    def get_object(
        self,
        bucket: str,
        key: str,
        *,
        byte_range: tuple[int, int] | None = None,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> bytes:
        """
        Download an object (or a byte range of it) into memory. A whole object is checked against
        its CRC-64; a connection cut part-way is resumed with a range request.

        :param bucket: the bucket.
        :param key: the object key.
        :param byte_range: ``(first, last)`` byte offsets, both inclusive (as in HTTP ``Range``).
        :param if_match: an ETag the object must still have (``If-Match``): reads of several ranges
            of one object pinned to the version seen first.
        :param version_id: a version of the object (bucket with versioning); None: the current one.
        :raises CrcMismatchError: when the downloaded bytes do not match the object's CRC-64.
        :raises OssPreconditionError: when ``if_match`` is given and the object's ETag is another.
        :raises OssNotFoundError: ``NoSuchVersion`` for a version the object does not have.
        """
        check_object(bucket, key)
        chunks: list[bytes] = []
        self._download(
            bucket,
            key,
            chunks.append,
            byte_range=byte_range,
            chunk_size=DEFAULT_CHUNK_SIZE,
            if_match=if_match,
            version_id=version_id,
        )
        return b"".join(chunks)

    def get_object_to_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        version_id: str | None = None,
    ) -> ObjectInfo:
        """
        Stream an object to a file, checking its CRC-64. The bytes go to a temporary file beside
        ``path``, renamed to ``path`` only when complete and verified.

        :param bucket: the bucket.
        :param key: the object key.
        :param path: the destination file (its directory must exist).
        :param chunk_size: the read size in bytes.
        :param version_id: a version of the object (bucket with versioning); None: the current one.
        :return: the object's metadata.
        """
        check_object(bucket, key)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise OssClientError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(directory):
            raise OssClientError(
                f"Cannot download to {target!r}: the directory {directory!r} does not exist."
            )
        fd, temp = tempfile.mkstemp(
            dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".part"
        )
        try:
            with os.fdopen(fd, "wb") as f:
                info = self._download(
                    bucket, key, f.write, byte_range=None, chunk_size=chunk_size, version_id=version_id
                )
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return info

    def _read_context(self, op: str, bucket: str, key: str) -> ReadContext:
        return ReadContext(op, bucket, key, self.config.endpoint_url, self.config.require_crc64)

    def _download(
        self,
        bucket: str,
        key: str,
        write: Callable[[bytes], object],
        *,
        byte_range: tuple[int, int] | None,
        chunk_size: int,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> ObjectInfo:
        """
        GET an object (or a range of it) into ``write``, resuming after a broken connection with a
        ranged GET pinned to the first answer's ETag; return its metadata. Every answer is checked
        (:class:`~airflow_provider_oss.core.read_answers.ReadContext`) before a byte of it is written;
        a whole object's bytes are checked against its CRC-64 as they stream.
        """
        first, last = _check_byte_range(byte_range)
        query = version_query(version_id)
        context = self._read_context("GetObject", bucket, key)
        position = first
        crc = 0
        info: ObjectInfo | None = None
        server_crc: int | None = None
        end = -1  # the last byte to receive, known from the first answer
        failures = 0
        while True:
            headers: dict[str, str] = {}
            if byte_range is not None or info is not None:
                headers["Range"] = f"bytes={position}-{'' if last is None else last}"
                headers["x-oss-range-behavior"] = "standard"
            pinned = info.etag if info is not None and info.etag else if_match
            if pinned:
                headers["If-Match"] = (
                    f'"{pinned.strip(chr(34))}"'  # the object must not change between pieces
                )
            response = self._transport.send(
                "GET", bucket, key, query=query, headers=headers, stream=True, op="GetObject"
            )
            broken: Exception | None = None
            try:
                if info is None:
                    info, end, server_crc = self._first_answer(context, response, byte_range)
                else:
                    span = context.check_range(response, position, last)
                    if span[1:] != (end, info.size):
                        raise context.refuse(
                            response,
                            f"for bytes {span[0]}-{span[1]} of {span[2]}, not the rest of the first answer "
                            f"(bytes {position}-{end} of {info.size})",
                        )
                position, crc, broken = stream_span(
                    response, lambda _, chunk: write(chunk), position, end, crc, chunk_size
                )
            finally:
                response.close()
            if broken is None:
                break
            failures += 1
            if failures > self.config.max_retries:
                raise OssConnectionError(
                    f"GET {describe_target(bucket, key)}: the download from {self.config.endpoint_url} broke off "
                    f"{failures} time(s); last at byte {position} of {end + 1}.",
                    method="GET",
                    key=key,
                    attempts=failures,
                )
            delay = self._transport.backoff_delay(failures)
            reason = f"ConnectionBroken after {position - first} bytes"
            self._transport.note_retry(RetryEvent("GetObject", "GET", bucket, key, failures, reason, delay))
            time.sleep(delay)
        assert info is not None
        context.verify_crc(server_crc, crc, position - first, "download it again.")
        return info

    @staticmethod
    def _first_answer(
        context: ReadContext, response: requests.Response, byte_range: tuple[int, int] | None
    ) -> tuple[ObjectInfo, int, int | None]:
        """
        Check the first answer of a read: (the object's metadata, the last byte to receive, the
        CRC-64 to check a whole object against).
        """
        if byte_range is not None:
            _, end, total = context.check_range(response, byte_range[0], byte_range[1])
            return ObjectInfo.from_headers(context.key, response.headers, size=total), end, None
        size = context.whole_size(response)
        context.check_is_oss(response)
        server_crc = context.server_crc(response)
        context.require_crc(server_crc)
        info = ObjectInfo.from_headers(context.key, response.headers, size=size)
        return info, size - 1, server_crc

    def head_object(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """
        An object's metadata, from an answer that must be OSS's (``x-oss-request-id``, a
        ``Content-Length`` in ASCII digits).

        :param version_id: a version of the object (bucket with versioning); None: the current one.
        :raises OssNotFoundError: when the object (or bucket, or version) does not exist.
        :raises OssResponseError: when the answer is not OSS's (a captive portal, a wrong endpoint).
        """
        check_object(bucket, key)
        response = self._transport.send("HEAD", bucket, key, query=version_query(version_id), op="HeadObject")
        context = self._read_context("HeadObject", bucket, key)
        size = context.whole_size(response)
        context.check_is_oss(response)
        context.server_crc(response)
        return ObjectInfo.from_headers(key, response.headers, size=size)

    def object_exists(self, bucket: str, key: str) -> bool:
        """
        Whether an object exists: False only when OSS says ``NoSuchKey``. Every other error
        (``NoSuchBucket``, access denied, bad credentials...) is raised, not taken for "absent".
        """
        check_object(bucket, key)
        try:
            response = self._transport.send("HEAD", bucket, key, op="HeadObject")
            self._read_context("HeadObject", bucket, key).check_is_oss(response)
            return True
        except OssNotFoundError as err:
            if err.code == "NoSuchKey":
                return False
            if err.code:
                raise
        # A HEAD answer has no body, so a bare 404 does not tell NoSuchKey from NoSuchBucket:
        # ask with a one-byte GET, whose error body does.
        try:
            response = self._transport.send(
                "GET", bucket, key, headers={"Range": "bytes=0-0"}, stream=True, op="GetObject"
            )
            response.close()
            self._read_context("GetObject", bucket, key).check_is_oss(response)
            return True
        except OssNotFoundError as get_error:
            if get_error.code == "NoSuchKey":
                return False
            raise

    def delete_object(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """
        Delete an object (no error when it does not exist). In a bucket with versioning, without
        ``version_id`` OSS keeps the object's versions and adds a delete marker; with it, that
        version (or delete marker) is deleted for good.

        :param version_id: the version to delete for good; None: the object as above.
        """
        check_object(bucket, key)
        self._transport.send("DELETE", bucket, key, query=version_query(version_id), op="DeleteObject")

    def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        *,
        options: ObjectOptions | None = None,
        source_version_id: str | None = None,
    ) -> CopyResult:
        """
        Copy an object (up to 1 GB on OSS) within the region.

        :param options: when given, the copy gets these properties instead of the source's
            (``x-oss-metadata-directive: REPLACE``); when None, the source's metadata is kept.
        :param source_version_id: copy this version of the source (bucket with versioning); None:
            its current version.
        """
        check_object(src_bucket, src_key)
        check_object(dst_bucket, dst_key)
        source = f"/{src_bucket}/{uri_encode(src_key, safe='/')}"
        if source_version_id is not None:
            check_version_id(source_version_id)
            source += f"?versionId={uri_encode(source_version_id, safe='')}"
        headers = {"x-oss-copy-source": source}
        if options is not None:
            headers.update(options.to_headers())
            headers["x-oss-metadata-directive"] = "REPLACE"
        response = self._transport.send("PUT", dst_bucket, dst_key, headers=headers, op="CopyObject")
        root = parse_xml(response.content, "CopyObjectResult")
        modified = find_text(root, "LastModified")
        return CopyResult(
            etag=normalize_etag(find_text(root, "ETag") or response.headers.get("ETag", "")),
            last_modified=parse_iso_time(modified) if modified else None,
        )

    def delete_multiple_objects(self, bucket: str, keys: Sequence[str]) -> DeleteResult:
        """
        Delete up to 1,000 keys in one request (DeleteMultipleObjects, verbose mode).

        OSS answers success for a key that does not exist. A key the answer does not confirm is
        returned in :attr:`DeleteResult.failed`, never dropped: see
        :func:`~airflow_provider_oss.core.bulk_delete.delete_in_batches` for any number of keys.

        :param bucket: the bucket.
        :param keys: 1 to 1,000 object keys.
        """
        keys = list(keys)
        for key in keys:
            check_object(bucket, key)
        body, headers = delete_request(keys)
        query = [("delete", ""), ("encoding-type", "url")]
        response = self._transport.send(
            "POST", bucket, None, query=query, headers=headers, body=body, op="DeleteMultipleObjects"
        )
        return parse_delete_result(keys, response.content)


def _check_byte_range(byte_range: tuple[int, int] | None) -> tuple[int, int | None]:
    """``byte_range`` as (first, last), last None for a whole object."""
    if byte_range is None:
        return 0, None
    if (
        not isinstance(byte_range, tuple)
        or len(byte_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in byte_range)
        or byte_range[0] < 0
        or byte_range[1] < byte_range[0]
    ):
        raise OssClientError(
            f"byte_range must be (first, last) with 0 <= first <= last (both inclusive); got {byte_range!r}."
        )
    return byte_range
