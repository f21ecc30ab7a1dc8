"""The local server's object operations and object listings."""

from __future__ import annotations

import base64
import binascii
import hashlib
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.callback import read_callback, respond_after_callback, system_values
from airflow_provider_oss.testing.compression import send_gzip, should_compress
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.ops_common import (
    MAX_OBJECT_SIZE,
    MAX_XML_BODY,
    RESPONSE_OVERRIDES,
    check_key,
    check_md5,
    etag_of,
    expected_md5,
    forbid_overwrite,
    int_param,
    malformed,
    meta_from_headers,
    meta_headers,
    normal_etag,
    parse_xml_body,
    receive_body,
    require_length,
    upload_headers,
    url_encoding_requested,
    want_md5,
)
from airflow_provider_oss.testing.ops_versions import requested_version, version_headers
from airflow_provider_oss.testing.store import ObjectRecord
from airflow_provider_oss.testing.store_objects import Deletion, check_version_id
from airflow_provider_oss.testing.xmlresp import el, http_time, iso_time, owner, url_encode

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange

# -- objects -------------------------------------------------------------------------------------


def put_object(ex: Exchange) -> None:
    """PutObject: store the body as the object."""
    ex.store.bucket(ex.bucket)
    check_key(ex.key)
    meta = meta_from_headers(ex.headers, ex.key)
    require_length(ex, MAX_OBJECT_SIZE)
    callback = read_callback(ex)
    forbid = forbid_overwrite(ex.headers)
    bucket = ex.store.bucket(ex.bucket)
    if forbid and not bucket.versioning and bucket.objects.get(ex.key) is not None:
        raise OssApiError(409, "FileAlreadyExists", "The object you specified already exists.", Key=ex.key)
    expected = expected_md5(ex.headers)
    got = receive_body(ex, md5=want_md5(ex, expected), limit=MAX_OBJECT_SIZE)
    try:
        check_md5(expected, got.md5)
        etag = etag_of(ex, got.md5, got.crc64)
        record = ex.store.commit_object(
            ex.bucket,
            ex.key,
            got.path,
            size=got.size,
            etag=etag,
            crc64=got.crc64,
            meta=meta,
            object_type="Normal",
            forbid_overwrite=forbid,
        )
    finally:
        ex.store.discard(got.path)
    headers = {**upload_headers(ex, etag, got, meta), **version_headers(ex, record)}
    if callback is None:
        ex.respond(200, headers)
        return
    values = system_values(
        ex,
        etag=etag,
        size=got.size,
        crc64=got.crc64,
        mime_type=meta.get("content-type", ""),
        content_md5=headers.get("Content-MD5", ""),
    )
    respond_after_callback(ex, callback, values, headers)


def _parse_range(value: str, size: int) -> tuple[int, int] | None:  # noqa: PLR0911  # each malformed range form answers None where it is detected
    """A single ``bytes=a-b`` range as (start, end inclusive); None when it is not satisfiable or valid."""
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not first:
        if not is_decimal(last) or int(last) == 0 or size == 0:
            return None
        return max(0, size - int(last)), size - 1
    if not is_decimal(first) or (last and not is_decimal(last)):
        return None
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _preconditions(ex: Exchange, record: ObjectRecord) -> bool:
    """Check ``If-*`` headers; False when the answer is ``304 Not Modified`` (already sent)."""

    def when(name: str) -> float | None:
        value = ex.headers.get(name)
        if not value:
            return None
        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None

    etag = normal_etag(record.etag)
    if_match = ex.headers.get("if-match")
    if if_match is not None and normal_etag(if_match) not in (etag, "*"):
        raise OssApiError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
            Condition="If-Match",
        )
    since = when("if-unmodified-since")
    if since is not None and int(record.last_modified) > since:
        raise OssApiError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
            Condition="If-Unmodified-Since",
        )
    if_none = ex.headers.get("if-none-match")
    modified = when("if-modified-since")
    if (if_none is not None and normal_etag(if_none) in (etag, "*")) or (
        modified is not None and int(record.last_modified) <= modified
    ):
        ex.respond(304, {"ETag": record.etag, "Last-Modified": http_time(record.last_modified)})
        return False
    return True


