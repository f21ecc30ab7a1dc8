"""TLS against the local server over HTTPS: verification on by default, a CA bundle option, a warning when off."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.errors import OssConnectionError
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.tls import make_self_signed_cert


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LocalOssServer, str]]:
    cert, key = make_self_signed_cert(str(tmp_path))
    with LocalOssServer(buckets=("test-bucket",), tls_cert=cert, tls_key=key) as server:
        yield server, cert


def _client(server: LocalOssServer, **overrides: object) -> OssClient:
    settings: dict[str, object] = {"region": server.region, "endpoint": server.endpoint, "max_retries": 0}
    settings.update(overrides)
    return OssClient(server.credentials, ClientConfig(**settings))  # type: ignore[arg-type]


def test_endpoint_is_https(tls_server: tuple[LocalOssServer, str]) -> None:
    server, _ = tls_server
    assert server.endpoint.startswith("https://127.0.0.1:")
    assert _client(server).config.verify is True


def test_untrusted_certificate_is_refused_by_default(tls_server: tuple[LocalOssServer, str]) -> None:
    server, _ = tls_server
    with pytest.raises(OssConnectionError, match="CA bundle") as err:
        _client(server).put_object("test-bucket", "k", b"data")
    assert server.access_key_secret not in str(err.value)
    assert server.request_log() == [], "nothing reached the server over an unverified connection"


def test_ca_bundle_option_trusts_the_server(tls_server: tuple[LocalOssServer, str]) -> None:
    server, cert = tls_server
    client = _client(server, verify=cert)
    client.put_object("test-bucket", "over/tls.bin", b"secret payload")
    assert server.object_bytes("test-bucket", "over/tls.bin") == b"secret payload"
    assert client.get_object("test-bucket", "over/tls.bin") == b"secret payload"


def test_verification_off_works_and_warns(
    tls_server: tuple[LocalOssServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = tls_server
    caplog.set_level(logging.WARNING)
    client = _client(server, verify=False)
    client.put_object("test-bucket", "insecure.bin", b"x")
    assert server.object_bytes("test-bucket", "insecure.bin") == b"x"
    assert any("TLS certificate verification is disabled" in r.getMessage() for r in caplog.records)


def test_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the CA bundle path does not exist"):
        ClientConfig(region="cn-hangzhou", verify=str(tmp_path / "nope.pem"))
