"""
Code written for fsspec's ``oss`` protocol (ossfs's options: key, secret, token, endpoint;
``fsspec.filesystem``, ``fsspec.open``, pandas' ``storage_options``, ``UPath``) runs on
``OssFileSystem`` against the local OSS server; what it cannot do fails naming the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from upath import UPath

from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.fs.filesystem import OssFileSystem
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"
DOMAIN = "oss-cn-hangzhou.aliyuncs.com"


@pytest.fixture
def aliyun_like_server() -> Iterator[LocalOssServer]:
    """A local server that answers virtual-hosted requests for OSS's own Hangzhou domain."""
    with LocalOssServer(buckets=(BUCKET,), virtual_host_domain=DOMAIN) as server:
        yield server


def _ossfs_options(server: LocalOssServer) -> dict[str, Any]:
    """ossfs's options for the server; ``resolve`` stands in for DNS (no network in tests)."""
    return {
        "key": server.credentials.access_key_id,
        "secret": server.credentials.access_key_secret,
        "endpoint": f"http://{DOMAIN}:{server.port}",
        "client_options": {"resolve": {f"*.{DOMAIN}": "127.0.0.1", DOMAIN: "127.0.0.1"}},
    }


def test_the_oss_protocol_is_this_filesystem() -> None:
    assert fsspec.get_filesystem_class("oss") is OssFileSystem


def test_fsspec_filesystem_with_ossfs_options(aliyun_like_server: LocalOssServer) -> None:
    fs = fsspec.filesystem("oss", **_ossfs_options(aliyun_like_server))
    assert isinstance(fs, OssFileSystem)
    assert fs.client.config.region == "cn-hangzhou"  # taken from the endpoint, as ossfs needs no region
    fs.pipe_file(f"{BUCKET}/data/a.csv", b"id,v\n1,2\n")
    assert aliyun_like_server.object_bytes(BUCKET, "data/a.csv") == b"id,v\n1,2\n"
    assert fs.ls(f"{BUCKET}/data", detail=False) == [f"{BUCKET}/data/a.csv"]
    assert fs.cat(f"oss://{BUCKET}/data/a.csv") == b"id,v\n1,2\n"
    assert fs.client.config.effective_addressing_style == "virtual"  # as ossfs, for OSS's domains


def test_storage_options_as_pandas_passes_them(aliyun_like_server: LocalOssServer) -> None:
    """pandas opens ``oss://`` URLs with ``fsspec.open(url, mode, **storage_options)``."""
    storage_options = _ossfs_options(aliyun_like_server)
    with fsspec.open(f"oss://{BUCKET}/out/table.csv", "wt", **storage_options) as f:
        f.write("id,v\n3,4\n")
    assert aliyun_like_server.object_bytes(BUCKET, "out/table.csv") == b"id,v\n3,4\n"
    with fsspec.open(f"oss://{BUCKET}/out/table.csv", "rt", **storage_options) as f:
        assert f.read() == "id,v\n3,4\n"
    path = UPath(f"oss://{BUCKET}/out/table.csv", **storage_options)
    assert path.read_bytes() == b"id,v\n3,4\n"
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]


def test_sts_token() -> None:
    with LocalOssServer(buckets=(BUCKET,), security_token="sts-token-1") as server:
        options = {
            "key": server.credentials.access_key_id,
            "secret": server.credentials.access_key_secret,
            "endpoint": server.endpoint,
            "region": server.region,  # a loopback endpoint names no region
        }
        with pytest.raises(PermissionError):
            fsspec.filesystem("oss", **options).pipe_file(f"{BUCKET}/k", b"x")
        fsspec.filesystem("oss", token="sts-token-1", **options).pipe_file(f"{BUCKET}/k", b"x")
        assert server.object_bytes(BUCKET, "k") == b"x"


def test_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ENDPOINT", "https://oss-cn-shanghai.aliyuncs.com")
    fs = OssFileSystem(key="id", secret="secret")
    assert (fs.client.config.region, fs.client.config.endpoint_url) == (
        "cn-shanghai",
        "https://oss-cn-shanghai.aliyuncs.com",
    )


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com"},
            OssClientError,
            "anonymous access is not supported",
        ),
        ({"key": "id", "secret": "s"}, OssClientError, r"needs endpoint="),
        ({"key": "id", "secret": "s", "endpoint": "http://127.0.0.1:9"}, OssClientError, r"pass region="),
        (
            {"key": "id", "secret": "s", "endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "anon": True},
            TypeError,
            r"unknown option\(s\) \['anon'\]",
        ),
        (
            {
                "key": "id",
                "secret": "s",
                "endpoint": "https://oss-cn-hangzhou.aliyuncs.com",
                "client_options": {"x": 1},
            },
            OssClientError,
            "client_options",
        ),
        (
            {
                "key": "id",
                "secret": "s",
                "endpoint": "e",
                "block_size": 200_000,
                "default_block_size": 200_000,
            },
            TypeError,
            "not both",
        ),
        (
            {
                "key": "id",
                "secret": "s",
                "endpoint": "https://oss-cn-hangzhou.aliyuncs.com",
                "default_block_size": 0,
            },
            OssClientError,
            "block_size must be an int of at least 102400",
        ),
    ],
    ids=[
        "no-key",
        "no-endpoint",
        "no-region",
        "unknown-option",
        "bad-client-option",
        "two-block-sizes",
        "zero-block",
    ],
)
def test_what_cannot_work_fails_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    monkeypatch.delenv("OSS_ENDPOINT", raising=False)
    with pytest.raises(error, match=match):
        fsspec.filesystem("oss", **options)


def test_secret_never_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSS_ENDPOINT", raising=False)
    with pytest.raises(OssClientError) as caught:
        OssFileSystem(key="id", secret="the-secret-value", endpoint="http://127.0.0.1:9")
    assert "the-secret-value" not in str(caught.value)
