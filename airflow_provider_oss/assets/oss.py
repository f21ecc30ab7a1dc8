"""
``oss://bucket/key`` assets: the URI check Airflow runs on every ``Asset("oss://...")`` and the
factory hook lineage uses (both registered under ``asset-uris`` in the provider info).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

from airflow_provider_oss.core.endpoints import validate_bucket_name
from airflow_provider_oss.core.errors import OssClientError

if TYPE_CHECKING:
    from airflow.sdk import Asset


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """
    Check and normalise an ``oss://`` asset URI: a valid bucket, no credentials, port, query or
    fragment; ``oss://bucket`` becomes ``oss://bucket/`` so that both spell one asset.

    :raises ValueError: naming what is wrong (Airflow reports it where the asset is declared).
    """
    if not uri.netloc:
        raise ValueError(f"Asset URI {uri.geturl()!r}: oss:// needs a bucket (oss://bucket/key).")
    if "@" in uri.netloc or ":" in uri.netloc:
        raise ValueError(
            f"Asset URI {uri.geturl()!r}: put no connection id, credentials or port in an oss:// asset URI."
        )
    try:
        validate_bucket_name(uri.netloc)
    except OssClientError as err:
        raise ValueError(f"Asset URI {uri.geturl()!r}: {err}") from None
    if uri.query or uri.fragment:
        raise ValueError(f"Asset URI {uri.geturl()!r}: an oss:// asset URI has no query or fragment.")
    return uri._replace(path=uri.path or "/")


def create_asset(*, bucket: str, key: str = "", extra: dict[str, Any] | None = None) -> Asset:
    """The asset for ``oss://bucket/key`` (``key`` empty or ending in ``/`` for a "folder")."""
    from airflow.sdk import Asset

    return Asset(uri=f"oss://{bucket}/{key.lstrip('/')}", extra=extra)
