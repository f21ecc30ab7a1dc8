"""
ossfs's constructor options for :class:`~airflow_provider_oss.fs.filesystem.OssFileSystem`, so code
written for fsspec's ``oss`` protocol (``fsspec.filesystem("oss", key=..., secret=..., endpoint=...)``,
pandas' ``storage_options``) runs on this provider's client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.connection_settings import region_from_endpoint
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import OssClientError

#: ossfs reads the endpoint from this environment variable when none is given.
ENDPOINT_ENV = "OSS_ENDPOINT"


def client_from_options(
    *,
    endpoint: str | None,
    key: str | None,
    secret: str | None,
    token: str | None,
    region: str | None,
    client_options: Mapping[str, Any] | None,
) -> OssClient:
    """
    A client from ossfs-style options.

    :param endpoint: ``https://oss-cn-hangzhou.aliyuncs.com`` or a host; ``$OSS_ENDPOINT`` when None.
    :param key: the AccessKeyId.
    :param secret: the AccessKeySecret.
    :param token: the STS security token, for temporary credentials.
    :param region: the region to sign with; taken from the endpoint when it names one.
    :param client_options: other :class:`ClientConfig` fields (``addressing_style``,
        ``signature_version``, timeouts...).
    :raises OssClientError: naming the option to set, when one is missing or malformed.
    """
    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    if not key or not secret:
        raise OssClientError(
            "OssFileSystem needs key= and secret= (an AccessKeyId and AccessKeySecret; token= for STS "
            "credentials), or client= (e.g. OssHook(conn_id).get_client()): anonymous access is not supported."
        )
    if endpoint is None:
        raise OssClientError(
            f"OssFileSystem needs endpoint= (e.g. 'https://oss-cn-hangzhou.aliyuncs.com') or ${ENDPOINT_ENV}."
        )
    region = region or region_from_endpoint(endpoint)
    if region is None:
        raise OssClientError(
            f"The endpoint {endpoint!r} names no region: pass region= (e.g. 'cn-hangzhou') to sign requests."
        )
    settings = dict(client_options or {})
    settings.update(region=region, endpoint=endpoint)
    try:
        config = ClientConfig(**settings)
    except TypeError as err:
        raise OssClientError(f"OssFileSystem client_options: {err}") from None
    return OssClient(Credentials(key, secret, token or None), config)
