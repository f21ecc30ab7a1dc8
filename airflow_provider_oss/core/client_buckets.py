"""
Bucket calls of the OSS client: PutBucket (create), DeleteBucket, and whether a bucket exists.

OSS semantics worth knowing (from the PutBucket reference): a PutBucket by the account that owns
the bucket answers 200 and changes the bucket's ACL (its storage class and redundancy type are set
at creation only); a PutBucket on a name another account holds answers 409 ``BucketAlreadyExists``.
DeleteBucket refuses a bucket that still holds objects or in-progress multipart uploads with 409
``BucketNotEmpty``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from airflow_provider_oss.core.client_base import ClientBase
from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import OssClientError, OssNotFoundError
from airflow_provider_oss.core.models import STORAGE_CLASSES

#: The canned ACLs a bucket can be created with (``x-oss-acl``).
BUCKET_ACLS = ("private", "public-read", "public-read-write")
#: The data redundancy types of a bucket: locally or zone-redundant storage.
REDUNDANCY_TYPES = ("LRS", "ZRS")


def check_bucket_settings(acl: str | None, storage_class: str | None, redundancy_type: str | None) -> None:
    """
    Check the settings of a new bucket; None leaves a setting to OSS (private, Standard, LRS).

    :raises OssClientError: naming the bad value and the values OSS accepts.
    """
    for name, value, allowed in (
        ("acl", acl, BUCKET_ACLS),
        ("storage_class", storage_class, STORAGE_CLASSES),
        ("redundancy_type", redundancy_type, REDUNDANCY_TYPES),
    ):
        if value is not None and value not in allowed:
            raise OssClientError(f"{name}={value!r} is not one OSS accepts: use one of {', '.join(allowed)}.")


def create_bucket_body(storage_class: str | None, redundancy_type: str | None) -> bytes:
    """The ``CreateBucketConfiguration`` body of a PutBucket; empty when both settings are None."""
    if storage_class is None and redundancy_type is None:
        return b""
    inner = ""
    if storage_class is not None:
        inner += f"<StorageClass>{escape(storage_class)}</StorageClass>"
    if redundancy_type is not None:
        inner += f"<DataRedundancyType>{escape(redundancy_type)}</DataRedundancyType>"
    xml = f'<?xml version="1.0" encoding="UTF-8"?><CreateBucketConfiguration>{inner}</CreateBucketConfiguration>'
    return xml.encode()


class BucketCalls(ClientBase):
    """PutBucket, DeleteBucket and the existence check of a bucket."""

    def create_bucket(
        self,
        bucket: str,
        *,
        acl: str | None = None,
        storage_class: str | None = None,
        redundancy_type: str | None = None,
    ) -> None:
        """
        Create a bucket in the client's region (PutBucket).

        :param acl: ``private``, ``public-read`` or ``public-read-write``; None: OSS's default, private.
        :param storage_class: ``Standard``, ``IA``, ``Archive``, ``ColdArchive`` or
            ``DeepColdArchive``; None: Standard.
        :param redundancy_type: ``LRS`` or ``ZRS``; None: LRS.
        :raises OssClientError: for an invalid name or setting (nothing is sent).
        :raises OssServiceError: ``BucketAlreadyExists`` (409) when another account holds the name.
        """
        validate_bucket_name(bucket)
        check_bucket_settings(acl, storage_class, redundancy_type)
        headers = {"x-oss-acl": acl} if acl is not None else {}
        body = create_bucket_body(storage_class, redundancy_type)
        if body:
            headers["Content-Type"] = "application/xml"
        self._transport.send("PUT", bucket, None, headers=headers, body=body, op="PutBucket")

    def delete_bucket(self, bucket: str) -> None:
        """
        Delete an empty bucket (DeleteBucket).

        :raises OssServiceError: ``BucketNotEmpty`` (409) while it holds objects or in-progress
            multipart uploads.
        :raises OssNotFoundError: ``NoSuchBucket`` when there is no such bucket.
        """
        validate_bucket_name(bucket)
        self._transport.send("DELETE", bucket, None, op="DeleteBucket")

    def bucket_exists(self, bucket: str) -> bool:
        """
        Whether a bucket exists (GetBucketInfo): False only when OSS answers ``NoSuchBucket``. Any
        other error (access denied, wrong credentials, network) is raised, never taken for "absent".
        """
        validate_bucket_name(bucket)
        try:
            self._transport.send("GET", bucket, None, query=[("bucketInfo", "")], op="GetBucketInfo")
        except OssNotFoundError as err:
            if err.code == "NoSuchBucket":
                return False
            raise
        return True
