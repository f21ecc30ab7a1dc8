"""
:class:`ClientConfig`, the settings of an :class:`~airflow_provider_oss.core.client.OssClient`,
and :class:`RequestTarget`, where one request goes.

A URL is built from the *decoded* bucket, key and query pairs with the same encoding the signer
uses (:func:`~airflow_provider_oss.core.signing.uri_encode`), so that what is sent is exactly what
was signed.
"""

from __future__ import annotations

import ipaddress
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from airflow_provider_oss import __version__
from airflow_provider_oss.core.endpoints import (
    ADDRESSING_STYLES,
    SCHEMES,
    SIGNATURE_VERSIONS,
    default_endpoint,
    encode_query,
    is_ip_or_localhost,
    is_valid_host,
    normalize_region,
    split_host_port,
)
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.signing import uri_encode

DEFAULT_USER_AGENT = f"airflow-provider-oss/{__version__} python/{platform.python_version()}"


@dataclass(frozen=True)
class RequestTarget:
    """
    Where to send a request.

    :param url: the URL to connect to (its host is an IP when ``resolve`` mapped it).
    :param host_header: the ``Host`` header to send when the URL's host was resolved, else None.
    """

    url: str
    host_header: str | None = None


#: ``addressing_style`` of a custom domain (CNAME) bound to one bucket.
CNAME_STYLE = "cname"


def has_dot_segment(key: str) -> bool:
    """Whether a key has a ``.`` or ``..`` path segment (``a/../b``, ``./x``, ``d/..``, ``..``)."""
    return any(segment in (".", "..") for segment in key.split("/"))


def url_key(key: str) -> str:
    """
    A key as it goes in a URL path, arriving exactly as signed. ``/`` stays unless the key has a
    ``.``/``..`` segment, which HTTP clients (urllib3, under requests) would resolve away
    (``a/../b`` -> ``b``, or another bucket for ``../f``): then every ``/`` is sent as ``%2F``, as oss2
    does, and a key that is all dots as ``%2E`` (decoded after that resolution).
    """
    if not has_dot_segment(key):
        return uri_encode(key, safe="/")
    if key in (".", ".."):
        return "%2E" * len(key)
    return uri_encode(key, safe="")


