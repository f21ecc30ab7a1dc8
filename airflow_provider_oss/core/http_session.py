"""
The HTTP session under :class:`~airflow_provider_oss.core.transport.Transport`: one
:class:`requests.Session` with a connection pool, no cookies, no ``~/.netrc``, no redirects, TLS
names that follow a ``resolve`` override, and the environment's proxies and CA bundle read once per
host.
"""

from __future__ import annotations

import http.cookiejar
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_oss.core.client_config import ClientConfig


class _ResolvingAdapter(HTTPAdapter):
    """
    An adapter that, for an HTTPS URL whose host was replaced by a ``resolve`` IP, uses the name in
    the ``Host`` header for TLS SNI and certificate checks (like ``curl --resolve``).
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        host_params, typed_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(typed_kwargs)
        host_header = request.headers.get("Host")
        if host_params.get("scheme") == "https" and host_header:
            name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
            name = name.strip("[]")
            if name and name != host_params.get("host"):
                pool_kwargs["server_hostname"] = name
                if verify is not False:
                    pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


class PooledSession:
    """
    Sends prepared requests over pooled connections, always streamed (the caller reads the body,
    with a bound) and without following redirects.

    :param config: the client settings (pool size, timeouts, ``verify``).
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        session = requests.Session()
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = _ResolvingAdapter(
            pool_connections=16, pool_maxsize=config.pool_size, max_retries=0, pool_block=False
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session
        self.adapter = adapter
        self._environments: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def pool_maxsize(self) -> int:
        """The connection pool size per host."""
        return int(self.adapter._pool_maxsize)  # type: ignore[attr-defined]

    def send(self, prepared: requests.PreparedRequest) -> requests.Response:
        """
        Send one prepared request with the configured timeouts; the body is left unread.

        :raises requests.exceptions.RequestException: as requests raises it (the caller classifies it).
        """
        assert prepared.url is not None
        return self._session.send(
            prepared,
            timeout=(self.config.connect_timeout, self.config.read_timeout),
            stream=True,
            allow_redirects=False,
            **self._environment(prepared.url, True),
        )

    def _environment(self, url: str, stream: bool) -> dict[str, Any]:
        """
        The proxies and CA bundle that the environment gives requests to ``url``'s host, read once
        per client and host (requests would read the environment, and no_proxy, on every request:
        about a millisecond of CPU each).
        """
        parts = urlsplit(url)
        host = (parts.scheme, parts.netloc)
        found = self._environments.get(host)
        if found is None:
            settings = self._session.merge_environment_settings(url, {}, stream, self.config.verify, None)
            found = {"proxies": settings["proxies"], "verify": settings["verify"], "cert": None}
            self._environments[host] = found
        return found

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()


def connection_reason(err: Exception, read_timeout: float) -> str:
    """The retry reason of a failed attempt that got no answer (timeout, broken connection...)."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return "ConnectTimeout (no connection within connect_timeout)"
    if isinstance(err, requests.exceptions.ReadTimeout):
        return f"ReadTimeout (no data for {read_timeout} s: raise read_timeout if the server is slow)"
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return "ConnectionBroken (the response was cut off)"
    return "ConnectionError"
