"""
The local server's server-side copies: CopyObject and UploadPartCopy, with OSS's rules.

- ``x-oss-copy-source: /<bucket>/<url-encoded key>`` names the source (same region: any bucket of
  this server); a missing source answers ``NoSuchKey`` (or ``NoSuchBucket``), 404.
- The source conditions ``x-oss-copy-source-if-match`` and ``-if-unmodified-since`` answer
  ``412 PreconditionFailed`` when they do not hold; ``-if-none-match`` and ``-if-modified-since``
  answer ``304 Not Modified``. Nothing is written then.
- CopyObject copies at most 5 GiB (``EntityTooLarge``, 400) unless the copy stays in the source's
  bucket without changing the storage class or the encryption (OSS then copies any size).
- UploadPartCopy copies ``x-oss-copy-source-range: bytes=<first>-<last>`` (or ``bytes=<first>-``:
  from ``first`` to the end; the whole source when absent) as a part of a multipart upload: a range
  that is not of that form or not inside the source answers ``InvalidArgument``; a part above 5 GiB ``EntityTooLarge``. The answer carries the
  part's ``ETag`` and ``x-oss-hash-crc64ecma`` (and ``CopyPartResult`` XML), like UploadPart's.

Nothing is held in memory: bytes are copied file to file in 1 MiB chunks (the CRC-64, and the MD5
for an MD5 ETag, computed on the way); a range that is exactly one stored segment file is hard-linked
instead (stored files are never modified in place, so the part and the source share it safely).
"""

from __future__ import annotations

import hashlib
import os
import re
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.objectdata import ObjectReader, write_all
from airflow_provider_oss.testing.ops_common import (
    MAX_OBJECT_SIZE,
    MAX_PART_NUMBER,
    OSS_HEADERS,
    check_key,
    etag_of,
    forbid_overwrite,
    meta_from_headers,
    normal_etag,
    sse_headers,
)
from airflow_provider_oss.testing.ops_versions import version_headers
from airflow_provider_oss.testing.store_objects import check_version_id
from airflow_provider_oss.testing.xmlresp import el, http_time, iso_time

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange
    from airflow_provider_oss.testing.store import ObjectRecord

#: The source conditions a copy accepts.
COPY_CONDITION_HEADERS = frozenset(
    {
        "x-oss-copy-source-if-match",
        "x-oss-copy-source-if-none-match",
        "x-oss-copy-source-if-modified-since",
        "x-oss-copy-source-if-unmodified-since",
    }
)
#: The largest CopyObject to another bucket (or changing storage class or encryption), and the largest part.
MAX_SINGLE_COPY = MAX_OBJECT_SIZE

_RANGE_RE = re.compile(r"^bytes=([0-9]+)-([0-9]*)$")  # ASCII digits: \d also matches other scripts'


def copy_source(ex: Exchange) -> tuple[str, str, str | None]:
    """
    The source bucket, key and version id (None: the current version) of ``x-oss-copy-source``
    (``/<bucket>/<url-encoded key>[?versionId=<id>]``).

    :raises OssApiError: ``InvalidArgument`` when it does not name a bucket and a key, or names a
        query other than ``versionId`` or an invalid version id.
    """
    # The raw header is split first: a key may contain an (encoded) "?" of its own.
    raw_path, question, raw_query = ex.headers["x-oss-copy-source"].partition("?")
    source = unquote(raw_path)
    src_bucket, _, src_key = source.lstrip("/").partition("/")
    if not src_bucket or not src_key:
        raise invalid_argument("x-oss-copy-source must be /<bucket>/<key>.", "x-oss-copy-source", source)
    version_id = None
    if question:
        name, _, value = raw_query.partition("=")
        if name != "versionId":
            raise invalid_argument(
                "x-oss-copy-source takes only ?versionId=<id> after the key.", "x-oss-copy-source", raw_query
            )
        version_id = unquote(value)
        check_version_id(version_id)
    return src_bucket, src_key, version_id


def copy_source_headers(version_id: str | None, record: ObjectRecord) -> dict[str, str]:
    """``x-oss-copy-source-version-id`` when the copy named a source version."""
    return {} if version_id is None else {"x-oss-copy-source-version-id": record.version_id}


