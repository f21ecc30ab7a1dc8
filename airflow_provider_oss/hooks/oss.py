"""``OssHook``: an Airflow connection of type ``oss_resumable`` (or the official ``oss``) turned into a signed :class:`OssClient`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import Any, cast

from airflow_provider_oss.copy import CopyCheckpointStore, CopyOutcome, ServerSideCopier
from airflow_provider_oss.core.bulk_delete import MAX_DELETE_BATCH, delete_in_batches
from airflow_provider_oss.core.callback import UploadCallback, url_secrets
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.connection_settings import (
    ACCEPTED_CONN_TYPES,
    CONN_TYPE,
    EXTRA_TYPES,
    ConnectionSettings,
    OssConnectionConfigError,
    parse_connection,
    resolve_region,
)
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import OssClientError, OssError, OssPreconditionError
from airflow_provider_oss.core.keymatch import compile_glob, literal_prefix, split_key
from airflow_provider_oss.core.models import (
    CopyResult,
    ObjectInfo,
    ObjectOptions,
    ObjectSummary,
    PutObjectResult,
)
from airflow_provider_oss.download.engine import ResumableDownloader
from airflow_provider_oss.download.result import DownloadResult
from airflow_provider_oss.download.store import DownloadCheckpointStore
from airflow_provider_oss.hooks.lineage import record_input, record_output
from airflow_provider_oss.hooks.metrics import record_failure, record_transfer
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.engine import ResumableUploader
from airflow_provider_oss.upload.folder import FolderUploadConfig, StoreFor, upload_folder
from airflow_provider_oss.upload.folder_result import FolderUploadSummary
from airflow_provider_oss.upload.progress import ProgressEvent
from airflow_provider_oss.upload.result import UploadResult
from airflow_provider_oss.upload.stores import CheckpointStore
from airflow_provider_oss.version_compat import BaseHook, mask_secret

log = logging.getLogger(__name__)

#: Builds a checkpoint store that needs the hook's client: ``(client, bucket) -> store``.
StoreFactory = Callable[[OssClient, str], CheckpointStore]
#: Builds a copy's checkpoint store once the client, destination bucket and key are known.
CopyStoreFactory = Callable[[OssClient, str, str], CopyCheckpointStore]

#: Connection extras understood by the hook (derived from ClientConfig's fields), kept for callers.
_EXTRA_TYPES = EXTRA_TYPES

__all__ = ["OssConnectionConfigError", "OssHook"]


class OssHook(BaseHook):
    """
    Interact with Alibaba Cloud OSS through this provider's own signed client.

    The connection's login is the AccessKeyId and its password the AccessKeySecret. Extras:
    ``region`` (e.g. ``cn-hangzhou``), ``endpoint`` (a custom host or URL), ``bucket`` (default
    bucket), ``security_token`` (STS), ``signature_version`` (``v4`` default, or ``v1``),
    ``addressing_style`` (``virtual`` default, or ``path`` for IP endpoints), ``internal`` (use the
    VPC endpoint), ``connect_timeout``, ``read_timeout``, ``max_retries``, ``backoff_base``,
    ``backoff_max``, ``pool_size`` and ``verify`` (``true``, ``false`` or a CA bundle path); an
    extra that is missing, ``null`` or empty is unset. The region may be left out when the
    endpoint names it (``oss-cn-shanghai.aliyuncs.com``).

    A connection of the official ``apache-airflow-providers-alibaba`` format (type ``oss``, extras
    ``auth_type``/``access_key_id``/``access_key_secret``/``region``/``endpoint``, the bucket in
    the schema) is read unchanged, so the operators can use an existing ``oss_default``.

    :param oss_conn_id: the Airflow connection id (type ``oss_resumable``, or the official ``oss``).
    :param region: overrides the connection's ``region`` extra.
    :param bucket_name: overrides the connection's default ``bucket`` extra.
    :param client_overrides: any other :class:`ClientConfig` field, overriding the connection.
    """

    conn_name_attr = "oss_conn_id"
    default_conn_name = "oss_default"
    conn_type = CONN_TYPE
    hook_name = "Alibaba Cloud OSS (resumable)"

    def __init__(
        self,
        oss_conn_id: str = default_conn_name,
        *,
        region: str | None = None,
        bucket_name: str | None = None,
        **client_overrides: Any,
    ) -> None:
        super().__init__()
        self.oss_conn_id = oss_conn_id
        self._region_override = region
        self._bucket_override = bucket_name
        self._client_overrides = client_overrides
        self._clients: dict[int | None, OssClient] = {}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form behaviour for Airflow < 3.2 (3.2+ reads it from provider info)."""
        return {
            "hidden_fields": ["schema", "port", "host"],
            "relabeling": {"login": "Access Key ID", "password": "Access Key Secret"},
            "placeholders": {
                "login": "LTAI5t...",
                "password": "AccessKeySecret",
                "extra": '{"region": "cn-hangzhou", "bucket": "my-bucket"}',
            },
        }

    @cached_property
    def _settings(self) -> ConnectionSettings:
        conn = self.get_connection(self.oss_conn_id)
        if conn.conn_type and conn.conn_type not in ACCEPTED_CONN_TYPES:
            log.warning(
                "Connection %r has conn_type %r; OssHook expects %r (or the official provider's 'oss').",
                self.oss_conn_id,
                conn.conn_type,
                CONN_TYPE,
            )
        mask_secret(conn.password)
        settings = parse_connection(
            self.oss_conn_id,
            login=conn.login,
            password=conn.password,
            host=conn.host,
            port=conn.port,
            schema=conn.schema,
            extras=conn.extra_dejson or {},
        )
        mask_secret(settings.credentials.access_key_secret)
        mask_secret(settings.credentials.security_token)
        return settings

    @property
    def default_bucket(self) -> str | None:
        """The bucket used when a method is called without one: the hook argument or the ``bucket`` extra."""
        return self._bucket_override or self._settings.bucket

    def resolve_bucket(self, bucket_name: str | None) -> str:
        """
        Return ``bucket_name`` or the default bucket.

        :raises ValueError: when neither is set, naming both ways to fix it.
        """
        bucket = bucket_name or self.default_bucket
        if not bucket:
            raise ValueError(
                f"No bucket given: pass bucket_name, or set the 'bucket' extra of connection {self.oss_conn_id!r}."
            )
        return bucket

    def get_client_config(self, **overrides: Any) -> ClientConfig:
        """
        Build the :class:`ClientConfig` from the connection, the hook arguments and ``overrides``.

        :param overrides: ClientConfig fields that win over everything else (e.g. ``pool_size``).
        """
        settings = dict(self._settings.client)
        if self._region_override:
            settings["region"] = self._region_override
        settings.update(self._client_overrides)
        settings.update(overrides)
        settings["region"] = resolve_region(
            self.oss_conn_id, settings.get("region"), settings.get("endpoint")
        )
        try:
            return ClientConfig(**settings)
        except OssClientError as err:
            raise OssConnectionConfigError(f"Connection {self.oss_conn_id!r}: {err}") from None
        except TypeError as err:
            raise OssConnectionConfigError(f"Connection {self.oss_conn_id!r}: {err}") from None

    @property
    def credentials(self) -> Credentials:
        """The connection's credentials (their repr hides the secret and the token)."""
        return self._settings.credentials

    def get_client(self, *, pool_size: int | None = None) -> OssClient:
        """
        Return an :class:`OssClient` for this connection, cached per pool size.

        :param pool_size: HTTP connection pool size; pass at least the upload parallelism.
        """
        if pool_size not in self._clients:
            overrides = {"pool_size": pool_size} if pool_size else {}
            self._clients[pool_size] = OssClient(self.credentials, self.get_client_config(**overrides))
        return self._clients[pool_size]

    def get_conn(self) -> OssClient:
        """Return the default :class:`OssClient` (Airflow's standard hook entry point)."""
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection with a real signed request.

        With a default bucket, reads its bucket info; otherwise lists the account's buckets.
        Returns ``(ok, message)``; the message carries OSS's code and request id on failure.
        """
        try:
            bucket = self.default_bucket
            client = self.get_client()
            if bucket:
                client.get_bucket_info(bucket)
                return True, f"Connection successfully tested: bucket {bucket!r} is reachable."
            buckets = client.list_buckets()
            return True, f"Connection successfully tested: {len(buckets)} bucket(s) visible."
        except (OssError, ValueError) as err:
            return False, str(err)

    # Convenience methods, in the spirit of S3Hook.

    def check_for_key(self, key: str, bucket_name: str | None = None) -> bool:
        """
        Return True if the object exists, False if OSS answers 404.

        Any other error (wrong credentials, access denied, network) is raised, never hidden as "missing".
        """
        return self.get_client().object_exists(self.resolve_bucket(bucket_name), key)

    def head_object(self, key: str, bucket_name: str | None = None) -> ObjectInfo:
        """Return the object's size, ETag, CRC-64, type and metadata."""
        return self.get_client().head_object(self.resolve_bucket(bucket_name), key)

    # -- S3Hook-shaped object methods ------------------------------------------------------------
    # Every ``key`` may also be a full ``oss://bucket/key`` URL (its bucket must then agree with
    # ``bucket_name`` when both are given). Differences from S3Hook: ``bucket_name`` always comes
    # after the key (``delete_objects(keys, bucket_name)``, not ``(bucket, keys)``); ``replace``
    # defaults to True (this provider's earlier behaviour) and, when False, is atomic in OSS
    # (``x-oss-forbid-overwrite``) instead of a check-then-write; ``match_glob`` is path-aware
    # (``*`` stays within a segment, ``**`` crosses ``/``); listing methods return lists. The full
    # table is in docs/OBJECTS_AND_SENSORS.md.

    def _locate(self, key: str, bucket_name: str | None) -> tuple[str, str]:
        bucket, plain = split_key(key, bucket_name)
        return self.resolve_bucket(bucket), plain

    def get_key(self, key: str, bucket_name: str | None = None) -> ObjectInfo:
        """
        Return the object's metadata (size, ETag, CRC-64, last modified, content type, user metadata).

        :raises OssNotFoundError: when the object does not exist (S3Hook's ``get_key`` raises too).
        """
        bucket, plain = self._locate(key, bucket_name)
        return self.get_client().head_object(bucket, plain)

    def load_bytes(
        self,
        data: bytes,
        key: str,
        bucket_name: str | None = None,
        *,
        replace: bool = True,
        options: ObjectOptions | None = None,
    ) -> PutObjectResult:
        """
        Upload ``data`` as one object (CRC-64 checked).

        :param replace: overwrite an existing object; when False the write fails, atomically, if the
            key exists (S3Hook's default is False; ours stays True for existing DAGs).
        :param options: content type, user metadata, storage class...
        :raises OssClientError: when ``replace`` is False and the key exists.
        """
        bucket, plain = self._locate(key, bucket_name)
        try:
            result = self.get_client().put_object(
                bucket, plain, data, options=options, forbid_overwrite=not replace
            )
        except OssPreconditionError as err:
            if err.code != "FileAlreadyExists":
                raise
            raise OssClientError(
                f"oss://{bucket}/{plain} already exists and replace=False: pass replace=True to overwrite it."
            ) from None
        record_output(self, bucket, plain)
        return result

    def load_string(
        self,
        text: str,
        key: str,
        bucket_name: str | None = None,
        *,
        replace: bool = True,
        encoding: str = "utf-8",
        options: ObjectOptions | None = None,
    ) -> PutObjectResult:
        """Upload ``text`` encoded with ``encoding`` as one object (see :meth:`load_bytes`)."""
        return self.load_bytes(text.encode(encoding), key, bucket_name, replace=replace, options=options)

    def read_bytes(self, key: str, bucket_name: str | None = None) -> bytes:
        """Download a whole object into memory, CRC-64 checked (for small objects)."""
        bucket, plain = self._locate(key, bucket_name)
        data = self.get_client().get_object(bucket, plain)
        record_input(self, bucket, plain)
        return data

    def read_key(self, key: str, bucket_name: str | None = None, *, encoding: str = "utf-8") -> str:
        """
        Download a whole object and decode it as text, like S3Hook's ``read_key``.

        :raises UnicodeDecodeError: when the object is not ``encoding`` text (use :meth:`read_bytes`).
        """
        return self.read_bytes(key, bucket_name).decode(encoding)

    def list_objects(
        self,
        prefix: str = "",
        bucket_name: str | None = None,
        *,
        delimiter: str = "",
        start_after: str = "",
        match_glob: str | None = None,
    ) -> list[ObjectSummary]:
        """
        List the objects under ``prefix`` (all pages), in key order, with size, ETag and time.

        :param prefix: only keys starting with this; may be an ``oss://bucket/prefix`` URL.
        :param delimiter: with ``/``, only the objects directly under ``prefix`` (no "subfolders").
        :param start_after: only keys after this one.
        :param match_glob: only keys matching this path-aware glob (e.g. ``data/**/*.csv``); the
            listing starts at the glob's literal prefix when ``prefix`` is empty.
        """
        bucket, plain = self._locate(prefix, bucket_name)
        if match_glob is not None:
            regex = compile_glob(match_glob)
            plain = plain or literal_prefix(match_glob)
        listing = self.get_client().list_objects_v2(
            bucket, prefix=plain, delimiter=delimiter, start_after=start_after
        )
        if match_glob is None:
            return list(listing)
        return [summary for summary in listing if regex.match(summary.key)]

    def list_keys(
        self,
        prefix: str = "",
        bucket_name: str | None = None,
        *,
        delimiter: str = "",
        start_after: str = "",
        match_glob: str | None = None,
    ) -> list[str]:
        """Return the keys :meth:`list_objects` lists (a list, as S3Hook's ``list_keys``)."""
        objects = self.list_objects(
            prefix, bucket_name, delimiter=delimiter, start_after=start_after, match_glob=match_glob
        )
        return [summary.key for summary in objects]

    def list_prefixes(
        self, prefix: str = "", bucket_name: str | None = None, *, delimiter: str = "/"
    ) -> list[str]:
        """Return the "folders" directly under ``prefix``: the common prefixes up to ``delimiter``."""
        bucket, plain = self._locate(prefix, bucket_name)
        return list(self.get_client().list_common_prefixes(bucket, prefix=plain, delimiter=delimiter))

    def check_for_prefix(self, prefix: str, bucket_name: str | None = None, *, delimiter: str = "/") -> bool:
        """
        Return True when at least one object lies under the "folder" ``prefix``.

        ``prefix`` is completed with ``delimiter`` (``data`` checks ``data/``), as in S3Hook.
        """
        bucket, plain = self._locate(prefix, bucket_name)
        if delimiter and plain and not plain.endswith(delimiter):
            plain += delimiter
        listing = self.get_client().list_objects_v2(bucket, prefix=plain, page_size=1)
        return next(iter(listing), None) is not None

    def copy_object(
        self,
        source_key: str,
        dest_key: str,
        source_bucket_name: str | None = None,
        dest_bucket_name: str | None = None,
        *,
        options: ObjectOptions | None = None,
    ) -> CopyResult:
        """
        Copy an object server-side (CopyObject: no bytes pass through the worker; up to 1 GB).

        :param source_key: the source key or ``oss://bucket/key`` URL.
        :param dest_key: the destination key or URL.
        :param source_bucket_name: defaults to the hook's default bucket.
        :param dest_bucket_name: defaults to the source bucket.
        :param options: new properties for the copy; None keeps the source's metadata.
        """
        src_bucket, src_key = self._locate(source_key, source_bucket_name)
        dst_bucket_arg, dst_key = split_key(dest_key, dest_bucket_name)
        dst_bucket = dst_bucket_arg or src_bucket
        result = self.get_client().copy_object(src_bucket, src_key, dst_bucket, dst_key, options=options)
        record_input(self, src_bucket, src_key)
        record_output(self, dst_bucket, dst_key)
        return result

    def delete_objects(
        self, keys: str | Iterable[str], bucket_name: str | None = None, *, batch_size: int = MAX_DELETE_BATCH
    ) -> list[str]:
        """
        Delete keys with DeleteMultipleObjects, ``batch_size`` (at most 1,000) per request.

        A missing key counts as deleted (OSS semantics). Any key OSS does not confirm is reported.

        :param keys: a key or an iterable of keys (consumed lazily, so a listing can be passed).
        :return: the deleted keys.
        :raises OssDeleteError: naming every key OSS did not delete (after all batches ran).
        """
        bucket = self.resolve_bucket(bucket_name)
        client = self.get_client()
        key_list: Iterable[str] = [keys] if isinstance(keys, str) else keys
        return delete_in_batches(
            bucket,
            key_list,
            lambda batch: client.delete_multiple_objects(bucket, batch),
            batch_size=batch_size,
        )

    def download_file(
        self,
        key: str,
        local_path: str | os.PathLike[str],
        bucket_name: str | None = None,
        *,
        config: TransferConfig | None = None,
        checkpoint_store: DownloadCheckpointStore | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
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
            (:func:`airflow_provider_oss.download.file_store`, or a :class:`DownloadCheckpointStore` on a
            key-value or memory store); None: not resumable.
        :param logger: where the engine logs (default: this hook's logger).
        :return: what was downloaded, fetched and reused, and the verified CRC-64.
        """
        transfer = config if config is not None else TransferConfig()
        bucket, plain = self._locate(key, bucket_name)
        client = self.get_client(pool_size=transfer.pool_size)
        log_to = logger if logger is not None else cast("logging.Logger", self.log)
        result = ResumableDownloader(
            client,
            bucket,
            plain,
            local_path,
            config=transfer,
            checkpoint_store=checkpoint_store,
            logger=log_to,
        ).run()
        record_input(self, bucket, plain)
        return result

    def delete_object(self, key: str, bucket_name: str | None = None) -> None:
        """Delete an object (OSS answers success for a missing key too)."""
        self.get_client().delete_object(self.resolve_bucket(bucket_name), key)

    def get_presigned_url(
        self, key: str, bucket_name: str | None = None, *, method: str = "GET", expires: int = 3600
    ) -> str:
        """
        Return a presigned URL (V4 by default) valid for ``expires`` seconds (at most 7 days).

        The URL carries a signature: treat it as a secret and never log it.
        """
        return self.get_client().presign_url(method, self.resolve_bucket(bucket_name), key, expires=expires)

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
        try:
            result = uploader.run()
        except Exception as err:
            record_failure("upload", bucket, err)
            raise
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
        :return: the summary; not ``ok`` when a file failed (``summary.error()`` names them).
        """
        settings = config if config is not None else FolderUploadConfig()
        bucket = self.resolve_bucket(bucket_name)
        client = self.get_client(pool_size=settings.pool_size)
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
        """
        transfer = config if config is not None else TransferConfig()
        src_bucket, src_key = self._locate(source_key, source_bucket_name)
        dst_bucket_arg, dst_key = split_key(dest_key, dest_bucket_name)
        dst_bucket = dst_bucket_arg or src_bucket
        client = self.get_client(pool_size=transfer.pool_size)
        store = (
            checkpoint_store(client, dst_bucket, dst_key) if callable(checkpoint_store) else checkpoint_store
        )
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
        ).run()
        record_input(self, src_bucket, src_key)
        record_output(self, dst_bucket, dst_key)
        return outcome
