"""
Object versions (a bucket with versioning): the ``versionId`` argument of the object calls,
ListObjectVersions (paginated) and DeleteMultipleObjects of named versions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from airflow_provider_oss.core.bulk_delete import DeleteFailure, OssDeleteError, delete_request
from airflow_provider_oss.core.client_base import MAX_PAGE_SIZE, ClientBase, check_object, check_page_size
from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.models import normalize_etag
from airflow_provider_oss.core.xmlutil import (
    decode_if,
    find_bool,
    find_int,
    find_text,
    is_url_encoded,
    parse_iso_time,
    parse_xml,
)


def check_version_id(version_id: str) -> None:
    """
    Refuse a version id that cannot be one (before any request).

    :raises OssClientError: for a non-string, empty or control-character version id.
    """
    if not isinstance(version_id, str) or not version_id or not version_id.isprintable():
        raise OssClientError(
            f"version_id must be a non-empty version id string (as ListObjectVersions or an upload's "
            f"x-oss-version-id gives it); got {version_id!r}."
        )


def version_query(version_id: str | None) -> list[tuple[str, str]]:
    """The ``versionId`` query of an object request (none for the current version)."""
    if version_id is None:
        return []
    check_version_id(version_id)
    return [("versionId", version_id)]


@dataclass(frozen=True)
class ObjectVersion:
    """
    One entry of ListObjectVersions: a version of an object, or a delete marker.

    :param key: the object key.
    :param version_id: its version id (``null`` for a version written without versioning).
    :param is_latest: whether it is the object's current version.
    :param delete_marker: whether it is a delete marker (no bytes; ``size`` 0, ``etag`` empty).
    :param size: its size in bytes.
    :param etag: its ETag (without quotes).
    :param last_modified: when it was written.
    """

    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int = 0
    etag: str = ""
    last_modified: datetime | None = None


#: The versioning states PutBucketVersioning accepts.
VERSIONING_STATES = ("Enabled", "Suspended")


class VersionCalls(ClientBase):
    """Bucket versioning, ListObjectVersions and the deletion of named versions."""

    def put_bucket_versioning(self, bucket: str, status: str) -> None:
        """
        Enable or suspend versioning of a bucket (PutBucketVersioning). Once enabled, a bucket's
        versioning can be suspended but never removed (OSS).

        :param status: ``Enabled`` or ``Suspended``.
        """
        validate_bucket_name(bucket)
        if status not in VERSIONING_STATES:
            raise OssClientError(f"status must be one of {VERSIONING_STATES}; got {status!r}.")
        body = f"<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>".encode()
        self._transport.send(
            "PUT", bucket, None, query=[("versioning", "")], body=body, op="PutBucketVersioning"
        )

    def get_bucket_versioning(self, bucket: str) -> str:
        """A bucket's versioning: ``Enabled``, ``Suspended``, or ``""`` when it was never enabled."""
        validate_bucket_name(bucket)
        response = self._transport.send(
            "GET", bucket, None, query=[("versioning", "")], op="GetBucketVersioning"
        )
        return find_text(parse_xml(response.content, "VersioningConfiguration"), "Status")

    def list_object_versions(
        self, bucket: str, *, prefix: str = "", page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[ObjectVersion]:
        """
        Iterate over every version and delete marker of the objects of a bucket: by key, newest
        version first, fetching pages as needed.

        :param prefix: only keys starting with this.
        :param page_size: entries per request, 1..1000.
        """
        validate_bucket_name(bucket)
        check_page_size(page_size)
        key_marker, version_marker = "", ""
        while True:
            query = [("versions", ""), ("encoding-type", "url"), ("max-keys", str(page_size))]
            if prefix:
                query.append(("prefix", prefix))
            if key_marker:
                query += [("key-marker", key_marker), ("version-id-marker", version_marker)]
            response = self._transport.send("GET", bucket, None, query=query, op="ListObjectVersions")
            root = parse_xml(response.content, "ListVersionsResult")
            encoded = is_url_encoded(root)
            for item in root:
                if item.tag not in ("Version", "DeleteMarker"):
                    continue
                modified = find_text(item, "LastModified")
                yield ObjectVersion(
                    key=decode_if(find_text(item, "Key"), encoded),
                    version_id=find_text(item, "VersionId"),
                    is_latest=find_bool(item, "IsLatest"),
                    delete_marker=item.tag == "DeleteMarker",
                    size=find_int(item, "Size"),
                    etag=normalize_etag(find_text(item, "ETag")),
                    last_modified=parse_iso_time(modified) if modified else None,
                )
            key_marker = decode_if(find_text(root, "NextKeyMarker"), encoded)
            version_marker = find_text(root, "NextVersionIdMarker")
            if not find_bool(root, "IsTruncated") or not key_marker:
                return

    def delete_object_versions(self, bucket: str, versions: Sequence[tuple[str, str]]) -> int:
        """
        Delete up to 1,000 ``(key, version_id)`` pairs for good in one DeleteMultipleObjects
        request (a delete marker is deleted the same way).

        :return: how many were deleted.
        :raises OssDeleteError: naming every pair OSS did not confirm (the others are deleted).
        """
        for key, version_id in versions:
            check_object(bucket, key)
            check_version_id(version_id)
        body, headers = delete_request([key for key, _ in versions], [v for _, v in versions])
        query = [("delete", ""), ("encoding-type", "url")]
        response = self._transport.send(
            "POST", bucket, None, query=query, headers=headers, body=body, op="DeleteMultipleObjects"
        )
        root = parse_xml(response.content, "DeleteResult")
        encoded = is_url_encoded(root)
        confirmed = {
            (decode_if(find_text(item, "Key"), encoded), find_text(item, "VersionId"))
            for item in root.findall("Deleted")
        }
        failed = [
            DeleteFailure(key, "NotConfirmed", f"OSS did not confirm version {version_id!r} as deleted.")
            for key, version_id in versions
            if (key, version_id) not in confirmed
        ]
        if failed:
            shown = ", ".join(f"{f.key!r} ({f.message})" for f in failed[:10])
            raise OssDeleteError(
                f"OSS did not delete {len(failed)} of {len(versions)} version(s) in bucket {bucket!r}: {shown}.",
                bucket=bucket,
                failed=failed,
                deleted=[key for key, version_id in versions if (key, version_id) in confirmed],
            )
        return len(versions)
