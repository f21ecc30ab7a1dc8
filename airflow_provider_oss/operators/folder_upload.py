"""``OssFolderUploadOperator``: a local folder to a key prefix in one task, resumable per file."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators._args import is_template
from airflow_provider_oss.operators.checkpointing import choose_checkpoint_store
from airflow_provider_oss.operators.openlineage import local_file_dataset, operator_lineage, oss_dataset
from airflow_provider_oss.operators.transfer_base import OssTransferOperator
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.folder import (
    DEFAULT_CONCURRENCY,
    DEFAULT_FOLDER_PARALLELISM,
    FolderUploadConfig,
)
from airflow_provider_oss.upload.folder_result import DEFAULT_MAX_KEYS
from airflow_provider_oss.upload.folder_scan import check_prefix, compile_pattern

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.operators.openlineage import Lineage
    from airflow_provider_oss.upload.folder import StoreFor
    from airflow_provider_oss.upload.folder_scan import FolderFile
    from airflow_provider_oss.upload.stores import CheckpointStore

#: The XCom key holding the keys now in OSS (bounded).
KEYS_XCOM_KEY = "keys"
#: The XCom key holding the summary.
SUMMARY_XCOM_KEY = "summary"
#: The ``task_state_store`` keys of the big files' checkpoints start with this.
STATE_KEY_PREFIX = "oss_folder_upload/"


def state_key_for(key: str) -> str:
    """The ``task_state_store`` key of one file's checkpoint: a hash of its object key (any length)."""
    return STATE_KEY_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