def _when(ex: Exchange, name: str) -> float | None:
    value = ex.headers.get(name)
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def source_conditions_hold(ex: Exchange, record: ObjectRecord) -> bool:
    """
    Check the ``x-oss-copy-source-if-*`` conditions against the source.

    :return: False when the answer is ``304 Not Modified`` (already sent).
    :raises OssApiError: ``PreconditionFailed`` (412) for ``-if-match`` or ``-if-unmodified-since``.
    """
    etag = normal_etag(record.etag)
    if_match = ex.headers.get("x-oss-copy-source-if-match")
    if if_match is not None and normal_etag(if_match) != etag:
        raise OssApiError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
            Condition="x-oss-copy-source-if-match",
        )
    since = _when(ex, "x-oss-copy-source-if-unmodified-since")
    if since is not None and int(record.last_modified) > since:
        raise OssApiError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
            Condition="x-oss-copy-source-if-unmodified-since",
        )
    if_none = ex.headers.get("x-oss-copy-source-if-none-match")
    modified = _when(ex, "x-oss-copy-source-if-modified-since")
    if (if_none is not None and normal_etag(if_none) == etag) or (
        modified is not None and int(record.last_modified) <= modified
    ):
        ex.respond(304, {"ETag": record.etag, "Last-Modified": http_time(record.last_modified)})
        return False
    return True


def _too_large(size: int, what: str) -> OssApiError:
    return OssApiError(
        400,
        "EntityTooLarge",
        f"{what} is {size} bytes, more than {MAX_SINGLE_COPY}: copy it in parts with UploadPartCopy.",
        MaxSizeAllowed=MAX_SINGLE_COPY,
        ProposedSize=size,
    )


def copy_object(ex: Exchange) -> None:
    """CopyObject (``PUT`` with ``x-oss-copy-source``), with ``x-oss-metadata-directive`` and conditions."""
    ex.store.bucket(ex.bucket)
    check_key(ex.key)
    src_bucket, src_key, src_version = copy_source(ex)
    directive = ex.headers.get("x-oss-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise invalid_argument(
            "x-oss-metadata-directive must be COPY or REPLACE.", "x-oss-metadata-directive", directive
        )
    forbid = forbid_overwrite(ex.headers)
    record, reader = ex.store.open_object(src_bucket, src_key, src_version, for_copy=True)
    with reader:
        if not source_conditions_hold(ex, record):
            return
        changes_storage = any(
            name in ex.headers for name in ("x-oss-storage-class", "x-oss-server-side-encryption")
        )
        if record.size > MAX_SINGLE_COPY and (src_bucket != ex.bucket or changes_storage):
            raise _too_large(record.size, "The source object")
        if directive == "REPLACE":
            meta = meta_from_headers(ex.headers, ex.key)
            if "content-type" not in ex.headers:  # the source's type unless REPLACE gives one
                meta["content-type"] = record.meta.get("content-type", "application/octet-stream")
        else:
            # As OSS: the copy is encrypted only as this request asks, never as the source was.
            meta = {
                name: value
                for name, value in record.meta.items()
                if not name.startswith("x-oss-server-side-")
            }
            meta.update(
                {
                    name: value
                    for name, value in meta_from_headers(ex.headers, ex.key).items()
                    if name in OSS_HEADERS
                }
            )
        temp = ex.store.new_temp()
        try:
            with open(temp, "wb", buffering=0) as out:
                reader.copy_into(out)
            copied = ex.store.commit_object(
                ex.bucket,
                ex.key,
                temp,
                size=record.size,
                etag=record.etag,
                crc64=record.crc64,
                meta=meta,
                object_type=record.object_type,
                forbid_overwrite=forbid,
            )
        finally:
            ex.store.discard(temp)
    ex.respond_xml(
        "CopyObjectResult",
        [el("ETag", copied.etag), el("LastModified", iso_time(copied.last_modified))],
        {
            "x-oss-hash-crc64ecma": str(copied.crc64),
            "ETag": copied.etag,
            **sse_headers(copied.meta),
            **version_headers(ex, copied),
            **copy_source_headers(src_version, record),
        },
    )


