"""
What the upload clients (:mod:`benchmarks.clients`) and the download clients
(:mod:`benchmarks.download_clients`) share: the :class:`Target` of one transfer, each library's
client set up the same way for both directions, and the signed ``requests`` sessions of the
``limit`` clients.

Every library is imported lazily, so that a child process pays only for the library it runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

    from airflow_provider_oss.core.client import OssClient


@dataclass(frozen=True)
class Target:
    """
    Where and how to transfer.

    :param endpoint: the local server's ``http://127.0.0.1:PORT``.
    :param region: the server's region.
    :param access_key_id: the access key id.
    :param access_key_secret: its secret (never printed).
    :param bucket: the bucket.
    :param key: the object key.
    :param path: the local file (what an upload reads, where a download writes).
    :param part_size: bytes per part (per ranged GET for a download).
    :param parallelism: parts (ranges) in flight at once.
    """

    endpoint: str
    region: str
    access_key_id: str
    access_key_secret: str
    bucket: str
    key: str
    path: str
    part_size: int
    parallelism: int

    def __repr__(self) -> str:
        return f"Target(endpoint={self.endpoint!r}, bucket={self.bucket!r}, key={self.key!r}, path={self.path!r})"


def our_client(target: Target, **settings: Any) -> OssClient:
    """
    This project's client for ``target``, path-style, its pool sized for ``target.parallelism``.

    :param settings: more :class:`~airflow_provider_oss.core.client_config.ClientConfig` fields
        (retries, backoff...).
    """
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.upload import recommended_pool_size

    config = ClientConfig(
        region=target.region,
        endpoint=target.endpoint,
        addressing_style="path",
        pool_size=recommended_pool_size(target.parallelism),
        **settings,
    )
    return OssClient(Credentials(target.access_key_id, target.access_key_secret), config)


def prepare_v2() -> None:
    """Import what :func:`v2_client` needs."""
    import alibabacloud_oss_v2  # noqa: F401


def v2_client(target: Target) -> Any:
    """An ``alibabacloud_oss_v2`` client for ``target`` (V4 signatures, path-style)."""
    import alibabacloud_oss_v2 as oss

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        target.access_key_id, target.access_key_secret
    )
    cfg.region = target.region
    cfg.endpoint = target.endpoint
    cfg.use_path_style = True
    return oss.Client(cfg)


def prepare_oss2() -> None:
    """Import what :func:`oss2_bucket` needs."""
    import oss2  # noqa: F401


def oss2_bucket(target: Target) -> Any:
    """An ``oss2.Bucket`` for ``target`` with V4 signatures."""
    import oss2

    auth = oss2.AuthV4(target.access_key_id, target.access_key_secret)
    return oss2.Bucket(auth, target.endpoint, target.bucket, region=target.region)


def prepare_limit() -> None:
    """Import what :class:`SignedSessions` needs."""
    import requests  # noqa: F401

    import airflow_provider_oss.core.signing  # noqa: F401


class SignedSessions:
    """
    The HTTP of the ``limit`` clients: one plain ``requests`` session per thread (no environment
    settings), each request signed with V4 for ``target``'s object just before it is sent.

    :param target: the object and the access key.
    """

    def __init__(self, target: Target) -> None:
        from airflow_provider_oss.core.credentials import Credentials

        self.target = target
        self._credentials = Credentials(target.access_key_id, target.access_key_secret)
        self._local = threading.local()

    def send(
        self, method: str, url: str, query: list[tuple[str, str]], headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        """
        Sign and send one request to ``url`` (which must carry ``query``); raise for an error status.

        :param kwargs: more arguments of :meth:`requests.Session.request` (``data``, ``stream``).
        """
        import requests

        from airflow_provider_oss.core import signing

        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.trust_env = False
        signing.sign_v4(
            signing.SigningRequest(method, self.target.bucket, self.target.key, query, headers),
            self._credentials,
            self.target.region,
            datetime.now(timezone.utc),
        )
        session: requests.Session = self._local.session
        response = session.request(method, url, headers=headers, timeout=120, **kwargs)
        response.raise_for_status()
        return response