class OssFolderUploadOperator(OssTransferOperator):
    """
    Upload the files of a local folder under a key prefix, several at a time, in one task.

    Keys are ``prefix`` + each file's path relative to ``folder`` with ``/`` separators (``data``,
    ``data/`` and ``data//`` all give ``data/sub/file.csv``). A file whose object already has its
    size and CRC-64 is skipped (one HEAD; the local CRC-64 is computed only when the sizes agree), so
    a retry or a daily re-run sends only what is new or changed. Small files go in one PutObject;
    files from ``multipart_threshold`` up go through the resumable engine with a checkpoint each
    (``checkpoint`` as in :class:`ResumableUploadOperator`), so a retry continues their multipart
    upload IDs. Files are read once and CRC-64'd from the bytes actually sent; a file that changes
    while it is read or uploaded fails instead of giving a mixed object.

    What is selected: regular files matching ``pattern`` (a path-aware glob on the relative path;
    without ``/`` it matches the file name at every depth), in sub-directories when ``recursive``.
    Hidden names (``.*``) are left out unless ``include_hidden``. Symbolic links are not followed
    by default: each is named in the log and in the summary's ``ignored_entries``; with
    ``follow_symlinks=True`` a link is followed only when its target lies inside the folder, and a
    link leaving the folder, a broken link or a loop fails the task (naming it) after the rest is
    uploaded. FIFOs, sockets and devices are ignored (logged). A name that is not UTF-8 or a key
    over 1,023 bytes fails the task, naming the file.

    Failures: every file is attempted and finishes whole or not at all; the task then fails naming
    the first failed files. An error that would fail every file (credentials, missing bucket)
    stops new files from starting. The retry skips the files already in OSS.

    Returns (XCom ``return_value``) a summary: ``files``, ``uploaded``, ``skipped``, ``failed``,
    ``not_attempted``, ``ignored``, ``resumed``, ``bytes_total``, ``bytes_sent``, ``bytes_skipped``,
    ``seconds``, ``keys`` (the keys now holding the folder's files, uploaded or skipped, so a retry
    gives the same list as one clean run), ``uploaded_keys`` (those this try sent), ``keys_truncated``,
    ``failures`` and ``ignored_entries``. The key lists hold at most ``max_xcom_keys`` keys each
    (``keys_truncated`` says when they were cut): for 100,000 files the summary stays ~100 KB; list
    the prefix downstream (``OssListOperator``) when every key is needed. The summary is also pushed
    under the XCom key ``"summary"`` and the key list under ``"keys"``. Airflow maps only over a
    ``return_value``: with ``return_keys=True`` the task returns the key list instead of the summary,
    so ``some_task.expand(key=upload.output)`` makes one task instance per key.

    :param folder: the local directory (templated).
    :param prefix: the key prefix (templated); ``""`` for the bucket's root.
    :param bucket: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param pattern: a glob selecting files, e.g. ``*.csv`` or ``reports/**/*.parquet`` (templated).
    :param recursive: include sub-directories (default True).
    :param include_hidden: include names starting with ``.`` (default False).
    :param follow_symlinks: follow links that stay inside the folder (default False: links are ignored).
    :param concurrency: files in flight at once (1 to 64, default 8).
    :param part_size: bytes per part of a big file (default 8 MiB).
    :param parallelism: parts in flight per big file (1 to 64, default 2). Memory is at most about
        ``concurrency * max(multipart_threshold, parallelism * part_size)``.
    :param multipart_threshold: files from this size up use the resumable multipart engine (default
        ``part_size``); smaller ones are read whole and sent in one PutObject.
    :param checkpoint: where big files' checkpoints live: ``"auto"``, ``"state_store"``, ``"file"``
        or ``"discover"`` (see :class:`ResumableUploadOperator`); one record per big file.
    :param checkpoint_dir: directory for file checkpoints, shared by the workers (templated).
    :param skip_unchanged: skip files whose object has the same size and CRC-64 (default True).
    :param replace: when False, an object that exists with other bytes is not overwritten; that
        file fails (default True).
    :param content_type: the Content-Type of every object (default: OSS guesses from the key).
    :param metadata: user metadata for every object (templated).
    :param storage_class: the storage class of every object.
    :param acl: the ACL of every object.
    :param server_side_encryption: ``AES256``, ``KMS`` or ``SM4``.
    :param sse_kms_key_id: the KMS key id with ``server_side_encryption="KMS"``.
    :param max_xcom_keys: keys listed per key list of the summary at most (default 1000).
    :param return_keys: return the list of keys (for dynamic task mapping) instead of the summary.
    :param abort_on_final_failure: the last failed try aborts the failed big files' multipart uploads.
    :param oss_conn_id: the ``oss`` connection.
    """

    template_fields: Sequence[str] = ("folder", "prefix", "bucket", "pattern", "checkpoint_dir", "metadata")
    ui_color = "#ff8c3a"

    def __init__(
        self,
        *,
        folder: str,
        prefix: str = "",
        bucket: str | None = None,
        pattern: str | None = None,
        recursive: bool = True,
        include_hidden: bool = False,
        follow_symlinks: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        part_size: int = 8 * 1024 * 1024,
        parallelism: int = DEFAULT_FOLDER_PARALLELISM,
        multipart_threshold: int | None = None,
        skip_unchanged: bool = True,
        replace: bool = True,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        acl: str | None = None,
        server_side_encryption: str | None = None,
        sse_kms_key_id: str | None = None,
        max_xcom_keys: int = DEFAULT_MAX_KEYS,
        return_keys: bool = False,
        abort_on_final_failure: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.folder = folder
        self.prefix = prefix
        self.bucket = bucket
        self.pattern = pattern
        self.content_type = content_type
        self.metadata = metadata
        self.storage_class = storage_class
        self.acl = acl
        self.server_side_encryption = server_side_encryption
        self.sse_kms_key_id = sse_kms_key_id
        self.abort_on_final_failure = abort_on_final_failure
        for name, flag in (
            ("recursive", recursive),
            ("include_hidden", include_hidden),
            ("follow_symlinks", follow_symlinks),
            ("abort_on_final_failure", abort_on_final_failure),
            ("return_keys", return_keys),
        ):
            if not isinstance(flag, bool):
                raise ValueError(f"{self._label}: {name} must be True or False; got {flag!r}.")
        self.recursive = recursive
        self.include_hidden = include_hidden
        self.follow_symlinks = follow_symlinks
        self.return_keys = return_keys
        # Not templated: built and checked once, when the DAG is parsed.
        self.folder_config = self._checked(
            lambda: FolderUploadConfig(
                concurrency=concurrency,
                transfer=TransferConfig(
                    part_size=part_size, parallelism=parallelism, multipart_threshold=multipart_threshold
                ),
                skip_unchanged=skip_unchanged,
                replace=replace,
                max_keys=max_xcom_keys,
            )
        )
        self._check_arguments(rendered=False)

    def _check_arguments(self, *, rendered: bool) -> None:
        """The checks of the templated arguments: at parse time unless a template, and after rendering."""

        def final(value: object) -> bool:
            return rendered or not is_template(value)

        def check() -> None:
            if final(self.folder) and (not isinstance(self.folder, str) or not self.folder.strip()):
                state = "rendered to" if rendered else "is"
                raise ValueError(f"folder must be a non-empty path; it {state} {self.folder!r}.")
            if final(self.prefix):
                check_prefix(self.prefix)
            if final(self.bucket):
                self._require_optional_text("bucket")
            if self.pattern is not None and final(self.pattern):
                compile_pattern(self.pattern)
            if final(self.checkpoint_dir):
                self._check_checkpoint()
            self.object_options(with_metadata=final(self.metadata))

        self._checked(check)

    def object_options(self, *, with_metadata: bool = True) -> ObjectOptions:
        """The headers of every object (``metadata`` left out while it is an unrendered template)."""
        return ObjectOptions(
            content_type=self.content_type,
            metadata=self._metadata(self.metadata, with_metadata=with_metadata),
            storage_class=self.storage_class,
            acl=self.acl,
            server_side_encryption=self.server_side_encryption,
            sse_kms_key_id=self.sse_kms_key_id,
        )

    def _store_factory(self, context: Context) -> Callable[[OssClient, str], StoreFor]:
        """``(client, bucket) -> (file -> its checkpoint store)``, one record per big file."""
        mode = self.checkpoint
        checkpoint_dir = self.checkpoint_dir
        part_size = self.folder_config.transfer.part_size
        logger = cast("logging.Logger", self.log)

        def factory(client: OssClient, bucket: str) -> StoreFor:
            def store_for(file: FolderFile) -> CheckpointStore:
                return choose_checkpoint_store(
                    cast("dict[str, Any]", context),
                    mode=mode,
                    checkpoint_dir=checkpoint_dir,
                    client=client,
                    bucket=bucket,
                    key=file.key,
                    filename=file.path,
                    part_size=part_size,
                    logger=logger,
                    state_key=state_key_for(file.key),
                )

            return store_for

        return factory

    def execute(self, context: Context) -> dict[str, Any] | list[str]:
        self._check_arguments(rendered=True)
        ti = context.get("ti")
        final_try = self._is_final_try(context)
        summary = OssHook(self.oss_conn_id).upload_folder(
            self.folder,
            self.prefix,
            self.bucket,
            pattern=self.pattern,
            recursive=self.recursive,
            include_hidden=self.include_hidden,
            follow_symlinks=self.follow_symlinks,
            config=self.folder_config,
            object_options=self.object_options(),
            store_for=self._store_factory(context),
            abort_on_failure=self.abort_on_final_failure and final_try,
            logger=cast("logging.Logger", self.log),
        )
        result = summary.to_dict()
        self._lineage_result = result
        if not summary.ok:
            if ti is not None:  # for the UI until the next try starts (Airflow then clears it)
                ti.xcom_push(key=SUMMARY_XCOM_KEY, value=result)
            raise summary.error()
        if result["keys_truncated"]:
            self.log.info(
                "The summary lists the first %d of %d keys (max_xcom_keys); list the prefix for all of them.",
                len(result["keys"]),
                result["uploaded"] + result["skipped"],
            )
        if ti is not None:
            ti.xcom_push(key=SUMMARY_XCOM_KEY, value=result)
            ti.xcom_push(key=KEYS_XCOM_KEY, value=result["keys"])
        return list(result["keys"]) if self.return_keys else result

    def get_openlineage_facets_on_start(self) -> Lineage:
        """OpenLineage: the local folder in, ``oss://bucket`` / the prefix out (``/`` for the bucket's root)."""
        bucket = self.bucket or OssHook(self.oss_conn_id).default_bucket or ""
        try:
            prefix = check_prefix(self.prefix)
        except ValueError:  # execute names the fix; lineage reports what was given
            prefix = str(self.prefix)
        return operator_lineage([local_file_dataset(self.folder)], [oss_dataset(bucket, prefix or "/")])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """OpenLineage: as on start, with the bucket used, the bytes sent and the files uploaded by this try."""
        result = self._lineage_result
        if result is None:
            return self.get_openlineage_facets_on_start()
        output = oss_dataset(
            result["bucket"],
            result["prefix"] or "/",
            size=result["bytes_sent"],
            file_count=result["uploaded"],
        )
        return operator_lineage([local_file_dataset(result["folder"])], [output])
