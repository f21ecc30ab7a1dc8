"""
The operations of the local server: anonymous-access rules and the table from operation name to
implementation (:mod:`.ops_objects`, :mod:`.ops_multipart`, :mod:`.ops_buckets`).

Each operation reads the request from an :class:`~airflow_provider_oss.testing.httpd.Exchange` and
answers through it, raising :class:`OssApiError` for OSS errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.ops_append import append_object
from airflow_provider_oss.testing.ops_buckets import (
    delete_bucket,
    get_bucket_info,
    get_bucket_location,
    head_bucket,
    list_buckets,
    put_bucket,
)
from airflow_provider_oss.testing.ops_copy import copy_object, upload_part_copy
from airflow_provider_oss.testing.ops_multipart import (
    abort_multipart_upload,
    complete_multipart_upload,
    initiate_multipart_upload,
    list_multipart_uploads,
    list_parts,
    upload_part,
)
from airflow_provider_oss.testing.ops_objects import (
    delete_multiple_objects,
    delete_object,
    get_object,
    get_object_meta,
    list_objects,
    list_objects_v2,
    put_object,
)
from airflow_provider_oss.testing.ops_versions import (
    get_bucket_versioning,
    list_live_channels,
    list_object_versions,
    put_bucket_versioning,
)
from airflow_provider_oss.testing.routing import unsupported_reason

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange

# -- access control ------------------------------------------------------------------------------


_ANONYMOUS_READS = ("GetObject", "HeadObject", "GetObjectMeta")
_ANONYMOUS_LISTS = ("ListObjects", "ListObjectsV2")


def authorize(ex: Exchange) -> None:
    """
    Let an anonymous request through only to read a public object or list a public-read bucket.

    :raises OssApiError: ``AccessDenied``.
    """
    if not ex.auth.anonymous:
        return
    allowed = False
    if ex.target.bucket and ex.op in _ANONYMOUS_READS + _ANONYMOUS_LISTS:
        bucket = ex.store.bucket(ex.bucket)
        allowed = bucket.public_read
        if ex.op in _ANONYMOUS_READS and ex.store.bucket_exists(ex.bucket):
            try:
                acl = ex.store.get_object(ex.bucket, ex.key).meta.get("x-oss-object-acl", "default")
            except OssApiError:
                acl = "default"
            if acl in ("public-read", "public-read-write"):
                allowed = True
            elif acl == "private":
                allowed = False
    if not allowed:
        raise OssApiError(
            403,
            "AccessDenied",
            "You have no right to access this object because of bucket acl: sign the request.",
        )


def unsupported(ex: Exchange) -> None:
    """Anything else."""
    why = unsupported_reason(ex.method, ex.target, ex.query, ex.headers)
    raise OssApiError(
        501,
        "NotImplemented",
        f"The local OSS server does not implement {why}; nothing was changed.",
    )


_OPERATIONS: dict[str, Callable[[Exchange], None]] = {
    "PutObject": put_object,
    "AppendObject": append_object,
    "GetObject": get_object,
    "HeadObject": get_object,
    "GetObjectMeta": get_object_meta,
    "DeleteObject": delete_object,
    "DeleteMultipleObjects": delete_multiple_objects,
    "CopyObject": copy_object,
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects_v2,
    "ListObjectVersions": list_object_versions,
    "PutBucketVersioning": put_bucket_versioning,
    "GetBucketVersioning": get_bucket_versioning,
    "ListLiveChannels": list_live_channels,
    "InitiateMultipartUpload": initiate_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
    "GetBucketInfo": get_bucket_info,
    "GetBucketLocation": get_bucket_location,
    "HeadBucket": head_bucket,
    "PutBucket": put_bucket,
    "DeleteBucket": delete_bucket,
    "ListBuckets": list_buckets,
    "Unsupported": unsupported,
}


def run(ex: Exchange) -> None:
    """Run the operation the request was routed to."""
    operation = _OPERATIONS.get(ex.op, unsupported)
    if ex.op not in ("ListBuckets", "PutBucket", "Unsupported") and ex.target.bucket:
        ex.store.bucket(ex.bucket)
    operation(ex)
