"""
OssClient object operations against the local OSS server over real HTTP: every signature version
and addressing style, STS tokens, downloads (with resume and CRC checks), copy, existence checks,
bucket calls and presigned URLs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_oss.core import Credentials, ObjectOptions, OssClient
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.errors import (
    CrcMismatchError,
    OssAuthError,
    OssClientError,
    OssNotFoundError,
    OssServiceError,
)
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.server import LocalServerControlError
from tests.upload_support import make_client

BUCKET = "test-bucket"
KEYS = ["plain.txt", "dir/my file+1.txt", "中文/文件 ~!@$&'()*,;=.bin", "a%2Fb/percent%20literal"]


def ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


STYLES: dict[str, dict[str, Any]] = {
    "v4-path": {"signature_version": "v4"},
    "v1-path": {"signature_version": "v1"},
    "v4-virtual": {"signature_version": "v4", "virtual": True},
    "v1-virtual": {"signature_version": "v1", "virtual": True},
}


@pytest.fixture(params=sorted(STYLES))
def client(request: pytest.FixtureRequest, oss_server_module: LocalOssServer) -> Iterator[OssClient]:
    """A client of each signature version and addressing style."""
    style = dict(STYLES[request.param])
    server = oss_server_module
    overrides: dict[str, Any] = {"signature_version": style["signature_version"]}
    if style.get("virtual"):
        # Virtual-hosted requests go to the loopback server under the names it recognises; only
        # these names resolve, so a path-style request could not reach it.
        overrides["addressing_style"] = "virtual"
        overrides["endpoint"] = f"http://{server.virtual_host_domain}:{server.port}"
        overrides["resolve"] = {
            f"{BUCKET}.{server.virtual_host_domain}": "127.0.0.1",
            server.virtual_host_domain: "127.0.0.1",
        }
    with make_client(server, **overrides) as made:
        yield made


class TestRoundTrips:
    @pytest.mark.parametrize("key", KEYS)
    def test_put_get_head_delete(
        self, client: OssClient, oss_server_module: LocalOssServer, key: str
    ) -> None:
        data = os.urandom(70_000)
        options = ObjectOptions(
            content_type="application/x-test",
            metadata={"Author": "alice", "run-id": "42"},
            cache_control="no-cache",
            content_disposition='attachment; filename="x.bin"',
        )
        result = client.put_object(BUCKET, key, memoryview(data), options=options)
        assert result.crc64 == crc64(data)
        assert result.request_id
        assert oss_server_module.object_bytes(BUCKET, key) == data

        assert client.get_object(BUCKET, key) == data
        assert client.get_object(BUCKET, key, byte_range=(10, 19)) == data[10:20]
        info = client.head_object(BUCKET, key)
        assert (info.key, info.size, info.crc64, info.etag) == (key, len(data), crc64(data), result.etag)
        assert info.content_type == "application/x-test"
        assert info.metadata == {"author": "alice", "run-id": "42"}
        assert info.storage_class == "Standard"
        assert info.last_modified is not None
        assert client.object_exists(BUCKET, key)

        client.delete_object(BUCKET, key)
        assert not client.object_exists(BUCKET, key)
        with pytest.raises(LocalServerControlError, match="404"):
            oss_server_module.object_bytes(BUCKET, key)

    def test_bytearray_and_bytes_bodies(self, client: OssClient, oss_server_module: LocalOssServer) -> None:
        client.put_object(BUCKET, "body/bytearray", bytearray(b"abc" * 1000))
        client.put_object(BUCKET, "body/bytes", b"xyz")
        assert oss_server_module.object_bytes(BUCKET, "body/bytearray") == b"abc" * 1000
        assert oss_server_module.object_bytes(BUCKET, "body/bytes") == b"xyz"

    def test_copy_keeps_or_replaces_metadata(
        self, client: OssClient, oss_server_module: LocalOssServer
    ) -> None:
        data = b"copy me " * 100
        client.put_object(BUCKET, "copy/src file", data, options=ObjectOptions(metadata={"origin": "src"}))
        kept = client.copy_object(BUCKET, "copy/src file", BUCKET, "copy/dst kept")
        assert kept.etag and kept.last_modified is not None
        assert oss_server_module.object_bytes(BUCKET, "copy/dst kept") == data
        assert client.head_object(BUCKET, "copy/dst kept").metadata == {"origin": "src"}
        client.copy_object(
            BUCKET,
            "copy/src file",
            BUCKET,
            "copy/dst replaced",
            options=ObjectOptions(content_type="text/plain", metadata={"origin": "copy"}),
        )
        replaced = client.head_object(BUCKET, "copy/dst replaced")
        assert (replaced.metadata, replaced.content_type) == ({"origin": "copy"}, "text/plain")
        assert oss_server_module.object_bytes(BUCKET, "copy/dst replaced") == data

    def test_bucket_calls(self, client: OssClient) -> None:
        assert BUCKET in client.list_buckets()
        info = client.get_bucket_info(BUCKET)
        assert info["Name"] == BUCKET
        assert info["Region"] == "cn-hangzhou"
        assert isinstance(info["Owner"], dict)


class TestDownloads:
    def test_get_object_to_file_streams_and_verifies(
        self, oss_server_module: LocalOssServer, tmp_path: Path
    ) -> None:
        data = os.urandom(300_000)
        with make_client(oss_server_module) as client:
            client.put_object(BUCKET, "dl/file.bin", data)
            target = tmp_path / "out.bin"
            info = client.get_object_to_file(BUCKET, "dl/file.bin", target, chunk_size=64 * 1024)
        assert target.read_bytes() == data
        assert (info.size, info.crc64) == (len(data), crc64(data))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]

    def test_broken_download_resumes_with_a_range(self, oss_server: LocalOssServer, tmp_path: Path) -> None:
        data = os.urandom(300_000)
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "dl/resume.bin", data)
            oss_server.add_fault("GetObject", "reset", after_bytes=100_000)
            info = client.get_object_to_file(
                BUCKET, "dl/resume.bin", tmp_path / "r.bin", chunk_size=32 * 1024
            )
            assert client.transport.retry_count == 1
            oss_server.add_fault("GetObject", "reset", after_bytes=5000)
            assert client.get_object(BUCKET, "dl/resume.bin") == data
        assert (tmp_path / "r.bin").read_bytes() == data
        assert info.crc64 == crc64(data)
        gets = ops(oss_server, "GetObject")
        assert [g["range"] is None for g in gets] == [True, False, True, False]
        # Resumed from what had arrived before the reset (a TCP reset may drop unread bytes).
        for resumed, sent in ((gets[1], 100_000), (gets[3], 5000)):
            match = re.fullmatch(r"bytes=(\d+)-", resumed["range"])
            assert match is not None
            assert 0 <= int(match.group(1)) <= sent

    def test_bad_crc_download_fails_and_leaves_no_file(
        self, oss_server: LocalOssServer, tmp_path: Path
    ) -> None:
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "dl/bad.bin", b"123456789")
            oss_server.add_fault("GetObject", "bad_crc")
            with pytest.raises(CrcMismatchError) as info:
                client.get_object_to_file(BUCKET, "dl/bad.bin", tmp_path / "bad.bin")
            assert info.value.local_crc == crc64(b"123456789")
            assert info.value.server_crc != info.value.local_crc
            oss_server.add_fault("GetObject", "bad_crc")
            with pytest.raises(CrcMismatchError):
                client.get_object(BUCKET, "dl/bad.bin")
        assert list(tmp_path.iterdir()) == []

    def test_range_requests(self, oss_server_module: LocalOssServer) -> None:
        with make_client(oss_server_module) as client:
            client.put_object(BUCKET, "dl/range", b"0123456789")
            assert client.get_object(BUCKET, "dl/range", byte_range=(0, 0)) == b"0"
            assert client.get_object(BUCKET, "dl/range", byte_range=(7, 100)) == b"789"
            with pytest.raises(OssServiceError) as info:
                client.get_object(BUCKET, "dl/range", byte_range=(20, 30))
            assert (info.value.status, info.value.code) == (416, "InvalidRange")
            with pytest.raises(OssClientError, match="byte_range"):
                client.get_object(BUCKET, "dl/range", byte_range=(5, 2))

    def test_download_into_a_missing_directory_is_refused(
        self, oss_server_module: LocalOssServer, tmp_path: Path
    ) -> None:
        with make_client(oss_server_module) as client, pytest.raises(OssClientError, match="does not exist"):
            client.get_object_to_file(BUCKET, "any", tmp_path / "nope" / "f")


class TestUploadsCrc:
    def test_bad_crc_on_put_raises(self, oss_server: LocalOssServer) -> None:
        oss_server.add_fault("PutObject", "bad_crc")
        with make_client(oss_server) as client, pytest.raises(CrcMismatchError) as info:
            client.put_object(BUCKET, "crc/put", b"hello")
        assert info.value.local_crc == crc64(b"hello")
        assert info.value.key == "crc/put"
        assert info.value.part_number is None

    def test_given_crc_is_compared_with_the_server(self, oss_server: LocalOssServer) -> None:
        with make_client(oss_server) as client:
            assert client.put_object(BUCKET, "crc/given", b"abc", crc64=crc64(b"abc")).crc64 == crc64(b"abc")
            with pytest.raises(CrcMismatchError):
                client.put_object(BUCKET, "crc/given", b"abc", crc64=12345)


class TestExistence:
    def test_missing_bucket_is_not_a_missing_key(self, oss_server_module: LocalOssServer) -> None:
        with make_client(oss_server_module) as client:
            with pytest.raises(OssNotFoundError) as info:
                client.object_exists("no-such-bucket", "k")
            assert info.value.code == "NoSuchBucket"
            with pytest.raises(OssNotFoundError) as get_info:
                client.get_object("no-such-bucket", "k")
            assert get_info.value.code == "NoSuchBucket"

    def test_auth_failure_is_not_absence(self, oss_server_module: LocalOssServer) -> None:
        wrong = Credentials(oss_server_module.access_key_id, "wrong-secret")
        with make_client(oss_server_module, credentials=wrong) as client, pytest.raises(OssAuthError):
            client.object_exists(BUCKET, "whatever")

    def test_invalid_names_are_refused_before_any_request(self, oss_server: LocalOssServer) -> None:
        with make_client(oss_server) as client:
            with pytest.raises(OssClientError, match="Invalid bucket name 'Bad_Bucket'"):
                client.put_object("Bad_Bucket", "k", b"")
            with pytest.raises(OssClientError, match="must not start with '/'"):
                client.get_object(BUCKET, "/abs")
            with pytest.raises(OssClientError, match="control character"):
                client.head_object(BUCKET, "a\nb")
            with pytest.raises(OssClientError, match="page_size"):
                client.list_objects_v2(BUCKET, page_size=0)
        assert oss_server.request_log() == []


class TestSts:
    def test_sts_token_round_trip_and_wrong_token(self) -> None:
        token = "CAIS.sts/token+value=="
        with LocalOssServer(security_token=token, buckets=(BUCKET,)) as server:
            for version in ("v4", "v1"):
                with make_client(server, signature_version=version) as client:
                    client.put_object(BUCKET, f"sts/{version}", b"sts data")
                    assert client.get_object(BUCKET, f"sts/{version}") == b"sts data"
                assert server.object_bytes(BUCKET, f"sts/{version}") == b"sts data"
                url = make_client(server, signature_version=version).presign_url(
                    "GET", BUCKET, f"sts/{version}"
                )
                assert requests.get(url, timeout=10).content == b"sts data"
            server.clear_request_log()
            wrong = Credentials(server.access_key_id, server.access_key_secret, "other-token")
            with make_client(server, credentials=wrong) as client, pytest.raises(OssAuthError):
                client.put_object(BUCKET, "sts/denied", b"x")
            missing = Credentials(server.access_key_id, server.access_key_secret)
            with make_client(server, credentials=missing) as client, pytest.raises(OssAuthError):
                client.put_object(BUCKET, "sts/denied", b"x")
            assert len(server.request_log()) == 2


class TestPresign:
    @pytest.mark.parametrize("version", ["v4", "v1"])
    def test_presigned_get_and_put(self, oss_server: LocalOssServer, version: str) -> None:
        key = "presign/a file+1.txt"
        with make_client(oss_server, signature_version=version) as client:
            put_url = client.presign_url("PUT", BUCKET, key, expires=600)
            assert requests.put(put_url, data=b"via presigned put", timeout=10).status_code == 200
            assert oss_server.object_bytes(BUCKET, key) == b"via presigned put"
            get_url = client.presign_url("GET", BUCKET, key, query={"response-content-type": "text/csv"})
        response = requests.get(get_url, timeout=10)
        assert response.status_code == 200
        assert response.content == b"via presigned put"
        assert response.headers["Content-Type"] == "text/csv"
        assert {entry["auth"] for entry in oss_server.request_log()} == {f"{version}-presigned"}

    @pytest.mark.parametrize("version", ["v4", "v1"])
    def test_expired_url_is_refused(self, oss_server: LocalOssServer, version: str) -> None:
        with make_client(oss_server, signature_version=version) as client:
            client.put_object(BUCKET, "presign/old", b"x")
            url = client.presign_url("GET", BUCKET, "presign/old", expires=2)
        oss_server.set_clock_offset(120)
        response = requests.get(url, timeout=10)
        assert response.status_code == 403
        assert b"AccessDenied" in response.content

    def test_expiry_bounds(self, oss_server_module: LocalOssServer) -> None:
        with make_client(oss_server_module) as client:
            for bad in (0, -1, 7 * 24 * 3600 + 1):
                with pytest.raises(OssClientError, match="1 to 604800"):
                    client.presign_url("GET", BUCKET, "k", expires=bad)
            with pytest.raises(OssClientError, match="Cannot presign method 'PATCH'"):
                client.presign_url("PATCH", BUCKET, "k")
            assert client.presign_url("GET", BUCKET, "k", expires=7 * 24 * 3600).startswith(
                oss_server_module.endpoint + "/test-bucket/k?"
            )