def _object_headers(record: ObjectRecord) -> dict[str, str]:
    headers = meta_headers(record.meta)
    headers.update(
        {
            "ETag": record.etag,
            "Last-Modified": http_time(record.last_modified),
            "Accept-Ranges": "bytes",
            "x-oss-object-type": record.object_type,
        }
    )
    return headers


def get_object(ex: Exchange) -> None:
    """GetObject (with ``Range``) and HeadObject, of the current version or ``versionId``'s."""
    record, reader = ex.store.open_object(ex.bucket, ex.key, requested_version(ex))
    with reader:
        if not _preconditions(ex, record):
            return
        headers = {**_object_headers(record), **version_headers(ex, record)}
        status, start, length = 200, 0, record.size
        range_header = ex.headers.get("range")
        if range_header and ex.op == "GetObject":
            chosen = _parse_range(range_header, record.size)
            if chosen is None and ex.headers.get("x-oss-range-behavior", "").lower() == "standard":
                raise OssApiError(
                    416, "InvalidRange", "The requested range is not satisfiable.", Range=range_header
                )
            if chosen is not None:
                start, end = chosen
                status, length = 206, end - start + 1
                headers["Content-Range"] = f"bytes {start}-{end}/{record.size}"
        if status == 200:
            headers["x-oss-hash-crc64ecma"] = str(record.crc64)
        for param, header in RESPONSE_OVERRIDES.items():
            if param in ex.params:
                headers[header] = ex.params[param]
        if should_compress(ex, record, status):
            send_gzip(ex, headers, reader)
            return
        ex.respond_object(status, headers, reader, start, length)


def get_object_meta(ex: Exchange) -> None:
    """GetObjectMeta (``HEAD ?objectMeta``): ETag, size and modification time."""
    record = ex.store.find_version(ex.bucket, ex.key, requested_version(ex))
    ex.body.drain()
    headers = {
        "ETag": record.etag,
        "Last-Modified": http_time(record.last_modified),
        "x-oss-hash-crc64ecma": str(record.crc64),
        **version_headers(ex, record),
    }
    ex.start_response(200, headers, record.size)  # a HEAD answer: Content-Length is the object's size


def delete_object(ex: Exchange) -> None:
    """
    DeleteObject: 204 whether or not the object existed. In a bucket with versioning, the answer
    names the version removed (``versionId``) or the delete marker added (without one).
    """
    deletion = ex.store.delete_object(ex.bucket, ex.key, requested_version(ex))
    headers = {}
    if deletion.version_id is not None:
        headers["x-oss-version-id"] = deletion.version_id
    if deletion.delete_marker:
        headers["x-oss-delete-marker"] = "true"
    ex.respond(204, headers)


def delete_multiple_objects(ex: Exchange) -> None:
    """DeleteMultipleObjects (``POST /?delete``)."""
    ex.store.bucket(ex.bucket)
    encoded = url_encoding_requested(ex)
    expected = expected_md5(ex.headers)
    body = ex.body.read_all(MAX_XML_BODY)
    check_md5(expected, hashlib.md5(body, usedforsecurity=False).digest())
    root = parse_xml_body(body, "Delete")
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    objects = root.findall("Object")
    if not objects or len(objects) > 1000:
        raise malformed("A delete request names 1 to 1000 objects.")
    keys = [obj.findtext("Key") for obj in objects]
    if any(key is None for key in keys):  # OSS: EC 0016-00000613
        raise malformed("Every Object of a delete request needs a Key.")
    if any(key == "" for key in keys):  # OSS: EC 0016-00000611
        raise malformed("The Key of an Object of a delete request must not be empty.")
    versions = [obj.findtext("VersionId") for obj in objects]
    for version in versions:  # before deleting anything
        if version is not None:
            check_version_id(version.strip())
    deleted = []
    for key, version in zip(keys, versions, strict=True):
        assert key is not None  # checked above
        deletion = ex.store.delete_object(ex.bucket, key, version.strip() if version is not None else None)
        if not quiet:
            deleted.append(_deleted_entry(key, version, deletion, encoded))
    children = [el("EncodingType", "url")] if encoded else []
    ex.respond_xml("DeleteResult", children + deleted)


