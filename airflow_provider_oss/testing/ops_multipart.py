"""The local server's multipart upload operations, with OSS's rules."""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.callback import read_callback, respond_after_callback, system_values
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.ops_common import (
    MAX_OBJECT_SIZE,
    MAX_PART_NUMBER,
    MAX_XML_BODY,
    MIN_PART_SIZE,
    check_key,
    check_md5,
    etag_of,
    expected_md5,
    forbid_overwrite,
    int_param,
    location,
    malformed,
    meta_from_headers,
    multipart_etag,
    normal_etag,
    parse_xml_body,
    receive_body,
    require_length,
    sse_headers,
    upload_headers,
    url_encoding_requested,
    want_md5,
)
from airflow_provider_oss.testing.ops_versions import version_headers
from airflow_provider_oss.testing.store import PartRecord
from airflow_provider_oss.testing.xmlresp import el, iso_time, url_encode

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange

# -- multipart -----------------------------------------------------------------------------------


def _part_number(ex: Exchange) -> int:
    raw = ex.params.get("partNumber", "")
    if not is_decimal(raw) or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive.", "partNumber", raw
        )
    return int(raw)


def initiate_multipart_upload(ex: Exchange) -> None:
    """InitiateMultipartUpload (``POST ?uploads``): metadata given here applies to the completed object."""
    encoded = url_encoding_requested(ex)
    bucket = ex.store.bucket(ex.bucket)
    check_key(ex.key)
    meta = meta_from_headers(ex.headers, ex.key)
    if forbid_overwrite(ex.headers) and ex.key in bucket.objects and not bucket.versioning:
        raise OssApiError(409, "FileAlreadyExists", "The object you specified already exists.", Key=ex.key)
    if forbid_overwrite(ex.headers):
        meta["x-oss-forbid-overwrite"] = "true"
    upload = ex.store.initiate_upload(ex.bucket, ex.key, meta)
    children = [el("EncodingType", "url")] if encoded else []
    children += [
        el("Bucket", ex.bucket),
        el("Key", url_encode(ex.key, encoded)),
        el("UploadId", upload.upload_id),
    ]
    ex.respond_xml("InitiateMultipartUploadResult", children, sse_headers(upload.meta))


def upload_part(ex: Exchange) -> None:
    """UploadPart (``PUT ?partNumber=N&uploadId=ID``): re-uploading a part number replaces it."""
    number = _part_number(ex)
    upload_id = ex.params.get("uploadId", "")
    upload = ex.store.upload(ex.bucket, upload_id, ex.key)
    given = [name for name in ex.headers if name.startswith("x-oss-server-side-")]
    if given:  # as OSS: encryption is chosen at InitiateMultipartUpload, never per part
        raise invalid_argument(
            "Server-side encryption headers are not allowed on UploadPart: give them to InitiateMultipartUpload.",
            given[0],
            ex.headers[given[0]],
        )
    require_length(ex, MAX_OBJECT_SIZE)
    expected = expected_md5(ex.headers)
    got = receive_body(ex, md5=want_md5(ex, expected), limit=MAX_OBJECT_SIZE)
    try:
        check_md5(expected, got.md5)
        etag = etag_of(ex, got.md5, got.crc64)
        ex.store.commit_part(
            ex.bucket, upload_id, ex.key, number, got.path, size=got.size, etag=etag, crc64=got.crc64
        )
    finally:
        ex.store.discard(got.path)
    ex.respond(200, upload_headers(ex, etag, got, upload.meta))


def _requested_parts(body: bytes) -> list[tuple[int, str]]:
    root = parse_xml_body(body, "CompleteMultipartUpload")
    parts: list[tuple[int, str]] = []
    for part in root.findall("Part"):
        number = (part.findtext("PartNumber") or "").strip()
        etag = part.findtext("ETag")
        if not is_decimal(number) or etag is None:
            raise malformed("Each Part needs a PartNumber and an ETag.")
        parts.append((int(number), etag))
    if not parts:
        raise malformed("The list of parts is empty.")
    return parts


