"""``ResumableUploadOperator``: a parallel multipart upload that a retried task instance continues."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.upload.checkpoint import (
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
)
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.upload.engine import ResumableUploader, recommended_pool_size
from airflow_provider_oss.upload.plan import MAX_PART_SIZE, MIN_PART_SIZE
from airflow_provider_oss.version_compat import NEVER_EXPIRE, BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

CHECKPOINT_MODES = ("auto", "state_store", "file", "discover")
STATE_STORE_KEY = "oss_resumable_upload"
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
ACLS = ("default", "private", "public-read", "public-read-write")
MAX_PARALLELISM = 64


class ResumableUploadOperator(BaseOperator):
    """
    Upload a local file to OSS in parallel parts; a retry continues the same multipart upload.

    The checkpoint (upload ID, part size, a fingerprint of the source; never credentials) is kept
    in Airflow's metadata database through ``task_state_store`` (Airflow 3.3+) or in a file under
    ``checkpoint_dir`` on a volume that every worker shares. A retried try reads it, asks OSS which
    parts exist (ListParts; the server is the truth), reuses each part whose size and CRC-64 match the
    local bytes, sends the rest and completes. Airflow deletes a task's XComs at the start of every
    try, so XCom cannot carry this state and is not used for it.

    :param filename: the local file to upload (templated).
    :param bucket: the destination bucket (templated); defaults to the connection's ``bucket`` extra.
    :param key: the destination object key (templated).
    :param oss_conn_id: the ``oss`` connection.
    :param part_size: bytes per part (100 KiB to 5 GiB, default 8 MiB); grown automatically so the
        file fits in 10,000 parts.
    :param parallelism: parts uploaded at once (1 to 64, default 4). Memory use is about
        ``parallelism * part_size``.
    :param checkpoint: ``"auto"`` (task_state_store when Airflow provides it, else a file under
        ``checkpoint_dir`` when one is given, else ``"discover"``), ``"state_store"``, ``"file"``, or
        ``"discover"``: keep nothing and find the upload to continue by asking OSS
        (ListMultipartUploads + ListParts), for Airflow 3.0-3.2 without a shared volume.
    :param checkpoint_dir: directory for file checkpoints, on a volume shared by the workers (templated).
    :param multipart_threshold: files smaller than this go up in one PutObject (default: ``part_size``).
    :param content_type: the object's Content-Type.
    :param metadata: user metadata, sent as ``x-oss-meta-*`` headers.
    :param storage_class: ``Standard``, ``IA``, ``Archive``, ``ColdArchive`` or ``DeepColdArchive``.
    :param acl: the object ACL: ``default``, ``private``, ``public-read`` or ``public-read-write``.
    :param server_side_encryption: ``AES256``, ``KMS`` or ``SM4``.
    :param sse_kms_key_id: the KMS key id when ``server_side_encryption="KMS"``.
    :param cache_control: the object's Cache-Control.
    :param content_disposition: the object's Content-Disposition.
    :param content_encoding: the object's Content-Encoding.
    :param traffic_limit: per-request bandwidth cap in bit/s (``x-oss-traffic-limit``).
    :param replace: when False, fail before uploading if the key already exists; an object that
        someone else writes during the upload is never replaced either (OSS enforces it atomically
        at completion with ``x-oss-forbid-overwrite``).
    :param abort_on_final_failure: when True, the last failed try aborts the multipart upload so its
        parts stop costing storage. Default False: the parts are kept (so a manual re-run can still
        resume) and the log says how to abort them or which lifecycle rule removes them.
    :param verify_reused_parts: when True, a retry reads and CRC-checks every part an earlier try
        stored. By default it trusts a part whose CRC-64 in OSS equals the one the checkpoint
        confirmed when it was sent (the file's size, modification time and sampled bytes having
        matched), so resuming a 1 TB upload at 90% does not re-read 900 GB. Set it for files that
        something may rewrite in place while keeping their size and modification time.
    """

    template_fields: Sequence[str] = ("filename", "bucket", "key", "checkpoint_dir", "metadata")
    ui_color = "#ff6a00"

    def __init__(
        self,
        *,
        filename: str,
        key: str,
        bucket: str | None = None,
        oss_conn_id: str = OssHook.default_conn_name,
        part_size: int = 8 * 1024 * 1024,
        parallelism: int = 4,
        checkpoint: str = "auto",
        checkpoint_dir: str | None = None,
        multipart_threshold: int | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        acl: str | None = None,
        server_side_encryption: str | None = None,
        sse_kms_key_id: str | None = None,
        cache_control: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        traffic_limit: int | None = None,
        replace: bool = True,
        abort_on_final_failure: bool = False,
        verify_reused_parts: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filename = filename
        self.bucket = bucket
        self.key = key
        self.oss_conn_id = oss_conn_id
        self.part_size = part_size
        self.parallelism = parallelism
        self.checkpoint = checkpoint
        self.checkpoint_dir = checkpoint_dir
        self.multipart_threshold = multipart_threshold
        self.content_type = content_type
        self.metadata = metadata
        self.storage_class = storage_class
        self.acl = acl
        self.server_side_encryption = server_side_encryption
        self.sse_kms_key_id = sse_kms_key_id
        self.cache_control = cache_control
        self.content_disposition = content_disposition
        self.content_encoding = content_encoding
        self.traffic_limit = traffic_limit
        self.replace = replace
        self.abort_on_final_failure = abort_on_final_failure
        self.verify_reused_parts = verify_reused_parts
        self._validate_arguments()

    def _validate_arguments(self) -> None:
        prefix = f"ResumableUploadOperator(task_id={self.task_id!r}):"
        if not isinstance(self.part_size, int) or not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"{prefix} part_size must be an int from {MIN_PART_SIZE} (100 KiB) to {MAX_PART_SIZE} (5 GiB) "
                f"bytes; got {self.part_size!r}."
            )
        if not isinstance(self.parallelism, int) or not 1 <= self.parallelism <= MAX_PARALLELISM:
            raise ValueError(
                f"{prefix} parallelism must be an int from 1 to {MAX_PARALLELISM}; got {self.parallelism!r}."
            )
        if self.checkpoint not in CHECKPOINT_MODES:
            raise ValueError(
                f"{prefix} checkpoint must be one of {CHECKPOINT_MODES}; got {self.checkpoint!r}."
            )
        if self.checkpoint == "file" and not self.checkpoint_dir:
            raise ValueError(
                f"{prefix} checkpoint='file' needs checkpoint_dir (a directory shared by the workers)."
            )
        if self.storage_class is not None and self.storage_class not in STORAGE_CLASSES:
            raise ValueError(
                f"{prefix} storage_class must be one of {STORAGE_CLASSES}; got {self.storage_class!r}."
            )
        if self.acl is not None and self.acl not in ACLS:
            raise ValueError(f"{prefix} acl must be one of {ACLS}; got {self.acl!r}.")
        if self.multipart_threshold is not None and (
            not isinstance(self.multipart_threshold, int) or self.multipart_threshold < 0
        ):
            raise ValueError(
                f"{prefix} multipart_threshold must be a non-negative int; got {self.multipart_threshold!r}."
            )
        if not self.key and not isinstance(self.key, str):
            raise ValueError(f"{prefix} key is required.")

    def object_options(self) -> ObjectOptions:
        """The object headers (type, metadata, storage class, ACL, encryption) as an :class:`ObjectOptions`."""
        return ObjectOptions(
            content_type=self.content_type,
            metadata=dict(self.metadata or {}),
            storage_class=self.storage_class,
            acl=self.acl,
            server_side_encryption=self.server_side_encryption,
            sse_kms_key_id=self.sse_kms_key_id,
            cache_control=self.cache_control,
            content_disposition=self.content_disposition,
            content_encoding=self.content_encoding,
        )

    def checkpoint_store(self, context: Context, bucket: str, client: OssClient) -> CheckpointStore:
        """Pick the checkpoint store for this try from ``checkpoint`` and what Airflow offers."""
        state_store = context.get("task_state_store")
        mode = self.checkpoint
        if mode == "auto":
            if state_store is not None:
                mode = "state_store"
            elif self.checkpoint_dir:
                mode = "file"
            else:
                mode = "discover"
                self.log.info(
                    "No task_state_store (Airflow < 3.3) and no checkpoint_dir: a retry will find this upload "
                    "through OSS's list of in-progress uploads of the key."
                )
        if mode == "discover":
            return UploadDiscoveryStore(client, bucket, self.key, self.filename, self.part_size)
        if mode == "state_store":
            if state_store is None:
                raise ValueError(
                    "checkpoint='state_store' needs Airflow 3.3+ (context['task_state_store']); this Airflow has "
                    "none. Use checkpoint='file' with checkpoint_dir on a volume shared by the workers."
                )
            set_kwargs = {"retention": NEVER_EXPIRE} if NEVER_EXPIRE is not None else {}
            return KeyValueCheckpointStore(state_store, key=STATE_STORE_KEY, set_kwargs=set_kwargs)
        if not self.checkpoint_dir:  # checked at construction; a template can still render it empty
            raise ValueError(
                "checkpoint='file' but checkpoint_dir rendered empty: give a directory shared by the workers."
            )
        return FileCheckpointStore(self.checkpoint_dir, bucket, self.key, os.path.abspath(self.filename))

    def execute(self, context: Context) -> dict[str, Any]:
        hook = OssHook(self.oss_conn_id)
        bucket = hook.resolve_bucket(self.bucket)
        client = hook.get_client(pool_size=recommended_pool_size(self.parallelism))
        store = self.checkpoint_store(context, bucket, client)
        ti = context.get("ti")
        final_try = ti is None or ti.try_number > getattr(ti, "max_tries", self.retries or 0)
        self.log.info(
            "Uploading %s to oss://%s/%s (part_size=%d, parallelism=%d, checkpoint: %s, try %s)",
            self.filename,
            bucket,
            self.key,
            self.part_size,
            self.parallelism,
            store.describe(),
            getattr(ti, "try_number", "?"),
        )
        uploader = ResumableUploader(
            client,
            bucket,
            self.key,
            self.filename,
            part_size=self.part_size,
            parallelism=self.parallelism,
            checkpoint_store=store,
            object_options=self.object_options(),
            multipart_threshold=self.multipart_threshold,
            replace=self.replace,
            abort_on_failure=self.abort_on_final_failure and final_try,
            logger=cast("logging.Logger", self.log),
            traffic_limit=self.traffic_limit,
            verify_reused_parts=self.verify_reused_parts,
        )
        result = uploader.run()
        return result.to_dict()
