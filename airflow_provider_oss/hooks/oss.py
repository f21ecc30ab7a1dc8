"""``OssHook``: an Airflow connection of type ``oss_resumable`` (or the official ``oss``) turned into a signed :class:`OssClient`."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

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
from airflow_provider_oss.core.errors import OssClientError, OssError
from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.hooks.bucket_methods import OssBucketMethods
from airflow_provider_oss.hooks.object_methods import OssObjectMethods
from airflow_provider_oss.hooks.transfers import CopyStoreFactory, OssTransferMethods, StoreFactory
from airflow_provider_oss.version_compat import BaseHook, mask_secret

log = logging.getLogger(__name__)

#: Connection extras understood by the hook (derived from ClientConfig's fields), kept for callers.
_EXTRA_TYPES = EXTRA_TYPES

__all__ = ["CopyStoreFactory", "OssConnectionConfigError", "OssHook", "StoreFactory"]


class OssHook(OssObjectMethods, OssTransferMethods, OssBucketMethods, BaseHook):
    """
    Interact with Alibaba Cloud OSS through this provider's own signed client.

    The connection's login is the AccessKeyId and its password the AccessKeySecret. Extras:
    ``region`` (e.g. ``cn-hangzhou``), ``endpoint`` (a custom host or URL), ``bucket`` (default
    bucket), ``security_token`` (STS), ``signature_version`` (``v4`` default, or ``v1``),
    ``addressing_style`` (``virtual`` default, or ``path`` for IP endpoints), ``internal`` (use the
    VPC endpoint), ``connect_timeout``, ``read_timeout``, ``max_retries``, ``backoff_base``,
    ``backoff_max``, ``pool_size``, ``verify`` (``true``, ``false`` or a CA bundle path), ``resolve``,
    ``require_crc64``, ``scheme`` and ``user_agent``; an
    extra that is missing, ``null`` or empty is unset. The region may be left out when the
    endpoint names it (``oss-cn-shanghai.aliyuncs.com``).

    A connection of the official ``apache-airflow-providers-alibaba`` format (type ``oss``, extras
    ``auth_type``/``access_key_id``/``access_key_secret``/``region``/``endpoint``, the bucket in
    the schema) is read unchanged, so the operators can use an existing ``oss_default``.

    :param oss_conn_id: the Airflow connection id (type ``oss_resumable``, or the official ``oss``).
    :param region: overrides the connection's ``region`` extra.
    :param bucket_name: overrides the connection's default ``bucket`` extra.
    :param client_overrides: any other :class:`ClientConfig` field, overriding the connection.

    The object methods (``check_for_key``, ``load_bytes``, ``list_keys``...) live in
    :class:`~airflow_provider_oss.hooks.object_methods.OssObjectMethods` and the transfers
    (``upload_file``, ``download_file``, ``resumable_copy``...) in
    :class:`~airflow_provider_oss.hooks.transfers.OssTransferMethods`, the bucket methods
    (``create_bucket``, ``delete_bucket``, ``bucket_exists``) in
    :class:`~airflow_provider_oss.hooks.bucket_methods.OssBucketMethods`; this class holds the
    connection, the client and bucket resolution they use.
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

    def _locate(self, key: str, bucket_name: str | None) -> tuple[str, str]:
        """``(bucket, key)`` of a key or an ``oss://bucket/key`` URL (whose bucket must agree with ``bucket_name``)."""
        bucket, plain = split_key(key, bucket_name)
        return self.resolve_bucket(bucket), plain