def _choose_parts(
    upload_id: str, snapshot: dict[int, PartRecord], requested: list[tuple[int, str]] | None
) -> list[PartRecord]:
    if requested is None:
        chosen = [snapshot[n] for n in sorted(snapshot)]
        if not chosen:
            raise invalid_argument("The upload has no parts to complete.", "x-oss-complete-all", "yes")
    else:
        for (before, _), (after, _) in itertools.pairwise(requested):
            if after <= before:
                raise OssApiError(
                    400,
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. Parts list must specified in order by part number.",
                    UploadId=upload_id,
                    PartNumber=after,
                )
        chosen = []
        for number, etag in requested:
            part = snapshot.get(number)
            if part is None or normal_etag(part.etag) != normal_etag(etag):
                raise OssApiError(
                    400,
                    "InvalidPart",
                    "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                    UploadId=upload_id,
                    PartNumber=number,
                    ETag=etag,
                )
            chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise OssApiError(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size.",
                PartNumber=part.number,
                MinSizeAllowed=MIN_PART_SIZE,
                ProposedSize=part.size,
            )
    return chosen


def complete_multipart_upload(ex: Exchange) -> None:
    """CompleteMultipartUpload (``POST ?uploadId=ID``), with a part list or ``x-oss-complete-all: yes``."""
    encoded = url_encoding_requested(ex)
    upload_id = ex.params.get("uploadId", "")
    upload = ex.store.upload(ex.bucket, upload_id, ex.key)
    complete_all = ex.headers.get("x-oss-complete-all", "").lower() == "yes"
    expected = expected_md5(ex.headers)
    body = ex.body.read_all(MAX_XML_BODY)
    check_md5(expected, hashlib.md5(body, usedforsecurity=False).digest())
    if complete_all and body.strip():
        raise invalid_argument(
            "Should not specify both complete-all header and http body.", "x-oss-complete-all", "yes"
        )
    requested = None if complete_all else _requested_parts(body)
    callback = read_callback(ex)  # checked before completing, as OSS
    meta = dict(upload.meta)
    forbid = meta.pop("x-oss-forbid-overwrite", "") == "true" or forbid_overwrite(ex.headers)
    if "x-oss-object-acl" in ex.headers:
        meta["x-oss-object-acl"] = meta_from_headers(ex.headers, ex.key)["x-oss-object-acl"]
    snapshot = ex.store.begin_complete(ex.bucket, upload_id, ex.key)
    try:
        chosen = _choose_parts(upload_id, snapshot, requested)
    except BaseException:
        ex.store.cancel_complete(ex.bucket, upload_id)
        raise
    record = ex.store.finish_complete(
        ex.bucket,
        upload_id,
        chosen,
        etag=multipart_etag(chosen),
        crc64=crc64_mod.combine_all([(p.crc64, p.size) for p in chosen]),
        meta=meta,
        forbid_overwrite=forbid,
    )
    children = [el("EncodingType", "url")] if encoded else []
    children += [
        el("Location", location(ex, ex.key)),
        el("Bucket", ex.bucket),
        el("Key", url_encode(ex.key, encoded)),
        el("ETag", record.etag),
    ]
    headers = {"x-oss-hash-crc64ecma": str(record.crc64), "ETag": record.etag, **version_headers(ex, record)}
    if callback is not None:
        # Fired once, by the request that completed the upload: the upload is gone now, so a repeated
        # Complete of it meets NoSuchUpload and never reaches this line.
        values = system_values(
            ex,
            etag=record.etag,
            size=record.size,
            crc64=record.crc64,
            mime_type=record.meta.get("content-type", ""),
        )
        respond_after_callback(ex, callback, values, headers)
        return
    ex.respond_xml("CompleteMultipartUploadResult", children, headers)


def abort_multipart_upload(ex: Exchange) -> None:
    """AbortMultipartUpload (``DELETE ?uploadId=ID``)."""
    ex.store.abort_upload(ex.bucket, ex.params.get("uploadId", ""), ex.key)
    ex.respond(204)


