"""
Emptying a bucket so that DeleteBucket can remove it: every in-progress multipart upload aborted,
every object deleted (a forced bucket delete); in a bucket with versioning, every version and
delete marker of every object, for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from airflow_provider_oss.core.bulk_delete import MAX_DELETE_BATCH, check_batch_size, delete_in_batches
from airflow_provider_oss.core.errors import OssNotFoundError

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient

#: GetBucketInfo's ``Versioning`` values of a bucket that may keep earlier versions of objects.
VERSIONED_STATES = ("Enabled", "Suspended")


@dataclass(frozen=True)
class EmptiedBucket:
    """
    What emptying a bucket removed.

    :param objects_deleted: objects deleted (in a bucket without versioning).
    :param uploads_aborted: in-progress multipart uploads aborted (their parts are gone with them).
    :param versions_deleted: object versions and delete markers deleted for good (in a bucket with
        versioning).
    """

    objects_deleted: int
    uploads_aborted: int
    versions_deleted: int = 0


def is_versioned(client: OssClient, bucket: str) -> bool:
    """Whether the bucket has versioning enabled or suspended (it may keep earlier versions)."""
    return client.get_bucket_info(bucket).get("Versioning") in VERSIONED_STATES


def delete_every_version(client: OssClient, bucket: str, *, batch_size: int = MAX_DELETE_BATCH) -> int:
    """
    Delete every version and delete marker of every object of ``bucket`` for good: the first page
    of ListObjectVersions is deleted until there is none (so versions written meanwhile go too).

    :return: how many versions and delete markers were deleted.
    :raises OssDeleteError: naming the versions OSS did not delete.
    """
    check_batch_size(batch_size)
    deleted = 0
    while True:
        page = list(islice(client.list_object_versions(bucket, page_size=batch_size), batch_size))
        if not page:
            return deleted
        deleted += client.delete_object_versions(bucket, [(v.key, v.version_id) for v in page])


def empty_bucket(client: OssClient, bucket: str, *, batch_size: int = MAX_DELETE_BATCH) -> EmptiedBucket:
    """
    Abort every in-progress multipart upload of ``bucket``, then delete every object, listing and
    deleting page by page (a bucket of millions of objects is never listed whole first); in a
    bucket with versioning, every version and delete marker (:func:`delete_every_version`).

    :raises OssDeleteError: naming the keys (or versions) OSS did not delete.
    """
    versioned = is_versioned(client, bucket)
    uploads = 0
    for upload in client.list_multipart_uploads(bucket):
        try:
            client.abort_multipart_upload(bucket, upload.key, upload.upload_id)
        except OssNotFoundError as err:
            if err.code != "NoSuchUpload":
                raise
            continue  # completed or aborted by someone else since the listing: gone either way
        uploads += 1
    if versioned:
        return EmptiedBucket(0, uploads, delete_every_version(client, bucket, batch_size=batch_size))
    deleted = delete_in_batches(
        bucket,
        (summary.key for summary in client.list_objects_v2(bucket)),
        lambda batch: client.delete_multiple_objects(bucket, batch),
        batch_size=batch_size,
    )
    return EmptiedBucket(objects_deleted=len(deleted), uploads_aborted=uploads)
