"""
:class:`OssClient`: the OSS operations the provider needs (objects, listings, multipart uploads,
buckets, presigned URLs) over :class:`~airflow_provider_oss.core.transport.Transport`.

Every upload compares the CRC-64 OSS computed (``x-oss-hash-crc64ecma``) with the local one and
raises :class:`~airflow_provider_oss.core.errors.CrcMismatchError` on a difference; downloads of
whole objects are checked the same way. The client is thread-safe: the resumable upload engine
calls :meth:`OssClient.upload_part` from a thread pool.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType

import requests
import urllib3

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.bulk_delete import DeleteResult, delete_request, parse_delete_result
from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.endpoints import validate_bucket_name, validate_object_key
from airflow_provider_oss.core.errors import (
    CallbackFailedError,
    CrcMismatchError,
    OssClientError,
    OssConnectionError,
    OssError,
    OssNotFoundError,
    OssPreconditionError,
    OssResponseError,
)
from airflow_provider_oss.core.models import (
    CompletedUpload,
    CopyResult,
    MultipartUploadInfo,
    ObjectInfo,
    ObjectOptions,
    ObjectSummary,
    PartInfo,
    PutObjectResult,
    UploadedPart,
    normalize_etag,
    validate_traffic_limit,
)
from airflow_provider_oss.core.signing import MAX_PRESIGN_EXPIRES, uri_encode
from airflow_provider_oss.core.transport import (
    Body,
    CallStats,
    RetryEvent,
    Transport,
    as_body,
)
from airflow_provider_oss.core.xmlutil import (
    complete_multipart_body,
    decode_if,
    element_to_dict,
    find_bool,
    find_int,
    find_text,
    is_url_encoded,
    parse_error,
    parse_iso_time,
    parse_xml,
)

log = logging.getLogger(__name__)

MAX_PART_NUMBER = 10000
MAX_PAGE_SIZE = 1000
DEFAULT_CHUNK_SIZE = 4 << 20
_CRC_MAX = (1 << 64) - 1
_PRESIGN_METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")

PartRef = UploadedPart | PartInfo | tuple[int, str]


def _check_object(bucket: str, key: str) -> None:
    validate_bucket_name(bucket)
    validate_object_key(key)


def _check_page_size(page_size: int) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise OssClientError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}; got {page_size!r}.")


def _check_part_number(part_number: int) -> None:
    if (
        isinstance(part_number, bool)
        or not isinstance(part_number, int)
        or not 1 <= part_number <= MAX_PART_NUMBER
    ):
        raise OssClientError(
            f"part_number must be an integer from 1 to {MAX_PART_NUMBER}; got {part_number!r}."
        )


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id.strip():
        raise OssClientError(f"upload_id must be a non-empty string; got {upload_id!r}.")


def _check_crc_arg(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _CRC_MAX:
        raise OssClientError(f"{name} must be an unsigned 64-bit integer (a CRC-64); got {value!r}.")


def _where(bucket: str, key: str, part_number: int | None = None) -> str:
    text = f"oss://{bucket}/{key}"
    return f"{text} part {part_number}" if part_number is not None else text


def _answer_traits(response: requests.Response) -> str:
    """What the answer looked like, for a message about an answer that is not OSS's."""
    traits = []
    content_type = response.headers.get("Content-Type")
    if content_type:
        traits.append(f"Content-Type {content_type.split(';')[0].strip()[:60]}")
    if not response.headers.get("x-oss-request-id"):
        traits.append("no x-oss-request-id")
    return f" ({', '.join(traits)})" if traits else ""


#: HTTP status of an upload whose object was stored but whose callback failed (``CallbackFailed``).
CALLBACK_FAILED_STATUS = 203


def _callback_failed(
    op: str,
    response: requests.Response,
    bucket: str,
    key: str,
    etag: str,
    crc64: int | None,
    callback: UploadCallback,
) -> CallbackFailedError:
    """The typed error of a 203 answer: the object is stored, its callback failed."""
    fields = parse_error(response.content)
    return CallbackFailedError(
        status=response.status_code,
        code=fields.get("Code", "") or "CallbackFailed",
        message=fields.get("Message", ""),
        request_id=fields.get("RequestId", "") or response.headers.get("x-oss-request-id", ""),
        host_id=fields.get("HostId", ""),
        ec=fields.get("EC", ""),
        method=op,
        bucket=bucket,
        key=key,
        etag=etag,
        crc64=crc64,
        callback_url=callback.describe(),
    )


