"""
The bucket methods of :class:`~airflow_provider_oss.hooks.oss.OssHook` (create, delete, exists), as
a mixin.
"""

from __future__ import annotations

from airflow_provider_oss.core.bucket_empty import EmptiedBucket, empty_bucket
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.connection_settings import region_from_endpoint
from airflow_provider_oss.hooks.requirements import OssHookRequirements


class OssBucketMethods(OssHookRequirements):
    """Bucket methods; mixed into :class:`~airflow_provider_oss.hooks.oss.OssHook`."""

    def bucket_exists(self, bucket_name: str | None = None) -> bool:
        """
        Return True if the bucket exists, False if OSS answers ``NoSuchBucket``.

        Any other error (access denied, wrong credentials, network) is raised, never hidden as "missing".
        """
        return self.get_client().bucket_exists(self.resolve_bucket(bucket_name))

    def create_bucket(
        self,
        bucket_name: str | None = None,
        *,
        region: str | None = None,
        acl: str | None = None,
        storage_class: str | None = None,
        redundancy_type: str | None = None,
    ) -> None:
        """
        Create a bucket (PutBucket).

        OSS answers 200 when the connection's account already owns the bucket and then changes its
        ACL to ``acl`` (its storage class and redundancy type stay as created); a name another
        account holds fails with ``BucketAlreadyExists``.

        :param bucket_name: the bucket; defaults to the connection's ``bucket`` extra.
        :param region: create it in this region (e.g. ``cn-shanghai``); None: the connection's. A
            connection whose endpoint is an Alibaba Cloud one of another region is sent to
            ``oss-<region>.aliyuncs.com`` instead; a custom endpoint is kept.
        :param acl: ``private``, ``public-read`` or ``public-read-write``; None: private.
        :param storage_class: ``Standard``, ``IA``, ``Archive``, ``ColdArchive`` or
            ``DeepColdArchive``; None: Standard.
        :param redundancy_type: ``LRS`` (locally redundant) or ``ZRS`` (zone-redundant); None: LRS.
        """
        bucket = self.resolve_bucket(bucket_name)
        client = self._client_in(region)
        try:
            client.create_bucket(
                bucket, acl=acl, storage_class=storage_class, redundancy_type=redundancy_type
            )
        finally:
            if client is not self.get_client():
                client.close()

    def delete_bucket(self, bucket_name: str | None = None, *, force: bool = False) -> EmptiedBucket:
        """
        Delete a bucket (DeleteBucket).

        :param bucket_name: the bucket; defaults to the connection's ``bucket`` extra.
        :param force: first abort every in-progress multipart upload and delete every object (in
            a bucket with versioning, every version and delete marker, for good); without it a
            bucket that is not empty fails with ``BucketNotEmpty``.
        :return: what emptying removed (zeros without ``force``).
        :raises OssNotFoundError: ``NoSuchBucket`` when there is no such bucket.
        """
        bucket = self.resolve_bucket(bucket_name)
        client = self.get_client()
        emptied = empty_bucket(client, bucket) if force else EmptiedBucket(0, 0)
        client.delete_bucket(bucket)
        return emptied

    def _client_in(self, region: str | None) -> OssClient:
        """The connection's client, or one that talks to ``region``."""
        client = self.get_client()
        if not region or region == client.config.region:
            return client
        endpoint = self._settings.client.get("endpoint")
        moved: dict[str, str | None] = {"region": region}
        if region_from_endpoint(endpoint) is not None:
            moved["endpoint"] = None
        return OssClient(self.credentials, self.get_client_config(**moved))
