"""
What the hook's method mixins (:mod:`~airflow_provider_oss.hooks.object_methods`,
:mod:`~airflow_provider_oss.hooks.transfers`) need from :class:`~airflow_provider_oss.hooks.oss.OssHook`.

The declarations exist for the type checker only: at run time this class is empty, so it never
shadows the hook's own methods or Airflow's ``log`` in the method resolution order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.connection_settings import ConnectionSettings
    from airflow_provider_oss.core.credentials import Credentials


class OssHookRequirements:
    """The part of ``OssHook`` that its mixins call: the connection id, the client, bucket resolution, the log."""

    if TYPE_CHECKING:
        #: The Airflow connection id.
        oss_conn_id: str

        @property
        def log(self) -> Any:
            """The hook's logger (Airflow's ``LoggingMixin.log``)."""
            raise NotImplementedError

        def get_client(self, *, pool_size: int | None = None) -> OssClient:
            """The connection's client, cached per pool size."""
            raise NotImplementedError

        @property
        def _settings(self) -> ConnectionSettings:
            """What the connection says (credentials, client settings, default bucket)."""
            raise NotImplementedError

        @property
        def credentials(self) -> Credentials:
            """The connection's credentials."""
            raise NotImplementedError

        def get_client_config(self, **overrides: Any) -> ClientConfig:
            """The connection's client settings, with ``overrides`` winning."""
            raise NotImplementedError

        def resolve_bucket(self, bucket_name: str | None) -> str:
            """``bucket_name`` or the default bucket; ValueError when neither is set."""
            raise NotImplementedError

        def _locate(self, key: str, bucket_name: str | None) -> tuple[str, str]:
            """``(bucket, key)`` of a key or an ``oss://bucket/key`` URL."""
            raise NotImplementedError