def _callback_answer(
    op: str, response: requests.Response, bucket: str, key: str, callback: UploadCallback
) -> bytes | None:
    """
    The callback server's answer that OSS relayed, or None (with a warning) when the answer is the
    operation's own (empty, or its XML result): the server did not perform the callback (an
    OSS-compatible server without callbacks), which must not pass for a callback that ran.
    """
    body = response.content
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if (
        not body.strip()
        or content_type in ("application/xml", "text/xml")
        or body.lstrip().startswith(b"<?xml")
    ):
        log.warning(
            "%s %s was sent with an upload callback to %s, but the answer is the operation's own (%s), not a "
            "callback server's: this endpoint did not perform the callback (an OSS-compatible server without "
            "callbacks?). callback_response is None.",
            op,
            _where(bucket, key),
            callback.describe(),
            "empty" if not body.strip() else content_type or "XML",
        )
        return None
    return body


def _content_range_total(value: str | None) -> tuple[int, int, int] | None:
    """``bytes a-b/total`` as (a, b, total); None when absent or malformed."""
    if not value:
        return None
    unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first, _, last = span.partition("-")
    if unit.lower() != "bytes" or not (first.isdigit() and last.isdigit() and total.isdigit()):
        return None
    return int(first), int(last), int(total)


class OssClient:
    """
    An Alibaba Cloud OSS client.

    :param credentials: the access key pair (and STS token).
    :param config: endpoint, addressing, signing, timeout, retry and pool settings.
    :param on_retry: called with a :class:`~airflow_provider_oss.core.transport.RetryEvent` before
        each retry (for metrics, logs or tests).
    """

    def __init__(
        self,
        credentials: Credentials,
        config: ClientConfig,
        *,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise OssClientError("credentials must be an airflow_provider_oss.core.Credentials.")
        if not isinstance(config, ClientConfig):
            raise OssClientError("config must be an airflow_provider_oss.core.ClientConfig.")
        self.config = config
        self._access_key_id = credentials.access_key_id
        self._transport = Transport(config, credentials, on_retry=on_retry)

    def __repr__(self) -> str:
        return (
            f"OssClient(endpoint={self.config.endpoint_url!r}, region={self.config.region!r}, "
            f"access_key_id={self._access_key_id!r})"
        )

    @property
    def transport(self) -> Transport:
        """The HTTP transport (its ``retry_count``, ``request_count`` and ``clock_offset`` are observable)."""
        return self._transport

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def __enter__(self) -> OssClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------------

    def _check_write_answer(
        self,
        op: str,
        local: int,
        response: requests.Response,
        bucket: str,
        key: str,
        part_number: int | None = None,
    ) -> tuple[str, int | None]:
        """
        Check the answer to a write: OSS always sends an ``ETag`` and the CRC-64 of what it stored.

        :return: the ETag and OSS's CRC-64 (None only when ``require_crc64`` is off and none came).
        :raises OssResponseError: when the ETag is missing, or the CRC-64 is missing and required.
        :raises CrcMismatchError: when OSS's CRC-64 differs from the local one.
        """
        where = _where(bucket, key, part_number)
        etag = normalize_etag(response.headers.get("ETag", ""))
        server = crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma"))
        missing = [
            name for name, absent in (("ETag", not etag), ("x-oss-hash-crc64ecma", server is None)) if absent
        ]
        if not etag or (server is None and self.config.require_crc64):
            raise OssResponseError(
                f"{op} {where}: {self.config.endpoint_url} answered HTTP {response.status_code} without "
                f"{' and '.join(missing)}{_answer_traits(response)}, which OSS always sends: the answer did not "
                "come from OSS (a proxy, a captive portal or a wrong endpoint?), so the write is not trusted. "
                "Check the connection's endpoint"
                + (
                    "; for an OSS-compatible server that sends no CRC-64, set require_crc64=false."
                    if etag
                    else "."
                ),
            )
        if server is None:
            log.warning(
                "%s %s is UNVERIFIED: %s sent no CRC-64 (require_crc64=false), so the stored bytes were not "
                "checked against the local ones.",
                op,
                where,
                self.config.endpoint_url,
            )
            return etag, None
        if server != local:
            raise CrcMismatchError(
                f"CRC-64 mismatch for {where}: computed {local} locally, "
                f"OSS computed {server}. The bytes were damaged in transit; upload them again.",
                local_crc=local,
                server_crc=server,
                key=key,
                part_number=part_number,
            )
        return etag, server

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
        _check_object(bucket, key)
        _check_crc_arg("crc64", crc64)
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
            raise _callback_failed("PutObject", response, bucket, key, etag, crc, callback)
        return PutObjectResult(
            etag=etag,
            crc64=crc,
            request_id=response.headers.get("x-oss-request-id", ""),
            callback_response=_callback_answer("PutObject", response, bucket, key, callback)
            if callback is not None
            else None,
        )

    def get_object(self, bucket: str, key: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """
        Download an object (or a byte range of it) into memory. A whole object is checked against
        its CRC-64; a connection cut part-way is resumed with a range request.

        :param bucket: the bucket.
        :param key: the object key.
        :param byte_range: ``(first, last)`` byte offsets, both inclusive (as in HTTP ``Range``).
        :raises CrcMismatchError: when the downloaded bytes do not match the object's CRC-64.
        """
        _check_object(bucket, key)
        chunks: list[bytes] = []
        self._download(bucket, key, chunks.append, byte_range=byte_range, chunk_size=DEFAULT_CHUNK_SIZE)
        return b"".join(chunks)

    def get_object_to_file(
        self, bucket: str, key: str, path: str | os.PathLike[str], *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> ObjectInfo:
        """
        Stream an object to a file, checking its CRC-64. The bytes go to a temporary file beside
        ``path``, renamed to ``path`` only when complete and verified.

        :param bucket: the bucket.
        :param key: the object key.
        :param path: the destination file (its directory must exist).
        :param chunk_size: the read size in bytes.
        :return: the object's metadata.
        """
        _check_object(bucket, key)
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
                info = self._download(bucket, key, f.write, byte_range=None, chunk_size=chunk_size)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return info

    def _download(
        self,
        bucket: str,
        key: str,
        write: Callable[[bytes], object],
        *,
        byte_range: tuple[int, int] | None,
        chunk_size: int,
    ) -> ObjectInfo:
        """GET an object into ``write``, resuming after a broken connection; return its metadata."""
        if byte_range is not None:
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
            start, end = byte_range
        else:
            start, end = 0, None
        position = start
        crc = 0
        info: ObjectInfo | None = None
        server_crc: int | None = None
        last_byte = -1  # the last byte offset the answer promised
        failures = 0
        while True:
            headers: dict[str, str] = {}
            if byte_range is not None or position > start or failures:
                headers["Range"] = f"bytes={position}-{'' if end is None else end}"
                headers["x-oss-range-behavior"] = "standard"
            if info is not None and info.etag:
                headers["If-Match"] = f'"{info.etag}"'  # the object must not change between pieces
            response = self._transport.send("GET", bucket, key, headers=headers, stream=True, op="GetObject")
            broken: Exception | None = None
            try:
                if info is None:
                    span = _content_range_total(response.headers.get("Content-Range"))
                    if response.status_code == 206 and span is not None:
                        info = ObjectInfo.from_headers(key, response.headers, size=span[2])
                        last_byte = span[1]
                    else:
                        info = ObjectInfo.from_headers(key, response.headers)
                        last_byte = info.size - 1
                        if byte_range is None:
                            server_crc = info.crc64
                # read1: what has arrived, so a connection cut part-way loses nothing already received.
                read = getattr(response.raw, "read1", response.raw.read)
                while True:
                    try:
                        chunk = read(chunk_size)
                    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as err:
                        broken = err
                        break
                    if not chunk:
                        break
                    write(chunk)
                    crc = crc64_mod.update(crc, chunk)
                    position += len(chunk)
            finally:
                response.close()
            if broken is None and position > last_byte:
                break
            failures += 1
            reason = f"ConnectionBroken after {position - start} bytes"
            if failures > self.config.max_retries:
                raise OssConnectionError(
                    f"GET {_where(bucket, key)}: the download from {self.config.endpoint_url} broke off "
                    f"{failures} time(s); last at byte {position} of {last_byte + 1}.",
                    method="GET",
                    key=key,
                    attempts=failures,
                )
            delay = self._transport.backoff_delay(failures)
            self._transport.note_retry(RetryEvent("GetObject", "GET", bucket, key, failures, reason, delay))
            time.sleep(delay)
        assert info is not None
        if server_crc is not None and server_crc != crc:
            raise CrcMismatchError(
                f"CRC-64 mismatch downloading {_where(bucket, key)}: OSS says {server_crc}, the "
                f"{position - start} bytes received give {crc}. Download it again.",
                local_crc=crc,
                server_crc=server_crc,
                key=key,
            )
        return info

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """
        An object's metadata.

        :raises OssNotFoundError: when the object (or bucket) does not exist.
        """
        _check_object(bucket, key)
        response = self._transport.send("HEAD", bucket, key, op="HeadObject")
        return ObjectInfo.from_headers(key, response.headers)

    def object_exists(self, bucket: str, key: str) -> bool:
        """
        Whether an object exists: False only when OSS says ``NoSuchKey``. Every other error
        (``NoSuchBucket``, access denied, bad credentials...) is raised, not taken for "absent".
        """
        _check_object(bucket, key)
        try:
            self._transport.send("HEAD", bucket, key, op="HeadObject")
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
            return True
        except OssNotFoundError as err:
            if err.code == "NoSuchKey":
                return False
            raise

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (no error when it does not exist)."""
        _check_object(bucket, key)
        self._transport.send("DELETE", bucket, key, op="DeleteObject")

    def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        *,
        options: ObjectOptions | None = None,
    ) -> CopyResult:
        """
        Copy an object (up to 1 GB on OSS) within the region.

        :param options: when given, the copy gets these properties instead of the source's
            (``x-oss-metadata-directive: REPLACE``); when None, the source's metadata is kept.
        """
        _check_object(src_bucket, src_key)
        _check_object(dst_bucket, dst_key)
        headers = {"x-oss-copy-source": f"/{src_bucket}/{uri_encode(src_key, safe='/')}"}
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
            _check_object(bucket, key)
        body, headers = delete_request(keys)
        query = [("delete", ""), ("encoding-type", "url")]
        response = self._transport.send(
            "POST", bucket, None, query=query, headers=headers, body=body, op="DeleteMultipleObjects"
        )
        return parse_delete_result(keys, response.content)

    # -- listings --------------------------------------------------------------------------------

    def list_objects_v2(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[ObjectSummary]:
        """
        Iterate over the objects of a bucket in key order, fetching pages as needed (with a
        ``delimiter``, the common prefixes are skipped: see :meth:`list_common_prefixes`).

        :param prefix: only keys starting with this.
        :param delimiter: group keys by this character (usually ``/``).
        :param start_after: only keys after this one.
        :param page_size: keys per request, 1..1000.
        """
        validate_bucket_name(bucket)
        _check_page_size(page_size)
        pages = self._list_v2_pages(bucket, prefix, delimiter, start_after, page_size)
        return (summary for objects, _ in pages for summary in objects)

    def list_common_prefixes(self, bucket: str, *, prefix: str = "", delimiter: str = "/") -> Iterator[str]:
        """Iterate over the "directories" under ``prefix``: the common prefixes up to ``delimiter``."""
        validate_bucket_name(bucket)
        if not delimiter:
            raise OssClientError("list_common_prefixes needs a non-empty delimiter, such as '/'.")
        pages = self._list_v2_pages(bucket, prefix, delimiter, "", MAX_PAGE_SIZE)
        return (common for _, prefixes in pages for common in prefixes)

    def _list_v2_pages(
        self, bucket: str, prefix: str, delimiter: str, start_after: str, page_size: int
    ) -> Iterator[tuple[list[ObjectSummary], list[str]]]:
        token = ""
        while True:
            query = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", str(page_size))]
            if prefix:
                query.append(("prefix", prefix))
            if delimiter:
                query.append(("delimiter", delimiter))
            if token:
                query.append(("continuation-token", token))
            elif start_after:
                query.append(("start-after", start_after))
            response = self._transport.send("GET", bucket, None, query=query, op="ListObjectsV2")
            root = parse_xml(response.content, "ListBucketResult")
            encoded = is_url_encoded(root)
            objects = []
            for item in root.findall("Contents"):
                modified = find_text(item, "LastModified")
                objects.append(
                    ObjectSummary(
                        key=decode_if(find_text(item, "Key"), encoded),
                        size=find_int(item, "Size"),
                        etag=normalize_etag(find_text(item, "ETag")),
                        last_modified=parse_iso_time(modified) if modified else None,
                        storage_class=find_text(item, "StorageClass") or "Standard",
                    )
                )
            prefixes = [decode_if(find_text(p, "Prefix"), encoded) for p in root.findall("CommonPrefixes")]
            yield objects, prefixes
            token = find_text(root, "NextContinuationToken")
            if not find_bool(root, "IsTruncated") or not token:
                return

    # -- multipart -------------------------------------------------------------------------------

    def initiate_multipart_upload(
        self, bucket: str, key: str, *, options: ObjectOptions | None = None
    ) -> str:
        """
        Start a multipart upload.

        :param options: the properties of the object to be (content type, metadata...).
        :return: the upload id.
        """
        _check_object(bucket, key)
        headers = options.to_headers() if options is not None else {}
        headers.pop("x-oss-traffic-limit", None)  # a per-request limit: it belongs on the parts
        response = self._transport.send(
            "POST", bucket, key, query=[("uploads", "")], headers=headers, op="InitiateMultipartUpload"
        )
        upload_id = find_text(parse_xml(response.content, "InitiateMultipartUploadResult"), "UploadId")
        if not upload_id:
            raise OssClientError(f"InitiateMultipartUpload for {_where(bucket, key)} returned no UploadId.")
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        data: Body,
        *,
        crc64: int | None = None,
        traffic_limit: int | None = None,
    ) -> UploadedPart:
        """
        Upload one part (uploading the same number again replaces it).

        :param upload_id: the upload id.
        :param part_number: 1..10000.
        :param data: the part's bytes (bytes, bytearray or memoryview; sent without a copy).
        :param crc64: the part's CRC-64 when already known.
        :param traffic_limit: a bandwidth limit in bit/s (819200..838860800).
        :raises CrcMismatchError: when OSS's CRC-64 differs (the error carries ``part_number``).
        """
        _check_object(bucket, key)
        _check_upload_id(upload_id)
        _check_part_number(part_number)
        _check_crc_arg("crc64", crc64)
        validate_traffic_limit(traffic_limit)
        payload = as_body(data)
        assert payload is not None
        size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        local = crc64 if crc64 is not None else crc64_mod.crc64(payload)
        headers = {"x-oss-traffic-limit": str(traffic_limit)} if traffic_limit is not None else {}
        response = self._transport.send(
            "PUT",
            bucket,
            key,
            query=[("partNumber", str(part_number)), ("uploadId", upload_id)],
            headers=headers,
            body=payload,
            op="UploadPart",
        )
        etag, _ = self._check_write_answer("UploadPart", local, response, bucket, key, part_number)
        return UploadedPart(
            part_number=part_number,
            etag=etag,
            size=size,
            crc64=local,
        )

    @staticmethod
    def _part_pairs(parts: Sequence[PartRef]) -> list[tuple[int, str]]:
        chosen: dict[int, str] = {}
        for part in parts:
            if isinstance(part, UploadedPart | PartInfo):
                number, etag = part.part_number, part.etag
            elif isinstance(part, tuple) and len(part) == 2:
                number, etag = part
            else:
                raise OssClientError(
                    f"Each part must be an UploadedPart, a PartInfo or a (part_number, etag) tuple; got {part!r}."
                )
            _check_part_number(number)
            if not isinstance(etag, str) or not normalize_etag(etag):
                raise OssClientError(f"Part {number} has no ETag.")
            previous = chosen.get(number)
            if previous is not None and normalize_etag(previous) != normalize_etag(etag):
                raise OssClientError(f"Part {number} is listed twice with different ETags.")
            chosen[number] = normalize_etag(etag)
        if not chosen:
            raise OssClientError("complete_multipart_upload needs at least one part.")
        return sorted(chosen.items())

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[PartRef],
        *,
        expected_crc64: int | None = None,
        expected_size: int | None = None,
        forbid_overwrite: bool = False,
        callback: UploadCallback | None = None,
    ) -> CompletedUpload:
        """
        Complete a multipart upload from its parts (sorted here by part number).

        :param parts: the parts, as :class:`UploadedPart`, :class:`PartInfo` or ``(number, etag)``.
        :param expected_crc64: the whole object's CRC-64 (the combine of the parts' CRCs); compared
            with the one OSS reports.
        :param expected_size: the whole object's size, checked when the answer lacks its ETag or
            CRC-64 and a HEAD of the object must prove the completion instead.
        :param forbid_overwrite: fail with ``FileAlreadyExists`` (:class:`OssPreconditionError`)
            when the key exists, atomically in OSS (``x-oss-forbid-overwrite``); the upload stays in
            progress.
        :param callback: OSS's upload callback, fired once when the upload completes; the result's
            ``callback_response`` is the callback server's answer. When an attempt's answer is lost
            and the retry finds the upload already completed, the callback is not fired again and
            ``callback_response`` is None (logged).
        :raises CrcMismatchError: when OSS's CRC-64 of the object differs from ``expected_crc64``.
        :raises CallbackFailedError: (HTTP 203) the object is stored but the callback failed.
        """
        _check_object(bucket, key)
        _check_upload_id(upload_id)
        _check_crc_arg("expected_crc64", expected_crc64)
        body = complete_multipart_body(self._part_pairs(parts))
        stats = CallStats()
        try:
            response = self._transport.send(
                "POST",
                bucket,
                key,
                query=[("uploadId", upload_id), ("encoding-type", "url")],
                headers={"Content-Type": "application/xml"}
                | ({"x-oss-forbid-overwrite": "true"} if forbid_overwrite else {})
                | (callback.headers() if callback is not None else {}),
                body=body,
                op="CompleteMultipartUpload",
                stats=stats,
            )
        except (OssNotFoundError, OssPreconditionError) as err:
            # An earlier attempt may have completed the upload before its answer was lost (the
            # retry then meets NoSuchUpload, or FileAlreadyExists with forbid_overwrite): accept the
            # object when it carries exactly the expected content.
            if (
                err.code in ("NoSuchUpload", "FileAlreadyExists")
                and stats.attempts > 1
                and expected_crc64 is not None
            ):
                try:
                    info = self.head_object(bucket, key)
                except OssNotFoundError:
                    raise err from None
                if info.crc64 == expected_crc64:
                    log.info(
                        "CompleteMultipartUpload for %s was retried and the upload is gone, but the object "
                        "has the expected CRC-64: an earlier attempt completed it.",
                        _where(bucket, key),
                    )
                    if callback is not None:
                        log.warning(
                            "The upload callback to %s ran (or failed) with that earlier attempt, whose answer was "
                            "lost: it is not fired again, and its answer is unknown.",
                            callback.describe(),
                        )
                    return CompletedUpload(bucket, key, info.etag, info.crc64, err.request_id)
            raise
        etag = normalize_etag(response.headers.get("ETag", ""))
        if not etag:
            with contextlib.suppress(OssResponseError):
                etag = normalize_etag(
                    find_text(parse_xml(response.content, "CompleteMultipartUploadResult"), "ETag")
                )
        server = crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma"))
        request_id = response.headers.get("x-oss-request-id", "")
        if expected_crc64 is not None and server is not None and server != expected_crc64:
            raise CrcMismatchError(
                f"CRC-64 mismatch completing {_where(bucket, key)}: the parts combine to "
                f"{expected_crc64}, OSS reports {server} for the object.",
                local_crc=expected_crc64,
                server_crc=server,
                key=key,
            )
        if callback is not None and response.status_code == CALLBACK_FAILED_STATUS and etag:
            raise _callback_failed(
                "CompleteMultipartUpload",
                response,
                bucket,
                key,
                etag,
                server if server is not None else expected_crc64,
                callback,
            )
        if callback is not None and etag and (server is not None or not self.config.require_crc64):
            answer = _callback_answer("CompleteMultipartUpload", response, bucket, key, callback)
            return CompletedUpload(bucket, key, etag, server, request_id, callback_response=answer)
        if etag and (server is not None or not self.config.require_crc64 or expected_crc64 is None):
            if server is None and expected_crc64 is not None:
                log.warning(
                    "CompleteMultipartUpload %s is UNVERIFIED: %s sent no CRC-64 (require_crc64=false), so "
                    "the object was not checked against the parts.",
                    _where(bucket, key),
                    self.config.endpoint_url,
                )
            return CompletedUpload(bucket, key, etag, server, request_id)
        return self._prove_completed(response, bucket, key, expected_crc64, expected_size, etag, server)

    def _prove_completed(
        self,
        response: requests.Response,
        bucket: str,
        key: str,
        expected_crc64: int | None,
        expected_size: int | None,
        etag: str,
        server: int | None,
    ) -> CompletedUpload:
        """
        A CompleteMultipartUpload answer without its ETag or CRC-64 is not OSS's: believe it only
        when a HEAD of the object shows the expected CRC-64 (and size, when known).
        """
        missing = [
            name for name, absent in (("ETag", not etag), ("x-oss-hash-crc64ecma", server is None)) if absent
        ]
        what = (
            f"CompleteMultipartUpload {_where(bucket, key)}: {self.config.endpoint_url} answered HTTP "
            f"{response.status_code} without {' and '.join(missing)}{_answer_traits(response)}"
        )
        if expected_crc64 is None:
            raise OssResponseError(
                f"{what}: the upload is not known to be complete, and without expected_crc64 a HEAD of the "
                "object cannot prove it. Check the connection's endpoint."
            )
        try:
            info = self.head_object(bucket, key)
        except OssError as err:
            raise OssResponseError(
                f"{what}, and a HEAD of the object failed ({type(err).__name__}: {err}): the upload is not "
                "known to be complete. Check the connection's endpoint; the multipart upload is left as it was."
            ) from None
        problems = []
        unverified = info.crc64 is None and not self.config.require_crc64
        if info.crc64 != expected_crc64 and not unverified:
            problems.append(f"CRC-64 {info.crc64} instead of {expected_crc64}")
        if expected_size is not None and info.size != expected_size:
            problems.append(f"size {info.size} instead of {expected_size}")
        if problems:
            raise OssResponseError(
                f"{what}, and the object a HEAD finds has {' and '.join(problems)}: it is not this upload. "
                "Check the connection's endpoint; the multipart upload is left as it was."
            )
        log.warning(
            "%s; a HEAD of the object proved its CRC-64 (%d) and size (%s), so the upload is complete.",
            what,
            info.crc64,
            info.size if expected_size is not None else "not checked",
        )
        return CompletedUpload(bucket, key, info.etag, info.crc64, "")

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Abort a multipart upload, deleting its parts."""
        _check_object(bucket, key)
        _check_upload_id(upload_id)
        self._transport.send(
            "DELETE", bucket, key, query=[("uploadId", upload_id)], op="AbortMultipartUpload"
        )

    def list_parts(
        self, bucket: str, key: str, upload_id: str, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[PartInfo]:
        """
        Iterate over the uploaded parts of a multipart upload, in part number order.

        :raises OssNotFoundError: ``NoSuchUpload`` when the upload is gone (completed, aborted, expired).
        """
        _check_object(bucket, key)
        _check_upload_id(upload_id)
        _check_page_size(page_size)
        return self._list_parts(bucket, key, upload_id, page_size)

    def _list_parts(self, bucket: str, key: str, upload_id: str, page_size: int) -> Iterator[PartInfo]:
        marker = 0
        while True:
            query = [("uploadId", upload_id), ("max-parts", str(page_size)), ("encoding-type", "url")]
            if marker:
                query.append(("part-number-marker", str(marker)))
            response = self._transport.send("GET", bucket, key, query=query, op="ListParts")
            root = parse_xml(response.content, "ListPartsResult")
            for item in root.findall("Part"):
                modified = find_text(item, "LastModified")
                yield PartInfo(
                    part_number=find_int(item, "PartNumber"),
                    etag=normalize_etag(find_text(item, "ETag")),
                    size=find_int(item, "Size"),
                    crc64=crc64_mod.parse_crc(find_text(item, "HashCrc64ecma", "") or None),
                    last_modified=parse_iso_time(modified) if modified else None,
                )
            next_marker = find_int(root, "NextPartNumberMarker")
            if not find_bool(root, "IsTruncated") or next_marker <= marker:
                return
            marker = next_marker

    def list_multipart_uploads(
        self, bucket: str, *, prefix: str = "", page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[MultipartUploadInfo]:
        """Iterate over the in-progress multipart uploads of a bucket (optionally under ``prefix``)."""
        validate_bucket_name(bucket)
        _check_page_size(page_size)
        return self._list_uploads(bucket, prefix, page_size)

    def _list_uploads(self, bucket: str, prefix: str, page_size: int) -> Iterator[MultipartUploadInfo]:
        key_marker = ""
        upload_id_marker = ""
        while True:
            query = [("uploads", ""), ("max-uploads", str(page_size)), ("encoding-type", "url")]
            if prefix:
                query.append(("prefix", prefix))
            if key_marker:
                query.append(("key-marker", key_marker))
            if upload_id_marker:
                query.append(("upload-id-marker", upload_id_marker))
            response = self._transport.send("GET", bucket, None, query=query, op="ListMultipartUploads")
            root = parse_xml(response.content, "ListMultipartUploadsResult")
            encoded = is_url_encoded(root)
            for item in root.findall("Upload"):
                initiated = find_text(item, "Initiated")
                yield MultipartUploadInfo(
                    key=decode_if(find_text(item, "Key"), encoded),
                    upload_id=find_text(item, "UploadId"),
                    initiated=parse_iso_time(initiated) if initiated else None,
                )
            next_key = decode_if(find_text(root, "NextKeyMarker"), encoded)
            next_upload = find_text(root, "NextUploadIdMarker")
            if not find_bool(root, "IsTruncated") or (next_key, next_upload) == (
                key_marker,
                upload_id_marker,
            ):
                return
            key_marker, upload_id_marker = next_key, next_upload

    # -- buckets ---------------------------------------------------------------------------------

    def get_bucket_info(self, bucket: str) -> dict[str, object]:
        """The bucket's information (``Name``, ``Location``, ``Region``, ``StorageClass``, ``CreationDate``...)."""
        validate_bucket_name(bucket)
        response = self._transport.send("GET", bucket, None, query=[("bucketInfo", "")], op="GetBucketInfo")
        root = parse_xml(response.content, "BucketInfo")
        inner = root.find("Bucket")
        return element_to_dict(inner if inner is not None else root)

    def list_buckets(self) -> list[str]:
        """The names of the account's buckets."""
        names: list[str] = []
        marker = ""
        while True:
            query = [("max-keys", str(MAX_PAGE_SIZE))]
            if marker:
                query.append(("marker", marker))
            response = self._transport.send("GET", None, None, query=query, op="ListBuckets")
            root = parse_xml(response.content, "ListAllMyBucketsResult")
            names += [find_text(b, "Name") for b in root.findall("Buckets/Bucket")]
            next_marker = find_text(root, "NextMarker")
            if not find_bool(root, "IsTruncated") or not next_marker or next_marker == marker:
                return names
            marker = next_marker

    # -- presigned URLs --------------------------------------------------------------------------

    def presign_url(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        expires: int = 3600,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """
        A URL that grants ``method`` on an object to whoever holds it, until it expires (signed
        with the configured signature version; the STS token, if any, is part of the URL).

        :param method: ``GET``, ``PUT``, ``HEAD``, ``POST`` or ``DELETE``.
        :param expires: validity in seconds, 1 to 604800 (7 days).
        :param query: extra query parameters to sign (``response-content-disposition``...).
        :param headers: headers the user of the URL must send exactly (``Content-Type``...).
        """
        _check_object(bucket, key)
        verb = str(method).upper()
        if verb not in _PRESIGN_METHODS:
            raise OssClientError(
                f"Cannot presign method {method!r}: use one of {', '.join(_PRESIGN_METHODS)}."
            )
        if (
            isinstance(expires, bool)
            or not isinstance(expires, int)
            or not 1 <= expires <= MAX_PRESIGN_EXPIRES
        ):
            raise OssClientError(
                f"expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES} (7 days, the "
                f"longest OSS allows); got {expires!r}."
            )
        pairs = self._transport.presign(
            verb, bucket, key, list((query or {}).items()), dict(headers or {}), expires
        )
        return self.config.build_target(bucket, key, pairs, apply_resolve=False).url
