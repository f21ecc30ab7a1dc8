"""``OssDownloadOperator``: an object to a local file in parallel ranged GETs, CRC-64 verified, that a retried task continues."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.download.store import STATE_STORE_KEY, DownloadCheckpointStore, file_store
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.checkpointing import check_checkpoint_mode, resolve_mode
from airflow_provider_oss.operators.openlineage import local_file_dataset, operator_lineage, oss_dataset
from airflow_provider_oss.operators.transfer_base import OssTransferOperator
from airflow_provider_oss.upload.stores import KeyValueCheckpointStore
from airflow_provider_oss.version_compat import NEVER_EXPIRE

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oss.operators.openlineage import Lineage

__all__ = ["OssDownloadOperator", "choose_download_checkpoint_store"]


def choose_download_checkpoint_store(
    context: Mapping[str, Any],
    *,
    mode: str,
    checkpoint_dir: str | None,
    bucket: str,
    key: str,
    destination: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> DownloadCheckpointStore:
    """
    The checkpoint store for this try of a download, from the same modes as the upload's
    (:func:`~airflow_provider_oss.operators.checkpointing.resolve_mode`). A download has nothing to
    discover in OSS: its partial data is the temporary file beside the destination, so ``"discover"``
    (and ``"auto"`` without ``task_state_store`` or ``checkpoint_dir``) keeps the record as a hidden
    file in the destination's directory, which is exactly as reachable by a retry as that data is.

    :param context: the task's Airflow context.
    :param mode: the ``checkpoint`` argument.
    :param checkpoint_dir: the rendered ``checkpoint_dir``.
    :param bucket: the bucket.
    :param key: the object key.
    :param destination: the destination file.
    :param logger: where to say which store ``"auto"`` chose when it fell back.
    :raises ValueError: ``"state_store"`` on an Airflow without ``task_state_store``, or ``"file"``
        without a directory.
    """
    check_checkpoint_mode(mode, checkpoint_dir)
    concrete = resolve_mode(mode, context, checkpoint_dir)
    if concrete == "state_store":
        state_store = context.get("task_state_store")
        if state_store is None:
            raise ValueError(
                "checkpoint='state_store' needs Airflow 3.3+ (context['task_state_store']); this Airflow has "
                "none. Use checkpoint='file' with checkpoint_dir, or checkpoint='discover'."
            )
        set_kwargs = {"retention": NEVER_EXPIRE} if NEVER_EXPIRE is not None else {}
        return DownloadCheckpointStore(
            KeyValueCheckpointStore(state_store, key=STATE_STORE_KEY, set_kwargs=set_kwargs)
        )
    if concrete == "file":
        assert checkpoint_dir  # checked above
        return file_store(checkpoint_dir, bucket, key, os.path.abspath(destination))
    directory = os.path.dirname(os.path.abspath(destination))
    if mode == "auto":
        logger.info(
            "No task_state_store (Airflow < 3.3) and no checkpoint_dir: the download's checkpoint is kept beside "
            "its temporary file in %s.",
            directory,
        )
    return file_store(directory, bucket, key, os.path.abspath(destination), hidden=True)


class OssDownloadOperator(OssTransferOperator):
    """
    Download an object to a local file in parallel ranged GETs; a retry continues with the ranges
    the earlier try wrote.

    The file is written under a hidden temporary name beside ``local_path`` and renamed onto it only
    when the CRC-64 of all its ranges equals the object's; an object that changes during the
    download (every GET carries ``If-Match`` on the ETag recorded at the start) fails the try with
    :class:`~airflow_provider_oss.download.errors.ObjectChangedError` and the next try starts over. The
    checkpoint (the object's identity and each written range's CRC-64; never credentials) is kept in
    ``task_state_store`` (Airflow 3.3+), under ``checkpoint_dir``, or beside the temporary file.
    Guarantees: docs/DOWNLOADS.md.

    :param key: the object key or ``oss://bucket/key`` URL (templated).
    :param local_path: the destination file; its directory must exist (templated).
    :param bucket: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param oss_conn_id: the connection.
    :param part_size: bytes per ranged GET (100 KiB to 5 GiB, default 8 MiB).
    :param parallelism: ranges in flight at once (1 to 64, default 4). Memory use is at most
        ``parallelism`` read buffers of 1 MiB.
    :param multipart_threshold: objects smaller than this go in one GET without a checkpoint
        (default: ``part_size``).
    :param traffic_limit: per-request bandwidth cap in bit/s (``x-oss-traffic-limit``).
    :param checkpoint: ``"auto"`` (task_state_store when Airflow provides it, else a file under
        ``checkpoint_dir`` when given, else ``"discover"``), ``"state_store"``, ``"file"``, or
        ``"discover"`` (a hidden record beside the temporary file, in the destination's directory).
    :param checkpoint_dir: directory for file checkpoints (templated).
    :param version_id: download this version of the object (a bucket with versioning; templated);
        None: the current version. A version the object does not have fails with ``NoSuchVersion``.

    Every argument is checked when the DAG is parsed; the templated ones again after rendering. The
    XCom result holds ``path``, ``size``, ``etag``, ``crc64`` (a decimal string), ``ranges_fetched``,
    ``ranges_reused``, ``bytes_fetched`` and ``bytes_reused``.
    """

    template_fields: Sequence[str] = ("key", "local_path", "bucket", "checkpoint_dir", "version_id")

    def __init__(
        self,
        *,
        key: str,
        local_path: str,
        bucket: str | None = None,
        part_size: int = 8 * 1024 * 1024,
        parallelism: int = 4,
        multipart_threshold: int | None = None,
        traffic_limit: int | None = None,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.local_path = local_path
        self.bucket = bucket
        self.version_id = version_id
        self.transfer_config = self._transfer_config(
            part_size=part_size,
            parallelism=parallelism,
            multipart_threshold=multipart_threshold,
            traffic_limit=traffic_limit,
        )
        self._check_arguments(rendered=False)

    def _check_arguments(self, *, rendered: bool) -> None:
        def check() -> None:
            self._require_text(
                rendered, {"key": "object key to download", "local_path": "local file to write"}
            )
            if rendered and os.path.isdir(self.local_path):
                raise ValueError(f"local_path {self.local_path!r} is a directory; give the file to write.")
            self._require_optional_text("bucket", "version_id")
            self._check_checkpoint()

        self._checked(check)

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_arguments(rendered=True)
        hook = OssHook(self.oss_conn_id)
        named_bucket, key = split_key(self.key, self.bucket)
        bucket = hook.resolve_bucket(named_bucket)
        logger = cast("logging.Logger", self.log)
        store = choose_download_checkpoint_store(
            cast("dict[str, Any]", context),
            mode=self.checkpoint,
            checkpoint_dir=self.checkpoint_dir,
            bucket=bucket,
            key=key,
            destination=self.local_path,
            logger=logger,
        )
        ti = context.get("ti")
        self.log.info("Try %s of the download of oss://%s/%s.", getattr(ti, "try_number", "?"), bucket, key)
        result = hook.download_file(
            key,
            self.local_path,
            bucket,
            config=self.transfer_config,
            checkpoint_store=store,
            logger=logger,
            version_id=self.version_id,
        ).to_dict()
        self._lineage_result = result
        return result

    def get_openlineage_facets_on_start(self) -> Lineage:
        """OpenLineage: ``oss://bucket`` / key in (the bucket: argument, URL or connection), the local file out."""
        named_bucket, key = split_key(self.key, self.bucket)
        bucket = named_bucket or OssHook(self.oss_conn_id).default_bucket or ""
        return operator_lineage([oss_dataset(bucket, key)], [local_file_dataset(self.local_path)])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """OpenLineage: as on start, with the bucket the download used and the file's size."""
        result = self._lineage_result
        if result is None:
            return self.get_openlineage_facets_on_start()
        return operator_lineage(
            [oss_dataset(result["bucket"], result["key"])],
            [local_file_dataset(result["path"], size=result["size"])],
        )
