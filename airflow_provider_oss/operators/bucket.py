"""``OssCreateBucketOperator`` and ``OssDeleteBucketOperator``: a bucket's creation and deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.client_buckets import check_bucket_settings
from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import OssAuthError
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators._args import checked, is_template, task_label
from airflow_provider_oss.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


def _check_name(label: str, bucket_name: str | None) -> None:
    """A bucket name that is known (not None, not a template) must be a valid OSS bucket name."""
    if bucket_name is not None and not is_template(bucket_name):
        checked(label, lambda: validate_bucket_name(bucket_name))


class OssCreateBucketOperator(BaseOperator):
    """
    Create a bucket, unless it exists already (as Amazon's ``S3CreateBucketOperator``): an existing
    bucket is left exactly as it is (a PutBucket on it would change its ACL) and the task succeeds.
    A name another account holds fails the task with OSS's ``BucketAlreadyExists``.

    Returns (to XCom) ``{"bucket", "created"}``: ``created`` is False when the bucket existed.

    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param region: create it in this region, e.g. ``cn-shanghai`` (templated); None: the connection's.
    :param acl: ``private``, ``public-read`` or ``public-read-write`` (templated); None: private.
    :param storage_class: ``Standard``, ``IA``, ``Archive``, ``ColdArchive`` or
        ``DeepColdArchive`` (templated); None: Standard.
    :param redundancy_type: ``LRS`` (locally redundant) or ``ZRS`` (zone-redundant) (templated);
        None: LRS.
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    """

    template_fields: Sequence[str] = ("bucket_name", "region", "acl", "storage_class", "redundancy_type")
    ui_color = "#b5e3c8"

    def __init__(
        self,
        *,
        bucket_name: str | None = None,
        region: str | None = None,
        acl: str | None = None,
        storage_class: str | None = None,
        redundancy_type: str | None = None,
        oss_conn_id: str = OssHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket_name = bucket_name
        self.region = region
        self.acl = acl
        self.storage_class = storage_class
        self.redundancy_type = redundancy_type
        self.oss_conn_id = oss_conn_id
        self._check_arguments()

    def _check_arguments(self) -> None:
        """Run at DAG parse and again after rendering: each value that is no longer a template."""
        label = task_label(type(self).__name__, self.task_id)
        _check_name(label, self.bucket_name)
        settings = [
            None if is_template(v) else v for v in (self.acl, self.storage_class, self.redundancy_type)
        ]
        checked(label, lambda: check_bucket_settings(*settings))

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_arguments()
        hook = OssHook(self.oss_conn_id)
        bucket = hook.resolve_bucket(self.bucket_name)
        if self._exists(hook, bucket):
            self.log.info("Bucket %r exists already; left unchanged.", bucket)
            return {"bucket": bucket, "created": False}
        hook.create_bucket(
            bucket,
            region=self.region,
            acl=self.acl,
            storage_class=self.storage_class,
            redundancy_type=self.redundancy_type,
        )
        self.log.info("Created bucket %r.", bucket)
        return {"bucket": bucket, "created": True}

    @staticmethod
    def _exists(hook: OssHook, bucket: str) -> bool:
        """
        Whether the bucket exists. OSS answers GetBucketInfo on another account's bucket with
        ``AccessDenied``: then the PutBucket is sent and its answer says what the name is
        (``BucketAlreadyExists``). Any other error (a wrong secret...) fails the task here.
        """
        try:
            return hook.bucket_exists(bucket)
        except OssAuthError as err:
            if err.code != "AccessDenied":
                raise
            return False


class OssDeleteBucketOperator(BaseOperator):
    """
    Delete a bucket; a bucket that does not exist is logged and the task succeeds (as Amazon's
    ``S3DeleteBucketOperator``).

    Without ``force``, a bucket that still holds objects or in-progress multipart uploads fails the
    task with OSS's ``BucketNotEmpty``. With ``force=True`` every in-progress multipart upload is
    aborted and every object deleted first; in a bucket with versioning enabled or suspended, every
    version and delete marker of every object, for good.

    Returns (to XCom) ``{"bucket", "deleted", "objects_deleted", "uploads_aborted",
    "versions_deleted"}`` (``versions_deleted``: versions and delete markers, in a bucket with
    versioning; ``objects_deleted`` is 0 there).

    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param force: empty the bucket first (its objects and in-progress uploads are lost for good).
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    """

    template_fields: Sequence[str] = ("bucket_name",)
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        bucket_name: str | None = None,
        force: bool = False,
        oss_conn_id: str = OssHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket_name = bucket_name
        self.force = force
        self.oss_conn_id = oss_conn_id
        label = task_label(type(self).__name__, self.task_id)
        if not isinstance(force, bool):
            raise ValueError(f"{label}: force must be True or False; got {force!r}.")
        _check_name(label, bucket_name)

    def execute(self, context: Context) -> dict[str, Any]:
        _check_name(task_label(type(self).__name__, self.task_id), self.bucket_name)
        hook = OssHook(self.oss_conn_id)
        bucket = hook.resolve_bucket(self.bucket_name)
        if not hook.bucket_exists(bucket):
            self.log.info("Bucket %r does not exist; nothing to delete.", bucket)
            return {
                "bucket": bucket,
                "deleted": False,
                "objects_deleted": 0,
                "uploads_aborted": 0,
                "versions_deleted": 0,
            }
        emptied = hook.delete_bucket(bucket, force=self.force)
        self.log.info(
            "Deleted bucket %r (emptied first: %d object(s) deleted, %d upload(s) aborted, "
            "%d object version(s) and delete marker(s) deleted).",
            bucket,
            emptied.objects_deleted,
            emptied.uploads_aborted,
            emptied.versions_deleted,
        )
        return {
            "bucket": bucket,
            "deleted": True,
            "objects_deleted": emptied.objects_deleted,
            "uploads_aborted": emptied.uploads_aborted,
            "versions_deleted": emptied.versions_deleted,
        }
