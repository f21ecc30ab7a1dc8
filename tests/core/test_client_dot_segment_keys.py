"""
Keys with ``.``/``..`` path segments (legal in OSS) arrive exactly as signed: from our client, V4
and V1, path-style and virtual-hosted, and from oss2, on the local server. Plus CNAME
(custom domain) addressing, where the bucket is in neither the host nor the path.
"""

from __future__ import annotations

from typing import Any

import oss2
import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig, url_key
from airflow_provider_oss.testing import LocalOssServer

B = "test-bucket"
DOT_KEYS = ["a/../b", "./x", "d/..", "../f", "a/./b/../c", "..", ".", "x/.../y", "trailing/."]


def _client(server: LocalOssServer, **overrides: Any) -> OssClient:
    settings: dict[str, Any] = {"region": server.region, "endpoint": server.endpoint, "max_retries": 0}
    settings.update(overrides)
    return OssClient(server.credentials, ClientConfig(**settings))


def _virtual(server: LocalOssServer) -> dict[str, Any]:
    domain = server.virtual_host_domain
    return {
        "endpoint": f"http://{domain}:{server.port}",
        "resolve": {f"*.{domain}": "127.0.0.1", domain: "127.0.0.1"},
    }


@pytest.mark.parametrize("version", ["v4", "v1"])
@pytest.mark.parametrize("addressing", ["path", "virtual"])
def test_dot_segment_keys_arrive_as_signed(oss_server: LocalOssServer, version: str, addressing: str) -> None:
    overrides: dict[str, Any] = {"signature_version": version}
    if addressing == "virtual":
        overrides.update(_virtual(oss_server))
    oss_server.create_bucket("other-bucket")
    with _client(oss_server, **overrides) as client:
        for index, key in enumerate(DOT_KEYS):
            data = f"{key} #{index}".encode()
            client.put_object(B, key, data)
            assert oss_server.object_bytes(B, key) == data  # stored under exactly this key
            assert client.get_object(B, key) == data
            assert client.head_object(B, key).size == len(data)
        listed = sorted(info.key for info in client.list_objects_v2(B))
    assert listed == sorted(DOT_KEYS)
    assert [e["key"] for e in oss_server.request_log() if e["bucket"] == "other-bucket"] == []


def test_url_key_keeps_ordinary_keys_readable() -> None:
    assert url_key("dir/file name.txt") == "dir/file%20name.txt"
    assert url_key("a/../b") == "a%2F..%2Fb"
    assert url_key("..") == "%2E%2E"


# oss2 sends a key that is all dots unprotected ("/bucket/.." resolves to "/"), so it cannot be a
# third party for those two; every other dot-segment key it sends with %2F, as we do.
@pytest.mark.parametrize("key", [k for k in DOT_KEYS if k not in (".", "..")])
def test_the_sdks_and_our_client_agree_on_dot_segment_keys(oss_server: LocalOssServer, key: str) -> None:
    auth = oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret)
    bucket = oss2.Bucket(auth, oss_server.endpoint, B)
    bucket.put_object(key, b"from oss2")
    assert oss_server.object_bytes(B, key) == b"from oss2"
    with _client(oss_server) as client:
        assert client.get_object(B, key) == b"from oss2"
        client.put_object(B, key, b"from ours")
    assert bucket.get_object(key).read() == b"from ours"
    # (alibabacloud-oss-v2 cannot be a third party here: it sends such keys through requests
    # unprotected, so they reach any server resolved, e.g. GET /test-bucket/a/../b -> /test-bucket/b.)


def test_cname_addressing_puts_the_bucket_in_neither_host_nor_path() -> None:
    with LocalOssServer(buckets=("cname-bucket",), default_bucket="cname-bucket") as server:
        config = ClientConfig(
            region=server.region, endpoint=server.endpoint, addressing_style="cname", max_retries=0
        )
        target = config.build_target("cname-bucket", "dir/k.txt")
        assert target.url == f"{server.endpoint}/dir/k.txt"
        with OssClient(server.credentials, config) as client:
            client.put_object("cname-bucket", "dir/k.txt", b"via a custom domain")
            assert client.get_object("cname-bucket", "dir/k.txt") == b"via a custom domain"
        assert server.object_bytes("cname-bucket", "dir/k.txt") == b"via a custom domain"
        [put] = [e for e in server.request_log() if e["op"] == "PutObject"]
        assert (put["bucket"], put["key"]) == ("cname-bucket", "dir/k.txt")
    with pytest.raises(Exception, match="cname"):
        ClientConfig(region="cn-hangzhou", addressing_style="cnam")