def _deleted_entry(key: str, version: str | None, deletion: Deletion, encoded: bool) -> str:
    """A ``<Deleted>`` entry of DeleteMultipleObjects: the version named, or the delete marker added."""
    entry = el("Key", url_encode(key, encoded))
    if version is not None:
        entry += el("VersionId", version.strip())
    if deletion.delete_marker:
        entry += el("DeleteMarker", "true") + el("DeleteMarkerVersionId", deletion.version_id or "")
    return "<Deleted>" + entry + "</Deleted>"


# -- listings ------------------------------------------------------------------------------------


def _contents(record: ObjectRecord, encoded: bool, with_owner: bool) -> str:
    return (
        "<Contents>"
        + el("Key", url_encode(record.key, encoded))
        + el("LastModified", iso_time(record.last_modified))
        + el("ETag", record.etag)
        + el("Type", record.object_type)
        + el("Size", record.size)
        + el("StorageClass", record.meta.get("x-oss-storage-class", "Standard"))
        + (owner() if with_owner else "")
        + "</Contents>"
    )


def _token_encode(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def _token_decode(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_argument(
            "The continuation token provided is incorrect.", "continuation-token", token
        ) from None


def list_objects_v2(ex: Exchange) -> None:
    """ListObjectsV2 (``list-type=2``)."""
    encoded = url_encoding_requested(ex)
    max_keys = int_param(ex, "max-keys", 100, 0, 1000)
    prefix = ex.params.get("prefix", "")
    delimiter = ex.params.get("delimiter", "")
    start_after = ex.params.get("start-after", "")
    token = ex.params.get("continuation-token")
    marker = _token_decode(token) if token else start_after
    page = ex.store.list_objects(
        ex.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
    )
    with_owner = ex.params.get("fetch-owner", "").lower() == "true"
    children = [el("Name", ex.bucket), el("Prefix", url_encode(prefix, encoded))]
    if start_after:
        children.append(el("StartAfter", url_encode(start_after, encoded)))
    if token:
        children.append(el("ContinuationToken", token))
    children += [el("MaxKeys", max_keys), el("Delimiter", url_encode(delimiter, encoded))]
    if encoded:
        children.append(el("EncodingType", "url"))
    children.append(el("IsTruncated", str(page.truncated).lower()))
    if page.truncated:
        children.append(el("NextContinuationToken", _token_encode(page.next_marker)))
    children.append(el("KeyCount", len(page.items) + len(page.prefixes)))
    children += [_contents(r, encoded, with_owner) for r in page.items]
    children += [
        "<CommonPrefixes>" + el("Prefix", url_encode(p, encoded)) + "</CommonPrefixes>" for p in page.prefixes
    ]
    ex.respond_xml("ListBucketResult", children)


def list_objects(ex: Exchange) -> None:
    """ListObjects (V1: ``marker``/``NextMarker``)."""
    encoded = url_encoding_requested(ex)
    max_keys = int_param(ex, "max-keys", 100, 0, 1000)
    prefix = ex.params.get("prefix", "")
    delimiter = ex.params.get("delimiter", "")
    marker = ex.params.get("marker", "")
    page = ex.store.list_objects(
        ex.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
    )
    children = [
        el("Name", ex.bucket),
        el("Prefix", url_encode(prefix, encoded)),
        el("Marker", url_encode(marker, encoded)),
        el("MaxKeys", max_keys),
        el("Delimiter", url_encode(delimiter, encoded)),
    ]
    if encoded:
        children.append(el("EncodingType", "url"))
    children.append(el("IsTruncated", str(page.truncated).lower()))
    if page.truncated:
        children.append(el("NextMarker", url_encode(page.next_marker, encoded)))
    children += [_contents(r, encoded, True) for r in page.items]
    children += [
        "<CommonPrefixes>" + el("Prefix", url_encode(p, encoded)) + "</CommonPrefixes>" for p in page.prefixes
    ]
    ex.respond_xml("ListBucketResult", children)
