"""
A minimal signed-request helper for exercising the local server over real HTTP (its own tests,
debugging, demos): one ``requests`` call per OSS request, signed with
:mod:`airflow_provider_oss.core.signing`. It is not the project's OSS client (no retries, no
parsing beyond XML helpers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree

import requests

from airflow_provider_oss.core import signing
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.testing.server import LocalOssServer


def encode_query(query: Sequence[tuple[str, str]]) -> str:
    """Encode decoded query pairs the way they are signed (RFC 3986, a bare name for an empty value)."""
    return "&".join(
        f"{signing.uri_encode(n)}={signing.uri_encode(v)}" if v else signing.uri_encode(n) for n, v in query
    )


def parse_xml(response: requests.Response) -> ElementTree.Element:
    """The XML body of a response."""
    return ElementTree.fromstring(response.content)  # noqa: S314  # our own server's output


def error_code(response: requests.Response) -> str:
    """The OSS ``Code`` of an error response ("" when the body has none, as for HEAD)."""
    if not response.content:
        return ""
    return parse_xml(response).findtext("Code") or ""


class RawClient:
    """
    Sends signed requests to a :class:`LocalOssServer`.

    :param server: the server.
    :param credentials: the signing credentials (the server's main key when None).
    :param region: the signing region (the server's when None).
    :param version: ``v4`` or ``v1`` header signatures.
    :param virtual_hosted: address buckets by ``Host: <bucket>.<domain>:<port>`` instead of the path.
    """

    def __init__(
        self,
        server: LocalOssServer,
        *,
        credentials: Credentials | None = None,
        region: str | None = None,
        version: str = "v4",
        virtual_hosted: bool = False,
    ) -> None:
        if version not in ("v4", "v1"):
            raise ValueError("version must be 'v4' or 'v1'")
        self.server = server
        self.credentials = credentials or server.credentials
        self.region = region or server.region
        self.version = version
        self.virtual_hosted = virtual_hosted
        self.session = requests.Session()
        self.session.trust_env = False  # never send loopback traffic through a proxy

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, bucket: str | None, key: str | None, query: Sequence[tuple[str, str]] = ()) -> str:
        """The request URL (path-style unless virtual-hosted)."""
        path = "/"
        if bucket and not self.virtual_hosted:
            path += bucket + "/"
        if key:
            path += signing.uri_encode(key, safe="/")
        qs = encode_query(query)
        return self.server.endpoint + path + (f"?{qs}" if qs else "")

    def _host_header(self, bucket: str | None, headers: dict[str, str]) -> None:
        if self.virtual_hosted and bucket:
            headers["Host"] = self.server.virtual_host(bucket)

    def request(
        self,
        method: str,
        bucket: str | None = None,
        key: str | None = None,
        query: Sequence[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
        data: Any = b"",
        *,
        sign: bool = True,
        now: datetime | None = None,
        additional_headers: Iterable[str] = (),
        timeout: float = 30,
    ) -> requests.Response:
        """
        Send one request, signed just before it goes out.

        :param query: the decoded query pairs.
        :param headers: extra headers (``Content-Type``, ``x-oss-meta-*``...).
        :param data: the body.
        :param sign: False for an anonymous request.
        :param now: the signing time (now when None).
        :param additional_headers: extra header names to sign (V4), such as ``host``.
        """
        all_headers = dict(headers or {})
        self._host_header(bucket, all_headers)
        query = list(query)
        if sign:
            when = now or datetime.now(timezone.utc)
            if self.version == "v4":
                signing.sign_v4(
                    signing.SigningRequest(method, bucket, key, query, all_headers),
                    self.credentials,
                    self.region,
                    when,
                    additional_headers,
                )
            else:
                signing.sign_v1(
                    signing.SigningRequest(method, bucket, key, query, all_headers), self.credentials, when
                )
        return self.session.request(
            method, self.url(bucket, key, query), headers=all_headers, data=data, timeout=timeout
        )

    def presign(
        self,
        method: str,
        bucket: str | None,
        key: str | None,
        query: Sequence[tuple[str, str]] = (),
        *,
        expires: int = 300,
        now: datetime | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """A presigned URL (V4 or V1 by :attr:`version`)."""
        when = now or datetime.now(timezone.utc)
        signed_headers = dict(headers or {})
        if self.version == "v4":
            pairs = signing.presign_v4(
                signing.SigningRequest(method, bucket, key, list(query), signed_headers),
                self.credentials,
                self.region,
                when,
                expires,
            )
        else:
            pairs = signing.presign_v1(
                signing.SigningRequest(method, bucket, key, list(query), signed_headers),
                self.credentials,
                when,
                expires,
            )
        return self.url(bucket, key, pairs)

    def get_presigned(
        self, url: str, method: str = "GET", bucket: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send a request to a presigned URL (with the virtual-hosted ``Host`` when needed)."""
        headers: dict[str, str] = dict(kwargs.pop("headers", None) or {})
        self._host_header(bucket, headers)
        return self.session.request(method, url, headers=headers, timeout=30, **kwargs)
