"""
Emptying a bucket so that DeleteBucket can remove it: every in-progress multipart upload aborted,
every object deleted (a forced bucket delete).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_oss.core.bulk_delete import MAX_DELETE_BATCH, delete_in_batches
from airflow_provider_oss.core.errors import OssClientError, OssNotFoundError

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient

#: GetBucketInfo's ``Versioning`` values of a bucket that may keep earlier versions of objects.
VERSIONED_STATES = ("Enabled", "Suspended")


@dataclass(frozen=True)
class EmptiedBucket:
    """
    What emptying a bucket removed.

    :param objects_deleted: objects deleted.
    :param uploads_aborted: in-progress multipart uploads aborted (their parts are gone with them).
    """

    objects_deleted: int
    uploads_aborted: int


def refuse_versioned(client: OssClient, bucket: str) -> None:
    """
    Refuse a bucket with versioning enabled or suspended: deleting its objects would leave their
    earlier versions and delete markers, so DeleteBucket would still fail, after every current
    object was gone.

    :raises OssClientError: naming the bucket and what to do instead.
    """
    state = client.get_bucket_info(bucket).get("Versioning")
    if state in VERSIONED_STATES:
        raise OssClientError(
            f"Bucket {bucket!r} has versioning {state}: emptying it needs every object version and "
            "delete marker removed, which force does not do; remove them (a lifecycle rule, or the "
            "console) and delete the bucket then. Nothing was deleted."
        )


def empty_bucket(client: OssClient, bucket: str, *, batch_size: int = MAX_DELETE_BATCH) -> EmptiedBucket:
    """
    Abort every in-progress multipart upload of ``bucket``, then delete every object, listing and
    deleting page by page (a bucket of millions of objects is never listed whole first).

    :raises OssClientError: for a bucket with versioning (before anything is deleted).
    :raises OssDeleteError: naming the keys OSS did not delete.
    """
    refuse_versioned(client, bucket)
    uploads = 0
    for upload in client.list_multipart_uploads(bucket):
        try:
            client.abort_multipart_upload(bucket, upload.key, upload.upload_id)
        except OssNotFoundError as err:
            if err.code != "NoSuchUpload":
                raise
            continue  # completed or aborted by someone else since the listing: gone either way
        uploads += 1
    deleted = delete_in_batches(
        bucket,
        (summary.key for summary in client.list_objects_v2(bucket)),
        lambda batch: client.delete_multiple_objects(bucket, batch),
        batch_size=batch_size,
    )
    return EmptiedBucket(objects_deleted=len(deleted), uploads_aborted=uploads)