@dataclass(frozen=True)
class ClientConfig:
    """
    Settings of an :class:`~airflow_provider_oss.core.client.OssClient`.

    :param region: the region id, such as ``cn-hangzhou`` (``oss-cn-hangzhou`` is accepted).
    :param endpoint: a host (``oss-cn-hangzhou.aliyuncs.com``, ``oss-local.test:9000``) or URL
        (``http://127.0.0.1:9000``); derived from the region when None.
    :param internal: derive the VPC-internal endpoint (``oss-<region>-internal.aliyuncs.com``).
    :param scheme: ``https`` (default) or ``http``; taken from the endpoint URL when it has one.
    :param addressing_style: ``virtual`` (``bucket.endpoint/key``, what real OSS requires),
        ``path`` (``endpoint/bucket/key``; an IP or ``localhost`` endpoint always uses it unless
        ``cname``) or ``cname`` (a custom domain bound to one bucket: ``endpoint/key``, the bucket is
        not in the host or path; requests are still signed for the bucket, as OSS checks them).
    :param signature_version: ``v4`` (default) or ``v1`` (legacy, for old buckets).
    :param connect_timeout: seconds to wait for a TCP/TLS connection.
    :param read_timeout: seconds to wait for the server between bytes of the response.
    :param max_retries: retries after the first attempt, for connection errors, timeouts, 5xx and 429.
    :param backoff_base: the first backoff ceiling in seconds (doubling per retry, full jitter).
    :param backoff_max: the largest backoff in seconds.
    :param pool_size: the most connections kept open to a host (set it to the upload parallelism).
    :param verify: verify TLS certificates (True), not (False: insecure), or a CA bundle path.
    :param resolve: host name -> IP address, like ``curl --resolve``: the connection goes to the IP
        while the ``Host`` header (and TLS server name) carries the name. A key ``*.domain``
        matches every sub-domain (every bucket of a virtual-hosted endpoint).
    :param user_agent: the ``User-Agent`` header.
    :param require_crc64: a write (PutObject, UploadPart, CompleteMultipartUpload) whose answer has
        no ``x-oss-hash-crc64ecma``, and a read whose answer has no ``x-oss-request-id`` (or, for a
        whole object, no ``x-oss-hash-crc64ecma`` to check its bytes against), is an error, since OSS
        always sends them and an answer without them did not come from OSS (default). False only
        for an OSS-compatible server that sends neither: each such write and read is then logged as
        unverified. A ranged read must be answered with exactly the range asked either way.
    """

    region: str
    endpoint: str | None = None
    internal: bool = False
    scheme: str | None = None
    addressing_style: str = "virtual"
    signature_version: str = "v4"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    pool_size: int = 10
    verify: bool | str = True
    resolve: Mapping[str, str] | None = field(default=None, hash=False)
    user_agent: str = DEFAULT_USER_AGENT
    require_crc64: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "region", normalize_region(self.region))
        host, scheme = _endpoint_and_scheme(self.endpoint, self.scheme, self.region, self.internal)
        set_(self, "endpoint", host)
        set_(self, "scheme", scheme)
        set_(self, "addressing_style", _addressing_style(self.addressing_style))
        set_(self, "signature_version", _signature_version(self.signature_version))
        _check_numbers(self)
        _check_verify(self.verify)
        if self.resolve is not None:
            set_(self, "resolve", _resolve_table(self.resolve))
        if not isinstance(self.user_agent, str) or not self.user_agent or "\n" in self.user_agent:
            raise OssClientError("user_agent must be a non-empty single-line string.")
        if not isinstance(self.require_crc64, bool):
            raise OssClientError(
                f"require_crc64 must be True (default: a write answered without a CRC-64 fails) or False "
                f"(for an OSS-compatible server that sends none); got {self.require_crc64!r}."
            )

    # -- derived facts ---------------------------------------------------------------------------

    @property
    def endpoint_host(self) -> str:
        """The endpoint as ``host[:port]``."""
        assert self.endpoint is not None  # set by __post_init__
        return self.endpoint

    @property
    def endpoint_url(self) -> str:
        """The endpoint as ``scheme://host[:port]`` (for messages and logs)."""
        return f"{self.scheme}://{self.endpoint_host}"

    @property
    def effective_addressing_style(self) -> str:
        """
        ``cname`` when configured; else ``path`` for an IP or ``localhost`` endpoint (no bucket
        sub-domains there); else the configured style.
        """
        if self.addressing_style == CNAME_STYLE:
            return CNAME_STYLE
        host, _ = split_host_port(self.endpoint_host)
        return "path" if is_ip_or_localhost(host) else self.addressing_style

    def host_for(self, bucket: str | None) -> str:
        """The ``host[:port]`` a request for ``bucket`` is addressed to (``bucket.endpoint`` when virtual-hosted)."""
        if bucket and self.effective_addressing_style == "virtual":
            return f"{bucket}.{self.endpoint_host}"
        return self.endpoint_host

    def resolved_address(self, host: str) -> str | None:
        """The IP that ``resolve`` maps a host name to, or None."""
        if not self.resolve:
            return None
        name, _ = split_host_port(host)
        name = name.lower()
        if host.lower() in self.resolve:
            return self.resolve[host.lower()]
        if name in self.resolve:
            return self.resolve[name]
        labels = name.split(".")
        for i in range(1, len(labels)):
            wildcard = "*." + ".".join(labels[i:])
            if wildcard in self.resolve:
                return self.resolve[wildcard]
        return None

    def build_target(
        self,
        bucket: str | None,
        key: str | None,
        query: Sequence[tuple[str, str]] = (),
        *,
        apply_resolve: bool = True,
    ) -> RequestTarget:
        """
        The URL (and ``Host`` header) of a request.

        :param bucket: the bucket, or None for a service-level request (ListBuckets).
        :param key: the object key, or None for a bucket-level request.
        :param query: decoded ``(name, value)`` pairs; a flag such as ``uploads`` has the value ``""``.
        :param apply_resolve: connect to the ``resolve`` IP (False for presigned URLs handed to others).
        """
        host = self.host_for(bucket)
        path = "/"
        if bucket and self.effective_addressing_style == "path":
            path += bucket + "/"
        if key:
            path += url_key(key)
        url_host = host
        host_header = None
        address = self.resolved_address(host) if apply_resolve else None
        if address is not None:
            _, port = split_host_port(host)
            url_host = (f"[{address}]" if ":" in address else address) + port
            host_header = host
        url = f"{self.scheme}://{url_host}{path}"
        if query:
            url += "?" + encode_query(query)
        return RequestTarget(url, host_header)


