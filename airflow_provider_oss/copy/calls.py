"""
The OSS requests of a server-side copy, on an :class:`~airflow_provider_oss.core.client.OssClient`'s
transport: HEAD of the source (its identity), CopyObject and UploadPartCopy, each pinned to the
source's ETag with ``x-oss-copy-source-if-match`` so that a source replaced mid-copy fails the
request (``412 PreconditionFailed``) instead of mixing two versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.client_versions import check_version_id, version_query
from airflow_provider_oss.core.errors import OssResponseError
from airflow_provider_oss.core.models import ObjectOptions, normalize_etag, validate_traffic_limit
from airflow_provider_oss.core.read_answers import ReadContext
from airflow_provider_oss.core.signing import uri_encode
from airflow_provider_oss.core.xmlutil import find_text, parse_xml

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient

#: CopyObject copies at most this much to another bucket (OSS answers ``EntityTooLarge`` above it).
MAX_SINGLE_COPY = 5 * 1024**3

#: The standard headers a copy keeps from its source (as CopyObject's ``COPY`` directive does).
_KEPT_HEADERS = ("Content-Type", "Cache-Control", "Content-Disposition", "Content-Encoding")


@dataclass(frozen=True)
class SourceObject:
    """
    What a copy knows of its source: where it is and which version it is.

    :param bucket: the source bucket.
    :param key: the source key.
    :param size: its size in bytes.
    :param etag: its ETag (without quotes); every copy request is pinned to it.
    :param crc64: its CRC-64 (None when OSS reports none: the copy is then unverified).
    :param headers: the standard headers and ``x-oss-meta-*`` metadata a copy keeps.
    :param version_id: the source version named by the copy (a bucket with versioning); None:
        the current version.
    """

    bucket: str
    key: str
    size: int
    etag: str
    crc64: int | None
    headers: dict[str, str] = field(default_factory=dict, compare=False)
    version_id: str | None = None

    @property
    def url(self) -> str:
        """``oss://bucket/key``."""
        return f"oss://{self.bucket}/{self.key}"

    def identity(self) -> dict[str, Any]:
        """The version's identity as a checkpoint keeps it (the CRC-64 as a decimal string)."""
        # No version id: a checkpoint of the same bytes (size, ETag, CRC-64) resumes whichever
        # version named them, as the parts it holds are those bytes.
        return {
            "size": self.size,
            "etag": self.etag,
            "crc64": None if self.crc64 is None else str(self.crc64),
        }

    def options(self) -> ObjectOptions:
        """The source's properties for the multipart copy's InitiateMultipartUpload."""
        metadata = {
            name[len("x-oss-meta-") :]: value
            for name, value in self.headers.items()
            if name.startswith("x-oss-meta-")
        }
        return ObjectOptions(
            content_type=self.headers.get("content-type") or None,
            metadata=metadata,
            cache_control=self.headers.get("cache-control") or None,
            content_disposition=self.headers.get("content-disposition") or None,
            content_encoding=self.headers.get("content-encoding") or None,
        )


def copy_source_header(bucket: str, key: str, version_id: str | None = None) -> str:
    """
    ``x-oss-copy-source``: ``/bucket/`` and the key percent-encoded with ``/`` kept, then
    ``?versionId=`` when a version is named.
    """
    source = f"/{bucket}/{uri_encode(key, safe='/')}"
    if version_id is not None:
        check_version_id(version_id)
        source += f"?versionId={uri_encode(version_id, safe='')}"
    return source


