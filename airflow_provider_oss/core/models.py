"""Request options and result records of :class:`~airflow_provider_oss.core.client.OssClient`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from airflow_provider_oss.core.crc64 import parse_crc
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.numbers import ascii_int
from airflow_provider_oss.core.xmlutil import parse_http_time

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

# OSS's limits and vocabularies: the one definition every layer (client, engine, operators) uses.
#: The storage classes OSS accepts in ``x-oss-storage-class``.
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
#: The object ACLs OSS accepts in ``x-oss-object-acl``.
OBJECT_ACLS = ("default", "private", "public-read", "public-read-write")
#: The server-side encryption algorithms OSS accepts in ``x-oss-server-side-encryption``.
SSE_ALGORITHMS = ("AES256", "KMS", "SM4")
#: OSS's bounds of ``x-oss-traffic-limit`` in bit/s (100 KB/s to 100 MB/s).
MIN_TRAFFIC_LIMIT = 819200
MAX_TRAFFIC_LIMIT = 838860800
#: OSS's smallest part (every part but the last must be at least this big).
MIN_PART_SIZE = 100 * KiB
#: OSS's largest part.
MAX_PART_SIZE = 5 * GiB
#: OSS's largest part number.
MAX_PARTS = 10_000
#: The largest single PutObject OSS accepts.
MAX_PUT_OBJECT_SIZE = 5 * GiB

_META_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def normalize_etag(etag: str) -> str:
    """An ETag without the surrounding quotes OSS puts on it."""
    return etag.strip().strip('"')


def validate_traffic_limit(value: int | None) -> None:
    """
    Check a bandwidth limit in bit/s.

    :raises OssClientError: outside 819200..838860800.
    """
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_TRAFFIC_LIMIT <= value <= MAX_TRAFFIC_LIMIT
    ):
        raise OssClientError(
            f"traffic_limit must be an integer number of bit/s from {MIN_TRAFFIC_LIMIT} (100 KB/s) to "
            f"{MAX_TRAFFIC_LIMIT} (100 MB/s); got {value!r}."
        )


def _check_header_value(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise OssClientError(f"{name} must be a string; got {type(value).__name__}.")
    if any(ord(c) < 0x20 and c != "\t" for c in value) or "\x7f" in value:
        raise OssClientError(f"{name} must not contain control characters (such as newlines).")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise OssClientError(
            f"{name}={value!r} has characters an HTTP header cannot carry: use ASCII (percent-encode "
            "other text yourself)."
        ) from None


@dataclass(frozen=True)
class ObjectOptions:
    """
    Properties of an object being written (PutObject, InitiateMultipartUpload, CopyObject).

    :param content_type: the ``Content-Type`` (OSS guesses it from the key when None).
    :param metadata: user metadata, sent as ``x-oss-meta-<name>`` headers.
    :param storage_class: ``Standard``, ``IA``, ``Archive``, ``ColdArchive`` or ``DeepColdArchive``.
    :param acl: the object ACL (``x-oss-object-acl``): ``default``, ``private``, ``public-read``,
        ``public-read-write``.
    :param server_side_encryption: ``AES256``, ``KMS`` or ``SM4``.
    :param sse_kms_key_id: the KMS key id (only with ``KMS``).
    :param cache_control: the ``Cache-Control`` header to store.
    :param content_disposition: the ``Content-Disposition`` header to store.
    :param content_encoding: the ``Content-Encoding`` header to store.
    :param traffic_limit: a bandwidth limit for the upload in bit/s (819200..838860800).
    """

    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    storage_class: str | None = None
    acl: str | None = None
    server_side_encryption: str | None = None
    sse_kms_key_id: str | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    traffic_limit: int | None = None

    def __post_init__(self) -> None:
        if self.storage_class is not None and self.storage_class not in STORAGE_CLASSES:
            raise OssClientError(
                f"Invalid storage_class {self.storage_class!r}: storage_class must be one of "
                f"{', '.join(STORAGE_CLASSES)}."
            )
        if self.acl is not None and self.acl not in OBJECT_ACLS:
            raise OssClientError(f"Invalid acl {self.acl!r}: acl must be one of {', '.join(OBJECT_ACLS)}.")
        if self.server_side_encryption is not None and self.server_side_encryption not in SSE_ALGORITHMS:
            raise OssClientError(
                f"Invalid server_side_encryption {self.server_side_encryption!r}: server_side_encryption must be one of "
                f"{', '.join(SSE_ALGORITHMS)}."
            )
        if self.sse_kms_key_id and self.server_side_encryption != "KMS":
            raise OssClientError("sse_kms_key_id needs server_side_encryption='KMS'.")
        validate_traffic_limit(self.traffic_limit)
        for name, value in self.metadata.items():
            if not isinstance(name, str) or not _META_NAME_RE.match(name):
                raise OssClientError(
                    f"Invalid metadata name {name!r}: use ASCII letters, digits, '-' and '_' "
                    "(it is sent as the header x-oss-meta-<name>)."
                )
            _check_header_value(f"metadata[{name!r}]", value)
        for attr in ("content_type", "cache_control", "content_disposition", "content_encoding"):
            value = getattr(self, attr)
            if value is not None:
                _check_header_value(attr, value)
        object.__setattr__(self, "metadata", dict(self.metadata))

    def to_headers(self) -> dict[str, str]:
        """The request headers these options stand for."""
        optional: dict[str, str | None] = {
            "Content-Type": self.content_type,
            "Cache-Control": self.cache_control,
            "Content-Disposition": self.content_disposition,
            "Content-Encoding": self.content_encoding,
            "x-oss-storage-class": self.storage_class,
            "x-oss-object-acl": self.acl,
            "x-oss-server-side-encryption": self.server_side_encryption,
            "x-oss-server-side-encryption-key-id": self.sse_kms_key_id,
            "x-oss-traffic-limit": None if self.traffic_limit is None else str(self.traffic_limit),
        }
        headers = {name: value for name, value in optional.items() if value}
        for name, value in self.metadata.items():
            headers[f"x-oss-meta-{name.lower()}"] = value.strip()
        return headers


@dataclass(frozen=True)
class PutObjectResult:
    """
    The result of PutObject.

    :param etag: the object's ETag (without quotes).
    :param crc64: the object's CRC-64 (checked against the local one).
    :param request_id: the OSS request id.
    :param callback_response: with an upload callback, the callback server's answer body that OSS
        relayed (None without a callback).
    """

    etag: str
    crc64: int | None
    request_id: str
    callback_response: bytes | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """
    An object's metadata (HeadObject, or the headers of a download).

    :param key: the object key.
    :param size: the size in bytes.
    :param etag: the ETag (without quotes).
    :param crc64: the CRC-64 OSS reports, None when absent.
    :param last_modified: the modification time (UTC).
    :param content_type: the ``Content-Type``.
    :param storage_class: the storage class (``Standard`` when not reported).
    :param metadata: user metadata (``x-oss-meta-*`` without the prefix, lower-case names).
    """

    key: str
    size: int
    etag: str
    crc64: int | None
    last_modified: datetime | None
    content_type: str
    storage_class: str
    metadata: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_headers(cls, key: str, headers: Mapping[str, str], size: int | None = None) -> ObjectInfo:
        """
        Build from response headers (a case-insensitive mapping).

        :param size: the object size when ``Content-Length`` is not it (a range response).
        """
        if size is None:
            size = ascii_int(headers.get("Content-Length", "0").strip()) or 0
        metadata = {
            name.lower()[len("x-oss-meta-") :]: value
            for name, value in headers.items()
            if name.lower().startswith("x-oss-meta-")
        }
        return cls(
            key=key,
            size=size,
            etag=normalize_etag(headers.get("ETag", "")),
            crc64=parse_crc(headers.get("x-oss-hash-crc64ecma")),
            last_modified=parse_http_time(headers.get("Last-Modified")),
            content_type=headers.get("Content-Type", ""),
            storage_class=headers.get("x-oss-storage-class", "Standard"),
            metadata=metadata,
        )


@dataclass(frozen=True)
class ObjectSummary:
    """
    One object of a listing.

    :param key: the object key (decoded).
    :param size: the size in bytes.
    :param etag: the ETag (without quotes).
    :param last_modified: the modification time (UTC).
    :param storage_class: the storage class.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime | None
    storage_class: str


