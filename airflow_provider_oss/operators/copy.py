"""``OssCopyObjectOperator``: a server-side copy within or across buckets that a retried task continues."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_oss.copy import (
    CopyCheckpointStore,
    CopyDiscoveryStore,
    FileCopyCheckpointStore,
    KeyValueCopyCheckpointStore,
)
from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators._args import is_template
from airflow_provider_oss.operators.checkpointing import check_checkpoint_mode, is_retry, resolve_mode
from airflow_provider_oss.operators.openlineage import operator_lineage, oss_dataset
from airflow_provider_oss.operators.transfer_base import OssTransferOperator
from airflow_provider_oss.version_compat import NEVER_EXPIRE

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.operators.openlineage import Lineage

#: The default part size of a multipart copy (as alibabacloud-oss-v2's Copier).
DEFAULT_COPY_PART_SIZE = 64 * 1024 * 1024
#: Sources up to this size go in one CopyObject by default (as alibabacloud-oss-v2's Copier).
DEFAULT_COPY_THRESHOLD = 200 * 1024 * 1024


def choose_copy_checkpoint_store(
    context: Mapping[str, Any],
    *,
    mode: str,
    checkpoint_dir: str | None,
    client: OssClient,
    source_bucket: str,
    source_key: str,
    bucket: str,
    key: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> CopyCheckpointStore:
    """
    The copy's checkpoint store for this try, by the same rules as the upload's
    (:mod:`~airflow_provider_oss.operators.checkpointing`): ``task_state_store`` (Airflow 3.3+), a
    file under ``checkpoint_dir``, or discovery.

    :raises ValueError: ``"state_store"`` without ``task_state_store``, ``"file"`` without a directory.
    """
    check_checkpoint_mode(mode, checkpoint_dir)
    concrete = resolve_mode(mode, context, checkpoint_dir)
    if concrete == "discover":
        if mode == "auto":
            logger.info(
                "No task_state_store (Airflow < 3.3) and no checkpoint_dir: a retry looks for this copy's "
                "upload among OSS's in-progress uploads of the key."
            )
        return CopyDiscoveryStore(client, bucket, key, retry=is_retry(context))
    if concrete == "state_store":
        state_store = context.get("task_state_store")
        if state_store is None:
            raise ValueError(
                "checkpoint='state_store' needs Airflow 3.3+ (context['task_state_store']); use "
                "checkpoint='file' with checkpoint_dir on a volume shared by the workers."
            )
        set_kwargs = {"retention": NEVER_EXPIRE} if NEVER_EXPIRE is not None else {}
        return KeyValueCopyCheckpointStore(state_store, set_kwargs=set_kwargs)
    assert checkpoint_dir  # checked above
    return FileCopyCheckpointStore(checkpoint_dir, source_bucket, source_key, bucket, key)


class OssCopyObjectOperator(OssTransferOperator):
    """
    Copy an object server-side (no bytes pass through the worker), within or across buckets of one
    region, any size: one CopyObject up to ``multipart_threshold``, else parallel UploadPartCopy of
    ``part_size`` ranges that a retried try continues (same upload ID, only the missing parts).
    Every request is pinned to the source's ETag, so a source replaced during the copy fails it
    clearly; the copy's CRC-64 is checked against the source's.

    :param source_key: the source key or ``oss://bucket/key`` URL (templated).
    :param dest_key: the destination key or URL (templated).
    :param source_bucket: the source bucket (templated); default: the connection's ``bucket`` extra.
    :param dest_bucket: the destination bucket (templated); default: the source bucket.
    :param oss_conn_id: the ``oss`` connection.
    :param part_size: bytes per UploadPartCopy (100 KiB to 5 GiB, default 64 MiB).
    :param parallelism: parts copied at once (1 to 64, default 4).
    :param multipart_threshold: sources up to this size go in one CopyObject (default 200 MiB, at
        most 5 GiB, OSS's single-copy limit).
    :param checkpoint: ``auto``, ``state_store``, ``file`` or ``discover``, as the upload operator's.
    :param checkpoint_dir: directory for file checkpoints, shared by the workers (templated).
    :param content_type: with any property below, the copy gets these properties instead of the source's.
    :param metadata: user metadata (``x-oss-meta-*``) of the copy (templated).
    :param storage_class: the copy's storage class.
    :param acl: the copy's ACL.
    :param cache_control: the copy's Cache-Control.
    :param content_disposition: the copy's Content-Disposition.
    :param content_encoding: the copy's Content-Encoding.
    :param traffic_limit: per-request bandwidth cap in bit/s.
    :param abort_on_final_failure: abort the multipart upload when the last try fails.
    :param source_version_id: copy this version of the source (a bucket with versioning;
        templated); None: its current version. With it, the source may be the destination itself
        (restoring an earlier version).

    Returns (XCom) the copy's summary: ``source``, ``destination``, ``size``, ``etag``, ``crc64``
    (a decimal string), ``method``, ``upload_id``, ``parts_total``, ``parts_copied``,
    ``parts_reused``, ``resumed``, ``seconds``.
    """

    template_fields: Sequence[str] = (
        "source_key",
        "dest_key",
        "source_bucket",
        "dest_bucket",
        "checkpoint_dir",
        "metadata",
        "source_version_id",
    )

    def __init__(
        self,
        *,
        source_key: str,
        dest_key: str,
        source_bucket: str | None = None,
        dest_bucket: str | None = None,
        part_size: int = DEFAULT_COPY_PART_SIZE,
        parallelism: int = 4,
        multipart_threshold: int = DEFAULT_COPY_THRESHOLD,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        acl: str | None = None,
        cache_control: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        traffic_limit: int | None = None,
        abort_on_final_failure: bool = False,
        source_version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_version_id = source_version_id
        self.source_key = source_key
        self.dest_key = dest_key
        self.source_bucket = source_bucket
        self.dest_bucket = dest_bucket
        self.content_type = content_type
        self.metadata = metadata
        self.storage_class = storage_class
        self.acl = acl
        self.cache_control = cache_control
        self.content_disposition = content_disposition
        self.content_encoding = content_encoding
        self.abort_on_final_failure = abort_on_final_failure
        self.transfer_config = self._transfer_config(
            part_size=part_size,
            parallelism=parallelism,
            multipart_threshold=multipart_threshold,
            traffic_limit=traffic_limit,
        )
        self._check_arguments(rendered=False)

    def _check_arguments(self, *, rendered: bool) -> None:
        def check() -> None:
            self._require_text(rendered, {"source_key": None, "dest_key": None})
            self._require_optional_text("source_bucket", "dest_bucket", "source_version_id")
            self._check_checkpoint()
            if rendered or not is_template(self.metadata):
                self.options()
            if rendered:
                source = split_key(self.source_key, self.source_bucket)
                dest = split_key(self.dest_key, self.dest_bucket)
                if (dest[0] or source[0], dest[1]) == source and self.options() is None:
                    raise ValueError(
                        f"source and destination are the same object ({self.source_key!r}) and no new property "
                        "is given: the copy would change nothing."
                    )

        self._checked(check)

    def options(self) -> ObjectOptions | None:
        """The copy's properties when any is given (REPLACE), else None (the source's are kept)."""
        metadata = self._metadata(self.metadata)
        given = (
            self.content_type,
            self.metadata,
            self.storage_class,
            self.acl,
            self.cache_control,
            self.content_disposition,
            self.content_encoding,
        )
        if all(value is None for value in given):
            return None
        return ObjectOptions(
            content_type=self.content_type,
            metadata=metadata,
            storage_class=self.storage_class,
            acl=self.acl,
            cache_control=self.cache_control,
            content_disposition=self.content_disposition,
            content_encoding=self.content_encoding,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_arguments(rendered=True)
        final_try = self._is_final_try(context)
        hook = OssHook(self.oss_conn_id)
        source_bucket, source_key = hook._locate(self.source_key, self.source_bucket)
        logger = cast("logging.Logger", self.log)

        def store(client: OssClient, bucket: str, key: str) -> CopyCheckpointStore:
            return choose_copy_checkpoint_store(
                cast("dict[str, Any]", context),
                mode=self.checkpoint,
                checkpoint_dir=self.checkpoint_dir,
                client=client,
                source_bucket=source_bucket,
                source_key=source_key,
                bucket=bucket,
                key=key,
                logger=logger,
            )

        outcome = hook.resumable_copy(
            source_key,
            self.dest_key,
            source_bucket,
            self.dest_bucket,
            config=self.transfer_config,
            options=self.options(),
            checkpoint_store=store,
            abort_on_failure=self.abort_on_final_failure and final_try,
            logger=logger,
            source_version_id=self.source_version_id,
        )
        result = outcome.to_dict()
        self._lineage_result = result
        return result

    def get_openlineage_facets_on_start(self) -> Lineage:
        """OpenLineage: the source object in, the destination out (buckets: arguments, URLs or connection)."""
        named_source_bucket, source_key = split_key(self.source_key, self.source_bucket)
        source_bucket = named_source_bucket or OssHook(self.oss_conn_id).default_bucket or ""
        named_dest_bucket, dest_key = split_key(self.dest_key, self.dest_bucket)
        return operator_lineage(
            [oss_dataset(source_bucket, source_key)],
            [oss_dataset(named_dest_bucket or source_bucket, dest_key)],
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """OpenLineage: the objects the copy read and wrote, with the copy's size."""
        result = self._lineage_result
        if result is None:
            return self.get_openlineage_facets_on_start()
        source_bucket, source_key = split_key(result["source"], None)
        dest_bucket, dest_key = split_key(result["destination"], None)
        return operator_lineage(
            [oss_dataset(source_bucket or "", source_key)],
            [oss_dataset(dest_bucket or "", dest_key, size=result["size"])],
        )