# -- the checks behind ClientConfig.__post_init__, one setting each -------------------------------


def _endpoint_and_scheme(
    given_endpoint: str | None, given_scheme: str | None, region: str, internal: bool
) -> tuple[str, str]:
    """The endpoint as ``host[:port]`` and the scheme, from an endpoint host or URL (or the region)."""
    scheme = given_scheme.lower().strip() if isinstance(given_scheme, str) else None
    if scheme is not None and scheme not in SCHEMES:
        raise OssClientError(f"Invalid scheme {given_scheme!r}: use 'https' or 'http'.")
    endpoint = given_endpoint.strip() if isinstance(given_endpoint, str) else ""
    if not endpoint:
        endpoint = default_endpoint(region, internal)
    elif "://" in endpoint:
        parts = urlsplit(endpoint)
        url_scheme = parts.scheme.lower()
        if url_scheme not in SCHEMES:
            raise OssClientError(
                f"Invalid endpoint {given_endpoint!r}: the URL scheme must be 'https' or 'http'."
            )
        if scheme is not None and scheme != url_scheme:
            raise OssClientError(
                f"The endpoint {given_endpoint!r} says {url_scheme!r} but scheme={given_scheme!r}: "
                "give one or make them agree."
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise OssClientError(
                f"Invalid endpoint {given_endpoint!r}: give only scheme://host[:port], without a path, "
                "query or user info (the bucket is a separate argument)."
            )
        scheme = url_scheme
        endpoint = parts.netloc
    endpoint = endpoint.rstrip("/").lower()
    if not is_valid_host(endpoint):
        raise OssClientError(
            f"Invalid endpoint {given_endpoint!r}: expected a host such as 'oss-cn-hangzhou.aliyuncs.com', "
            "'host:port' or a URL such as 'http://127.0.0.1:9000'."
        )
    return endpoint, scheme or "https"


def _addressing_style(given: str) -> str:
    style = str(given).strip().lower()
    if style not in (*ADDRESSING_STYLES, CNAME_STYLE):
        raise OssClientError(
            f"Unknown addressing_style {given!r}: use 'virtual' (bucket.endpoint, "
            "required by real OSS), 'path' (endpoint/bucket, for IP endpoints) or 'cname' (a custom "
            "domain bound to the bucket)."
        )
    return style


def _signature_version(given: str) -> str:
    version = str(given).strip().lower()
    if version in ("4", "1"):
        version = "v" + version
    if version not in SIGNATURE_VERSIONS:
        raise OssClientError(f"Unknown signature_version {given!r}: use 'v4' (default) or 'v1'.")
    return version


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _is_count(value: object, minimum: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


def _check_numbers(config: ClientConfig) -> None:
    for name in ("connect_timeout", "read_timeout"):
        value = getattr(config, name)
        if not _is_number(value) or not value > 0:
            raise OssClientError(f"{name} must be a positive number of seconds; got {value!r}.")
    for name in ("backoff_base", "backoff_max"):
        value = getattr(config, name)
        if not _is_number(value) or value < 0:
            raise OssClientError(f"{name} must be a number of seconds >= 0; got {value!r}.")
    if not _is_count(config.max_retries, 0):
        raise OssClientError(
            f"max_retries must be an integer >= 0 (retries after the first attempt); got {config.max_retries!r}."
        )
    if not _is_count(config.pool_size, 1):
        raise OssClientError(f"pool_size must be an integer >= 1; got {config.pool_size!r}.")


def _check_verify(verify: bool | str) -> None:
    if isinstance(verify, str):
        if not verify or not os.path.exists(verify):
            raise OssClientError(
                f"verify={verify!r}: the CA bundle path does not exist; give an existing file or "
                "directory, True (system CAs) or False (no verification, insecure)."
            )
    elif not isinstance(verify, bool):
        raise OssClientError(f"verify must be True, False or a CA bundle path; got {verify!r}.")


def _resolve_table(resolve: Mapping[str, str]) -> Mapping[str, str]:
    resolved: dict[str, str] = {}
    for name, address in dict(resolve).items():
        try:
            ipaddress.ip_address(str(address).strip("[]"))
        except ValueError:
            raise OssClientError(
                f"resolve[{name!r}] = {address!r} is not an IP address: map host names to IPs, "
                "like curl --resolve."
            ) from None
        resolved[str(name).lower()] = str(address).strip("[]")
    return MappingProxyType(resolved)