@dataclass(frozen=True)
class UploadedPart:
    """
    A part just uploaded.

    :param part_number: its number, 1..10000.
    :param etag: its ETag (without quotes).
    :param size: its size in bytes.
    :param crc64: its CRC-64 (the local value, which OSS's matched).
    """

    part_number: int
    etag: str
    size: int
    crc64: int


@dataclass(frozen=True)
class PartInfo:
    """
    A part listed by ListParts.

    :param part_number: its number.
    :param etag: its ETag (without quotes).
    :param size: its size in bytes.
    :param crc64: its CRC-64, None when OSS did not report it.
    :param last_modified: when it was uploaded.
    """

    part_number: int
    etag: str
    size: int
    crc64: int | None
    last_modified: datetime | None


@dataclass(frozen=True)
class MultipartUploadInfo:
    """
    An in-progress multipart upload.

    :param key: the object key.
    :param upload_id: the upload id.
    :param initiated: when it was initiated.
    """

    key: str
    upload_id: str
    initiated: datetime | None


@dataclass(frozen=True)
class CompletedUpload:
    """
    The result of CompleteMultipartUpload.

    :param bucket: the bucket.
    :param key: the object key.
    :param etag: the object's ETag (without quotes).
    :param crc64: the object's CRC-64 as OSS reports it (None when absent).
    :param request_id: the OSS request id.
    :param callback_response: with an upload callback, the callback server's answer body that OSS
        relayed (None without a callback, or when an earlier attempt completed the upload and its
        answer was lost).
    """

    bucket: str
    key: str
    etag: str
    crc64: int | None
    request_id: str
    callback_response: bytes | None = None


@dataclass(frozen=True)
class CopyResult:
    """
    The result of CopyObject.

    :param etag: the new object's ETag (without quotes).
    :param last_modified: its modification time.
    """

    etag: str
    last_modified: datetime | None
