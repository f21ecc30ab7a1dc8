"""
The transfer methods of :class:`~airflow_provider_oss.hooks.oss.OssHook` (resumable upload,
folder upload, resumable download, resumable server-side copy), as a mixin: the hook owns the
client, its pool size and the engine; operators only map arguments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, cast

from airflow_provider_oss.copy import CopyCheckpointStore, CopyOutcome, ServerSideCopier
from airflow_provider_oss.core.callback import UploadCallback, url_secrets
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.download.engine import ResumableDownloader
from airflow_provider_oss.download.result import DownloadResult
from airflow_provider_oss.download.store import DownloadCheckpointStore
from airflow_provider_oss.hooks.lineage import record_input, record_output
from airflow_provider_oss.hooks.metrics import (
    copy_measures,
    download_measures,
    failures_counted,
    folder_measures,
    record_failure,
    record_transfer,
)
from airflow_provider_oss.hooks.requirements import OssHookRequirements
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.engine import ResumableUploader
from airflow_provider_oss.upload.folder import FolderUploadConfig, StoreFor, upload_folder
from airflow_provider_oss.upload.folder_result import FolderUploadSummary
from airflow_provider_oss.upload.progress import ProgressEvent
from airflow_provider_oss.upload.result import UploadResult
from airflow_provider_oss.upload.stores import CheckpointStore
from airflow_provider_oss.version_compat import mask_secret

#: Builds a checkpoint store that needs the hook's client: ``(client, bucket) -> store``.
StoreFactory = Callable[[OssClient, str], CheckpointStore]
#: Builds a copy's checkpoint store once the client, destination bucket and key are known.
CopyStoreFactory = Callable[[OssClient, str, str], CopyCheckpointStore]


class OssTransferMethods(OssHookRequirements):
    """Resumable transfers through the hook's client; mixed into :class:`~airflow_provider_oss.hooks.oss.OssHook`."""

    def download_file(
        self,
        key: str,
        local_path: str | os.PathLike[str],
        bucket_name: str | None = None,
        *,
        config: TransferConfig | None = None,
        checkpoint_store: DownloadCheckpointStore | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        version_id: str | None = None,
    ) -> DownloadResult:
        """
        Download an object to ``local_path`` in parallel ranged GETs, CRC-64 verified, written under a
        temporary name beside it and renamed only when verified; resumable through ``checkpoint_store``
        (docs/DOWNLOADS.md). The client gets a pool big enough for ``config.parallelism``.

        :param key: the object key, or an ``oss://bucket/key`` URL.
        :param local_path: the destination file (its directory must exist); replaced atomically.
        :param bucket_name: the bucket (default: the connection's ``bucket`` extra).
        :param config: range size, parallelism, single-GET threshold... (default :class:`TransferConfig`).
        :param checkpoint_store: where the ranges written are recorded
            (:func:`airflow_provider_oss.download.store.file_store`, or a :class:`DownloadCheckpointStore` on a
            key-value or memory store); None: not resumable.
        :param logger: where the engine logs (default: this hook's logger).
        :param version_id: download this version of the object (a bucket with versioning); None:
            the current version.
        :return: what was downloaded, fetched and reused, and the verified CRC-64 (also sent as
            Airflow metrics ``oss.download.*``, see :mod:`airflow_provider_oss.hooks.metrics`).
        """
        transfer = config if config is not None else TransferConfig()
        bucket, plain = self._locate(key, bucket_name)
        client = self.get_client(pool_size=transfer.pool_size)
        log_to = logger if logger is not None else cast("logging.Logger", self.log)
        with failures_counted("download", bucket):
            result = ResumableDownloader(
                client,
                bucket,
                plain,
                local_path,
                config=transfer,
                checkpoint_store=checkpoint_store,
                logger=log_to,
                version_id=version_id,
            ).run()
        record_transfer("download", download_measures(result))
        record_input(self, bucket, plain)
        return result

    # Transfers (the hook owns the client, its pool size and the engine; operators only map arguments).

    def upload_file(
        self,
        filename: str | os.PathLike[str],
        key: str,
        bucket_name: str | None = None,
        *,
        config: TransferConfig | None = None,
        options: ObjectOptions | None = None,
        replace: bool = True,
        checkpoint_store: CheckpointStore | StoreFactory | None = None,
        abort_on_failure: bool = False,
        progress_callback: Callable[[ProgressEvent], None] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        callback: UploadCallback | Mapping[str, Any] | str | None = None,
        callback_var: Mapping[str, str] | str | None = None,
    ) -> UploadResult:
        """
        Upload a local file to ``oss://bucket/key`` in parallel parts, CRC-64 checked, resumable
        (in the spirit of ``S3Hook.load_file``). The client gets a pool big enough for
        ``config.parallelism``.

        :param filename: the local file.
        :param key: the object key.
        :param bucket_name: the bucket (default: the connection's ``bucket`` extra).
        :param config: part size, parallelism, threshold, bandwidth... (default :class:`TransferConfig`).
        :param options: the object's headers (type, metadata, storage class, ACL, encryption).
        :param replace: when False, never overwrite an existing object (checked first, and atomically
            at completion).
        :param checkpoint_store: where the checkpoint lives, or a callable ``(client, bucket) -> store``
            for a store that needs the client (such as discovery); None: not resumable.
        :param abort_on_failure: abort the multipart upload when this run fails (the final try).
        :param progress_callback: called with a :class:`ProgressEvent` after every part.
        :param logger: where the engine logs (default: this hook's logger).
        :param callback: OSS's upload callback (a dict with ``callbackUrl``, ``callbackBody`` and
            optionally ``callbackHost``, ``callbackBodyType``, ``callbackSNI``; its JSON; or an
            :class:`UploadCallback`), sent with the request that creates the object. The result's
            ``callback_response`` is the callback server's answer. The URL's query string and
            password are masked in task logs and never logged.
        :param callback_var: the callback's custom variables (``{"x:name": "value"}``).
        :return: what was uploaded, sent and reused (also sent as Airflow metrics ``oss.upload.*``,
            see :mod:`airflow_provider_oss.hooks.metrics`).
        :raises CallbackConfigError: (a ``ValueError``) for a callback OSS would refuse.
        :raises CallbackFailedError: the object is stored but OSS's callback failed (HTTP 203).
        """
        upload_callback = UploadCallback.parse(callback, callback_var)
        if upload_callback is not None:
            for secret in url_secrets(upload_callback):
                mask_secret(secret)
        transfer = config if config is not None else TransferConfig()
        bucket = self.resolve_bucket(bucket_name)
        client = self.get_client(pool_size=transfer.pool_size)
        store = checkpoint_store(client, bucket) if callable(checkpoint_store) else checkpoint_store
        log_to = logger if logger is not None else cast("logging.Logger", self.log)
        log_to.info(
            "Uploading %s to oss://%s/%s (part_size=%d, parallelism=%d, checkpoint: %s)",
            os.fspath(filename),
            bucket,
            key,
            transfer.part_size,
            transfer.parallelism,
            store.describe() if store is not None else "none",
        )
        uploader = ResumableUploader(
            client,
            bucket,
            key,
            filename,
            config=transfer,
            checkpoint_store=store,
            object_options=options,
            replace=replace,
            abort_on_failure=abort_on_failure,
            progress_callback=progress_callback,
            logger=log_to,
            conn_id=self.oss_conn_id,
            callback=upload_callback,
        )
        if upload_callback is not None:
            log_to.info("With the upload callback to %s.", upload_callback.describe())
        with failures_counted("upload", bucket):
            result = uploader.run()
        record_transfer("upload", result)
        return result

    def upload_folder(
        self,
        folder: str | os.PathLike[str],
        prefix: str = "",
        bucket_name: str | None = None,
        *,
        config: FolderUploadConfig | None = None,
        store_for: Callable[[OssClient, str], StoreFor] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        **options: Any,
    ) -> FolderUploadSummary:
        """
        Upload the files of a local folder under ``prefix`` through one client sized for
        ``config`` (see :func:`~airflow_provider_oss.upload.folder.upload_folder` and docs/FOLDER_UPLOADS.md).

        :param store_for: ``(client, bucket) -> (file -> checkpoint store)`` for the big files.
        :param options: ``pattern``, ``recursive``, ``include_hidden``, ``follow_symlinks``,
            ``object_options``, ``abort_on_failure`` of :func:`~airflow_provider_oss.upload.folder.upload_folder`.
        :return: the summary; not ``ok`` when a file failed (``summary.error()`` names them). Sent as
            Airflow metrics ``oss.folder.*`` (one transfer per folder; a summary that is not ``ok``
            counts as a failure, see :mod:`airflow_provider_oss.hooks.metrics`).
        """
        settings = config if config is not None else FolderUploadConfig()
        bucket = self.resolve_bucket(bucket_name)
        client = self.get_client(pool_size=settings.pool_size)
        with failures_counted("folder", bucket):
            summary = upload_folder(
                client,
                bucket,
                folder,
                prefix,
                config=settings,
                store_for=store_for(client, bucket) if store_for is not None else None,
                logger=logger if logger is not None else cast("logging.Logger", self.log),
                conn_id=self.oss_conn_id,
                **options,
            )
        if summary.ok:
            record_transfer("folder", folder_measures(summary))
        else:
            record_failure("folder", bucket, summary.error())
        if summary.count("uploaded"):
            record_output(self, bucket, summary.prefix)  # one asset for the prefix, not one per file
        return summary

    def resumable_copy(
        self,
        source_key: str,
        dest_key: str,
        source_bucket_name: str | None = None,
        dest_bucket_name: str | None = None,
        *,
        config: TransferConfig | None = None,
        options: ObjectOptions | None = None,
        checkpoint_store: CopyCheckpointStore | CopyStoreFactory | None = None,
        abort_on_failure: bool = False,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        source_version_id: str | None = None,
    ) -> CopyOutcome:
        """
        Copy an object server-side, any size (no bytes pass through the worker): one CopyObject up to
        ``config.threshold``, else parallel UploadPartCopy resumable across retries, pinned to the
        source's ETag and CRC-64 checked. :meth:`copy_object` stays the single CopyObject.

        :param source_key: the source key or ``oss://bucket/key`` URL.
        :param dest_key: the destination key or URL.
        :param source_bucket_name: defaults to the connection's ``bucket`` extra.
        :param dest_bucket_name: defaults to the source bucket.
        :param config: part size, parallelism, threshold (default :class:`TransferConfig`).
        :param options: new properties for the copy; None keeps the source's.
        :param checkpoint_store: the copy's checkpoint store, or ``(client, bucket, key) -> store``.
        :param abort_on_failure: abort the multipart upload when this run fails (the final try).
        :param logger: where the engine logs (default: this hook's logger).
        :param source_version_id: copy this version of the source (a bucket with versioning); None:
            its current version.
        :return: what was copied and reused (also sent as Airflow metrics ``oss.copy.*`` tagged with
            the destination bucket, see :mod:`airflow_provider_oss.hooks.metrics`).
        """
        transfer = config if config is not None else TransferConfig()
        src_bucket, src_key = self._locate(source_key, source_bucket_name)
        dst_bucket_arg, dst_key = split_key(dest_key, dest_bucket_name)
        dst_bucket = dst_bucket_arg or src_bucket
        client = self.get_client(pool_size=transfer.pool_size)
        store = (
            checkpoint_store(client, dst_bucket, dst_key) if callable(checkpoint_store) else checkpoint_store
        )
        with failures_counted("copy", dst_bucket):
            outcome = ServerSideCopier(
                client,
                src_bucket,
                src_key,
                dst_bucket,
                dst_key,
                config=transfer,
                checkpoint_store=store,
                options=options,
                abort_on_failure=abort_on_failure,
                logger=logger if logger is not None else cast("logging.Logger", self.log),
                source_version_id=source_version_id,
            ).run()
        record_transfer("copy", copy_measures(outcome, dst_bucket))
        record_input(self, src_bucket, src_key)
        record_output(self, dst_bucket, dst_key)
        return outcome