def _copy_range(ex: Exchange, size: int) -> tuple[int, int]:
    """The ``(offset, length)`` that ``x-oss-copy-source-range`` asks of a source of ``size`` bytes."""
    value = ex.headers.get("x-oss-copy-source-range")
    if value is None:
        if size > MAX_SINGLE_COPY:
            raise _too_large(size, "The source object (no x-oss-copy-source-range)")
        return 0, size
    found = _RANGE_RE.match(value.strip())
    if found is None:
        raise invalid_argument(
            "x-oss-copy-source-range must be bytes=<first>-<last> or bytes=<first>-.",
            "x-oss-copy-source-range",
            value,
        )
    first = int(found.group(1))
    last = int(found.group(2)) if found.group(2) else size - 1  # bytes=N-: to the end, as OSS
    if first > last or last >= size:
        raise invalid_argument(
            f"x-oss-copy-source-range {value} is not inside the source object ({size} bytes).",
            "x-oss-copy-source-range",
            value,
        )
    if last - first + 1 > MAX_SINGLE_COPY:
        raise _too_large(last - first + 1, "The part")
    return first, last - first + 1


def _write_range(
    ex: Exchange, reader: ObjectReader, offset: int, length: int, temp: str
) -> tuple[int, bytes | None]:
    """
    Put the source bytes ``offset..offset+length`` in the file ``temp`` (a hard link when they are
    exactly one stored file, else a chunked copy).

    :return: their CRC-64 and, for MD5 ETags, their MD5.
    """
    hasher = hashlib.md5(usedforsecurity=False) if ex.state.config.etag_mode == "md5" else None
    crc = 0
    linked = reader.whole_segment(offset, length)
    if linked is not None:
        try:
            os.link(linked, temp)
        except OSError:
            linked = None
    if linked is not None:
        for chunk in reader.range_chunks(offset, length):
            crc = crc64_mod.update(crc, chunk)
            if hasher is not None:
                hasher.update(chunk)
    else:
        with open(temp, "wb", buffering=0) as out:
            for chunk in reader.range_chunks(offset, length):
                crc = crc64_mod.update(crc, chunk)
                if hasher is not None:
                    hasher.update(chunk)
                write_all(out, chunk)
    return crc, hasher.digest() if hasher is not None else None


def _part_number(ex: Exchange) -> int:
    raw = ex.params.get("partNumber", "")
    if not is_decimal(raw) or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive.", "partNumber", raw
        )
    return int(raw)


def upload_part_copy(ex: Exchange) -> None:
    """UploadPartCopy (``PUT ?partNumber=N&uploadId=ID`` with ``x-oss-copy-source``): a part from a source range."""
    number = _part_number(ex)
    upload_id = ex.params.get("uploadId", "")
    upload = ex.store.upload(ex.bucket, upload_id, ex.key)
    given = [name for name in ex.headers if name.startswith("x-oss-server-side-")]
    if given:  # as OSS: encryption is chosen at InitiateMultipartUpload, never per part
        raise invalid_argument(
            "Server-side encryption headers are not allowed on UploadPartCopy: give them to "
            "InitiateMultipartUpload.",
            given[0],
            ex.headers[given[0]],
        )
    ex.body.drain()
    src_bucket, src_key, src_version = copy_source(ex)
    record, reader = ex.store.open_object(src_bucket, src_key, src_version, for_copy=True)
    with reader:
        if not source_conditions_hold(ex, record):
            return
        offset, length = _copy_range(ex, record.size)
        temp = ex.store.new_temp()
        try:
            crc, md5 = _write_range(ex, reader, offset, length, temp)
            etag = etag_of(ex, md5, crc)
            part = ex.store.commit_part(
                ex.bucket, upload_id, ex.key, number, temp, size=length, etag=etag, crc64=crc
            )
        finally:
            ex.store.discard(temp)
    ex.respond_xml(
        "CopyPartResult",
        [el("LastModified", iso_time(part.last_modified)), el("ETag", etag)],
        {
            "ETag": etag,
            "x-oss-hash-crc64ecma": str(crc),
            **sse_headers(upload.meta),
            **copy_source_headers(src_version, record),
        },
    )
