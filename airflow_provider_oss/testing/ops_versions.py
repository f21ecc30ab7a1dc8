"""
Versioning in the local server, with OSS's semantics: PutBucketVersioning / GetBucketVersioning,
ListObjectVersions, the ``versionId`` a request names and the ``x-oss-version-id`` an answer
carries. The versions themselves are kept by the store
(:mod:`~airflow_provider_oss.testing.store_objects`). Also ListLiveChannel, always empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.ops_common import (
    MAX_XML_BODY,
    int_param,
    malformed,
    parse_xml_body,
    url_encoding_requested,
)
from airflow_provider_oss.testing.records import NULL_VERSION
from airflow_provider_oss.testing.store_objects import check_version_id
from airflow_provider_oss.testing.xmlresp import el, iso_time, owner, url_encode

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange
    from airflow_provider_oss.testing.store import ObjectRecord

VERSIONING_STATES = ("Enabled", "Suspended")
#: The longest ``prefix``, ``key-marker`` and ``delimiter`` ListObjectVersions accepts (OSS: 1 KiB).
MAX_LISTING_TEXT = 1024


def _listing_text(ex: Exchange, name: str) -> str:
    """A text parameter of ListObjectVersions (``InvalidArgument`` above 1,024 characters, as OSS)."""
    value = ex.params.get(name, "")
    if len(value) > MAX_LISTING_TEXT:
        raise invalid_argument(f"{name} must be at most {MAX_LISTING_TEXT} characters.", name, value[:64])
    return value


def requested_version(ex: Exchange) -> str | None:
    """
    The ``versionId`` query parameter of the request (None without one).

    :raises OssApiError: ``InvalidArgument`` for a value that is no version id.
    """
    version_id = ex.params.get("versionId")
    if version_id is not None:
        check_version_id(version_id)
    return version_id


def version_headers(ex: Exchange, record: ObjectRecord, bucket: str | None = None) -> dict[str, str]:
    """``x-oss-version-id`` of ``record`` when its bucket (the request's by default) has versioning."""
    versioned = ex.store.bucket(bucket or ex.bucket).versioning
    if not versioned and record.version_id == NULL_VERSION:
        return {}
    return {"x-oss-version-id": record.version_id}


def put_bucket_versioning(ex: Exchange) -> None:
    """
    PutBucketVersioning (``PUT /?versioning``): ``Enabled`` or ``Suspended``; a bucket whose
    versioning was enabled once can only be suspended, never returned to unversioned (as OSS).
    """
    ex.store.bucket(ex.bucket)
    root = parse_xml_body(ex.body.read_all(MAX_XML_BODY), "VersioningConfiguration")
    status = (root.findtext("Status") or "").strip()
    if status not in VERSIONING_STATES:
        raise malformed("Status must be Enabled or Suspended.")
    ex.store.set_versioning(ex.bucket, status)
    ex.respond(200)


def get_bucket_versioning(ex: Exchange) -> None:
    """GetBucketVersioning (``GET /?versioning``): no Status for a bucket that never had versioning."""
    status = ex.store.bucket(ex.bucket).versioning
    ex.respond_xml("VersioningConfiguration", [el("Status", status)] if status else [])


def list_live_channels(ex: Exchange) -> None:
    """
    ListLiveChannel (``GET /?live``): always empty, as live channels cannot be created here
    (PutLiveChannel answers NotImplemented); SDK clean-up code lists them before deleting a bucket.
    """
    max_keys = int_param(ex, "max-keys", 100, 1, 1000)
    children = [
        el("Prefix", ex.params.get("prefix", "")),
        el("Marker", ex.params.get("marker", "")),
        el("MaxKeys", max_keys),
        el("IsTruncated", "false"),
        el("NextMarker", ""),
    ]
    ex.respond_xml("ListLiveChannelResult", children)


def _version_entry(ex: Exchange, record: ObjectRecord, encoded: bool) -> str:
    latest = str(ex.store.is_latest(ex.bucket, record)).lower()
    common = (
        el("Key", url_encode(record.key, encoded))
        + el("VersionId", record.version_id)
        + el("IsLatest", latest)
        + el("LastModified", iso_time(record.last_modified))
    )
    if record.delete_marker:
        return "<DeleteMarker>" + common + owner() + "</DeleteMarker>"
    return (
        "<Version>"
        + common
        + el("ETag", record.etag)
        + el("Type", record.object_type)
        + el("Size", record.size)
        + el("StorageClass", record.meta.get("x-oss-storage-class", "Standard"))
        + owner()
        + "</Version>"
    )


def list_object_versions(ex: Exchange) -> None:
    """
    ListObjectVersions (``GET /?versions``): every version and delete marker, by key, newest
    first, with ``key-marker`` / ``version-id-marker`` pagination.
    """
    encoded = url_encoding_requested(ex)
    max_keys = int_param(ex, "max-keys", 100, 1, 1000)
    prefix, delimiter, key_marker = (_listing_text(ex, n) for n in ("prefix", "delimiter", "key-marker"))
    version_marker = ex.params.get("version-id-marker", "")
    if version_marker:
        try:
            check_version_id(version_marker)
        except OssApiError:
            raise invalid_argument(
                "version-id-marker is not a version id.", "version-id-marker", version_marker[:64]
            ) from None
    page, next_version = ex.store.list_versions(
        ex.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_marker=version_marker,
        max_keys=max_keys,
    )
    children = [el("EncodingType", "url")] if encoded else []
    children += [
        el("Name", ex.bucket),
        el("Prefix", url_encode(prefix, encoded)),
        el("KeyMarker", url_encode(key_marker, encoded)),
        el("VersionIdMarker", version_marker),
        el("MaxKeys", max_keys),
        el("Delimiter", url_encode(delimiter, encoded)),
        el("IsTruncated", str(page.truncated).lower()),
    ]
    if page.truncated:
        children += [
            el("NextKeyMarker", url_encode(page.next_marker, encoded)),
            el("NextVersionIdMarker", next_version),
        ]
    children += [_version_entry(ex, record, encoded) for record in page.items]
    children += [
        "<CommonPrefixes>" + el("Prefix", url_encode(p, encoded)) + "</CommonPrefixes>" for p in page.prefixes
    ]
    ex.respond_xml("ListVersionsResult", children)