def head_source(client: OssClient, bucket: str, key: str, version_id: str | None = None) -> SourceObject:
    """
    HEAD the source object (its version ``version_id`` when given).

    :raises OssNotFoundError: ``NoSuchKey`` / ``NoSuchBucket`` (a HEAD answer has no body: the code
        may be empty, and the caller names the source).
    """
    response = client.transport.send("HEAD", bucket, key, query=version_query(version_id), op="HeadObject")
    context = ReadContext("HeadObject", bucket, key, client.config.endpoint_url, client.config.require_crc64)
    size = context.whole_size(response)  # the client's own checks of a read's answer
    context.check_is_oss(response)
    crc = context.server_crc(response)
    headers = {name.lower(): value for name, value in response.headers.items()}
    etag = normalize_etag(headers.get("etag", ""))
    if not etag:
        raise context.refuse(response, "without ETag, which OSS always sends")
    kept = {name.lower(): headers[name.lower()] for name in _KEPT_HEADERS if name.lower() in headers}
    kept.update({name: value for name, value in headers.items() if name.startswith("x-oss-meta-")})
    return SourceObject(
        bucket=bucket, key=key, size=size, etag=etag, crc64=crc, headers=kept, version_id=version_id
    )


@dataclass(frozen=True)
class CopiedObject:
    """
    A CopyObject answer.

    :param etag: the copy's ETag.
    :param crc64: the copy's CRC-64 as OSS reports it (None when absent).
    """

    etag: str
    crc64: int | None


def copy_object(
    client: OssClient,
    source: SourceObject,
    bucket: str,
    key: str,
    *,
    options: ObjectOptions | None = None,
) -> CopiedObject:
    """
    CopyObject of exactly ``source``'s version (``x-oss-copy-source-if-match``).

    :param options: the copy's properties (``x-oss-metadata-directive: REPLACE``); None keeps the
        source's (``COPY``).
    :raises OssPreconditionError: the source is no longer that version.
    """
    headers = {
        "x-oss-copy-source": copy_source_header(source.bucket, source.key, source.version_id),
        "x-oss-copy-source-if-match": f'"{source.etag}"',
    }
    if options is not None:
        headers.update(options.to_headers())
        headers.pop("x-oss-traffic-limit", None)
        headers["x-oss-metadata-directive"] = "REPLACE"
    response = client.transport.send("PUT", bucket, key, headers=headers, op="CopyObject")
    etag = normalize_etag(response.headers.get("ETag", ""))
    if not etag:
        etag = normalize_etag(find_text(parse_xml(response.content, "CopyObjectResult"), "ETag"))
    return CopiedObject(etag, crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma")))


@dataclass(frozen=True)
class CopiedPart:
    """
    A part made by UploadPartCopy.

    :param number: the part number.
    :param etag: the part's ETag (without quotes).
    :param size: the bytes copied.
    :param crc64: the part's CRC-64 as OSS reports it (None when the answer has none: ListParts tells).
    """

    number: int
    etag: str
    size: int
    crc64: int | None


def upload_part_copy(
    client: OssClient,
    source: SourceObject,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    offset: int,
    size: int,
    *,
    traffic_limit: int | None = None,
) -> CopiedPart:
    """
    UploadPartCopy of ``source[offset:offset+size]`` as part ``number``, pinned to the source's ETag.

    :raises OssPreconditionError: the source is no longer that version.
    :raises OssResponseError: an answer without the part's ETag.
    """
    validate_traffic_limit(traffic_limit)
    headers = {
        "x-oss-copy-source": copy_source_header(source.bucket, source.key, source.version_id),
        "x-oss-copy-source-range": f"bytes={offset}-{offset + size - 1}",
        "x-oss-copy-source-if-match": f'"{source.etag}"',
    }
    if traffic_limit is not None:
        headers["x-oss-traffic-limit"] = str(traffic_limit)
    response = client.transport.send(
        "PUT",
        bucket,
        key,
        query=[("partNumber", str(number)), ("uploadId", upload_id)],
        headers=headers,
        op="UploadPartCopy",
    )
    etag = normalize_etag(response.headers.get("ETag", ""))
    if not etag and response.content:
        etag = normalize_etag(find_text(parse_xml(response.content, "CopyPartResult"), "ETag"))
    if not etag:
        raise OssResponseError(
            f"UploadPartCopy part {number} of oss://{bucket}/{key}: {client.config.endpoint_url} answered "
            f"HTTP {response.status_code} without the part's ETag, which OSS always sends. Check the "
            "connection's endpoint."
        )
    return CopiedPart(number, etag, size, crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma")))