_CLIENT_ENCRYPTION_FIELDS = (
    ("key", "ClientEncryptionKey"),
    ("start", "ClientEncryptionStart"),
    ("cek-alg", "ClientEncryptionCekAlg"),
    ("wrap-alg", "ClientEncryptionWrapAlg"),
    ("data-size", "ClientEncryptionDataSize"),
    ("part-size", "ClientEncryptionPartSize"),
)


def list_parts(ex: Exchange) -> None:
    """ListParts (``GET ?uploadId=ID``), paged by ``max-parts`` and ``part-number-marker``."""
    encoded = url_encoding_requested(ex)
    upload_id = ex.params.get("uploadId", "")
    max_parts = int_param(ex, "max-parts", 1000, 1, 1000)
    marker = int_param(ex, "part-number-marker", 0, 0, MAX_PART_NUMBER)
    parts = [p for p in ex.store.parts(ex.bucket, upload_id, ex.key) if p.number > marker]
    page = parts[:max_parts]
    truncated = len(parts) > max_parts
    children = [el("EncodingType", "url")] if encoded else []
    children += [
        el("Bucket", ex.bucket),
        el("Key", url_encode(ex.key, encoded)),
        el("UploadId", upload_id),
        el("PartNumberMarker", marker),
        el("NextPartNumberMarker", page[-1].number if page else marker),
        el("MaxParts", max_parts),
        el("IsTruncated", str(truncated).lower()),
    ]
    upload_meta = ex.store.upload(ex.bucket, upload_id, ex.key).meta
    children.append(el("StorageClass", upload_meta.get("x-oss-storage-class", "Standard")))
    for suffix, element in _CLIENT_ENCRYPTION_FIELDS:  # as OSS: client-side encryption metadata
        if f"x-oss-meta-client-side-encryption-{suffix}" in upload_meta:
            children.append(el(element, upload_meta[f"x-oss-meta-client-side-encryption-{suffix}"]))
    for p in page:
        children.append(
            "<Part>"
            + el("PartNumber", p.number)
            + el("LastModified", iso_time(p.last_modified))
            + el("ETag", p.etag)
            + el("HashCrc64ecma", p.crc64)
            + el("Size", p.size)
            + "</Part>"
        )
    ex.respond_xml("ListPartsResult", children)


def list_multipart_uploads(ex: Exchange) -> None:
    """ListMultipartUploads (``GET /?uploads``)."""
    encoded = url_encoding_requested(ex)
    max_uploads = int_param(ex, "max-uploads", 1000, 1, 1000)
    prefix = ex.params.get("prefix", "")
    delimiter = ex.params.get("delimiter", "")
    key_marker = ex.params.get("key-marker", "")
    upload_id_marker = ex.params.get("upload-id-marker", "")
    page = ex.store.list_uploads(
        ex.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
    )
    next_key, _, next_upload = page.next_marker.partition("\n")
    if not page.truncated and page.items:  # as OSS: the last upload listed, truncated or not
        next_key, next_upload = page.items[-1].key, page.items[-1].upload_id
    children = [el("EncodingType", "url")] if encoded else []
    children += [
        el("Bucket", ex.bucket),
        el("KeyMarker", url_encode(key_marker, encoded)),
        el("UploadIdMarker", upload_id_marker),
        el("NextKeyMarker", url_encode(next_key, encoded)),
        el("NextUploadIdMarker", next_upload),
        el("Delimiter", url_encode(delimiter, encoded)),
        el("Prefix", url_encode(prefix, encoded)),
        el("MaxUploads", max_uploads),
        el("IsTruncated", str(page.truncated).lower()),
    ]
    for upload in page.items:
        children.append(
            "<Upload>"
            + el("Key", url_encode(upload.key, encoded))
            + el("UploadId", upload.upload_id)
            + el("StorageClass", upload.meta.get("x-oss-storage-class", "Standard"))
            + el("Initiated", iso_time(upload.initiated))
            + "</Upload>"
        )
    children += [
        "<CommonPrefixes>" + el("Prefix", url_encode(p, encoded)) + "</CommonPrefixes>" for p in page.prefixes
    ]
    ex.respond_xml("ListMultipartUploadsResult", children)
