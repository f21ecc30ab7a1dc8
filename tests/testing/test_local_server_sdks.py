"""
Faithfulness: the official Alibaba Cloud OSS SDKs run their own uploads against the local server
(``alibabacloud_oss_v2`` with V4; ``oss2`` with V1 and V4), and the bytes and CRC-64 on the server
match the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer

B = "test-bucket"
KIB = 1024


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = os.urandom(2 * 1024 * KIB + 12_345)  # about 2 MiB: 17-20 parts of 100-128 KiB
    path = tmp_path_factory.mktemp("sdk") / "source.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture(autouse=True)
def _quiet_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oss2.defaults, "request_retries", 1)


def v2_client(server: LocalOssServer, **config: object) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.access_key_id, server.access_key_secret
    )
    cfg.region = server.region
    cfg.endpoint = server.endpoint  # an IP endpoint: the SDK switches to path-style by itself
    cfg.use_path_style = True
    for name, value in config.items():
        setattr(cfg, name, value)
    return oss.Client(cfg)


def _uploads_and_auth(server: LocalOssServer) -> tuple[int, int, set[str]]:
    log = server.request_log()
    initiated = sum(e["op"] == "InitiateMultipartUpload" for e in log)
    parts = sum(e["op"] == "UploadPart" and e["status"] == 200 for e in log)
    return initiated, parts, {e["auth"] for e in log}


def test_alibabacloud_oss_v2_uploader(oss_server: LocalOssServer, source: tuple[Path, bytes]) -> None:
    path, data = source
    client = v2_client(oss_server)
    uploader = client.uploader(part_size=128 * KIB, parallel_num=3)
    result = uploader.upload_file(oss.PutObjectRequest(bucket=B, key="sdk/v2.bin"), filepath=str(path))
    assert int(result.hash_crc64) == crc64.crc64(data)
    assert oss_server.object_bytes(B, "sdk/v2.bin") == data
    assert oss_server.object_info(B, "sdk/v2.bin")["crc64"] == crc64.crc64(data)
    initiated, parts, auth = _uploads_and_auth(oss_server)
    assert (initiated, parts, auth) == (1, -(-len(data) // (128 * KIB)), {"v4"})
    assert oss_server.list_uploads(B) == []

    got = client.get_object(oss.GetObjectRequest(bucket=B, key="sdk/v2.bin"))
    assert got.body.read() == data  # the SDK checks the CRC-64 of what it downloads too
    head = client.head_object(oss.HeadObjectRequest(bucket=B, key="sdk/v2.bin"))
    assert (head.content_length, head.object_type) == (len(data), "Multipart")
    keys = [
        obj.key
        for page in client.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=B, max_keys=1)
        )
        for obj in page.contents or []
    ]
    assert keys == ["sdk/v2.bin"]
    with pytest.raises(oss.exceptions.OperationError) as err:
        client.get_object(oss.GetObjectRequest(bucket=B, key="missing"))
    service_error = err.value.unwrap()
    assert isinstance(service_error, oss.exceptions.ServiceError)
    assert (service_error.status_code, service_error.code) == (404, "NoSuchKey")
    assert service_error.request_id


def test_alibabacloud_oss_v2_cname_with_default_bucket(source: tuple[Path, bytes]) -> None:
    _, data = source
    with LocalOssServer(buckets=(), default_bucket="cname-bucket") as server:
        cfg_endpoint = f"http://localhost:{server.port}"  # a host name, so the SDK keeps CNAME style
        client = v2_client(server, endpoint=cfg_endpoint, use_cname=True, use_path_style=False)
        client.put_object(oss.PutObjectRequest(bucket="cname-bucket", key="dir/c.bin", body=data[:1000]))
        got = client.get_object(oss.GetObjectRequest(bucket="cname-bucket", key="dir/c.bin"))
        assert got.body.read() == data[:1000]
        entry = server.request_log()[0]
        assert (entry["bucket"], entry["key"], entry["status"]) == ("cname-bucket", "dir/c.bin", 200)
        assert server.object_bytes("cname-bucket", "dir/c.bin") == data[:1000]


@pytest.mark.parametrize("auth_version", ["v1", "v4"])
def test_oss2_resumable_upload(
    auth_version: str, oss_server: LocalOssServer, source: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = source
    if auth_version == "v1":
        bucket = oss2.Bucket(
            oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret), oss_server.endpoint, B
        )
    else:
        auth = oss2.AuthV4(oss_server.access_key_id, oss_server.access_key_secret)
        bucket = oss2.Bucket(auth, oss_server.endpoint, B, region=oss_server.region)
    result = oss2.resumable_upload(
        bucket,
        "sdk/oss2.bin",
        str(path),
        store=oss2.ResumableStore(root=str(tmp_path)),
        multipart_threshold=100 * KIB,
        part_size=100 * KIB,
        num_threads=3,
    )
    assert result.crc == crc64.crc64(data)
    assert oss_server.object_bytes(B, "sdk/oss2.bin") == data
    initiated, parts, auth_seen = _uploads_and_auth(oss_server)
    assert (initiated, parts, auth_seen) == (1, -(-len(data) // (100 * KIB)), {auth_version})
    assert bucket.get_object("sdk/oss2.bin").read() == data
    assert [o.key for o in oss2.ObjectIterator(bucket, max_keys=1)] == ["sdk/oss2.bin"]
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("missing")


def test_oss2_resumes_after_connection_resets_then_after_an_expired_upload(
    oss_server: LocalOssServer, source: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = source
    auth = oss2.AuthV4(oss_server.access_key_id, oss_server.access_key_secret)
    bucket = oss2.Bucket(auth, oss_server.endpoint, B, region=oss_server.region)
    store = oss2.ResumableStore(root=str(tmp_path))

    def upload() -> object:
        return oss2.resumable_upload(
            bucket, "sdk/resume.bin", str(path), store=store, multipart_threshold=100 * KIB, part_size=100 * KIB,
            num_threads=1,
        )  # fmt: skip

    oss_server.add_fault("UploadPart", "reset", part_number=5, times=10, after_bytes=10 * KIB)
    with pytest.raises(oss2.exceptions.RequestError):
        upload()
    [pending] = oss_server.list_uploads(B)
    assert [p["part_number"] for p in pending["parts"]] == [1, 2, 3, 4]
    oss_server.clear_faults()
    oss_server.clear_request_log()
    upload()
    log = oss_server.request_log()
    assert [e["op"] for e in log].count("InitiateMultipartUpload") == 0, "the SDK resumed the same upload"
    assert {e["upload_id"] for e in log if e["upload_id"]} == {pending["upload_id"]}
    sent = sorted(e["part_number"] for e in log if e["op"] == "UploadPart")
    assert sent == list(range(5, -(-len(data) // (100 * KIB)) + 1)), "parts 1-4 were not sent again"
    assert oss_server.object_bytes(B, "sdk/resume.bin") == data

    # An upload removed behind the SDK's back (lifecycle rule): its next run starts a new one.
    oss_server.add_fault("UploadPart", "reset", part_number=3, times=10)
    with pytest.raises(oss2.exceptions.RequestError):
        upload()
    [stale] = oss_server.list_uploads(B)
    oss_server.expire_upload(B, stale["upload_id"])
    oss_server.clear_faults()
    oss_server.clear_request_log()
    upload()
    assert [e["op"] for e in oss_server.request_log()].count("InitiateMultipartUpload") == 1
    assert oss_server.object_bytes(B, "sdk/resume.bin") == data
