"""
Listings of features the server does not have, answered as OSS answers a bucket that never used
them. Versions on a server without versioning: every object has exactly one version, ``null`` (as in an
OSS bucket whose versioning was never enabled). ListObjectVersions lists them; ``versionId=null``
addresses them (any other version id is answered NotImplemented by the router).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_oss.testing.ops_common import int_param, url_encoding_requested
from airflow_provider_oss.testing.xmlresp import el, iso_time, owner, url_encode

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange

NULL_VERSION = "null"


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


def list_object_versions(ex: Exchange) -> None:
    """ListObjectVersions (``GET /?versions``): each object's ``null`` version, the latest."""
    encoded = url_encoding_requested(ex)
    max_keys = int_param(ex, "max-keys", 100, 1, 1000)
    prefix = ex.params.get("prefix", "")
    delimiter = ex.params.get("delimiter", "")
    key_marker = ex.params.get("key-marker", "")
    version_marker = ex.params.get("version-id-marker", "")
    page = ex.store.list_objects(
        ex.bucket, prefix=prefix, delimiter=delimiter, marker=key_marker, max_keys=max_keys
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
            el("NextVersionIdMarker", NULL_VERSION),
        ]
    for record in page.items:
        children.append(
            "<Version>"
            + el("Key", url_encode(record.key, encoded))
            + el("VersionId", NULL_VERSION)
            + el("IsLatest", "true")
            + el("LastModified", iso_time(record.last_modified))
            + el("ETag", record.etag)
            + el("Type", record.object_type)
            + el("Size", record.size)
            + el("StorageClass", record.meta.get("x-oss-storage-class", "Standard"))
            + owner()
            + "</Version>"
        )
    children += [
        "<CommonPrefixes>" + el("Prefix", url_encode(p, encoded)) + "</CommonPrefixes>" for p in page.prefixes
    ]
    ex.respond_xml("ListVersionsResult", children)
