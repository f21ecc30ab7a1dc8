"""Fault injection and the request log of the local OSS server, over real HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer, LocalServerControlError
from airflow_provider_oss.testing.rawclient import RawClient, error_code, parse_xml

B = "test-bucket"


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def _initiate(client: RawClient, key: str) -> str:
    return parse_xml(client.request("POST", B, key, [("uploads", "")])).findtext("UploadId") or ""


def _part(
    client: RawClient, key: str, upload_id: str, number: int, data: bytes, **kwargs: Any
) -> requests.Response:
    return client.request(
        "PUT", B, key, [("partNumber", str(number)), ("uploadId", upload_id)], data=data, **kwargs
    )


def _wait_for_log(server: LocalOssServer, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = server.request_log()
        if len(log) >= count:
            return log
        time.sleep(0.02)
    raise AssertionError(f"the server logged fewer than {count} requests")


def test_status_fault_nth_and_times(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = _initiate(client, "k")
    fault_id = oss_server.add_fault("UploadPart", "status", nth=2, times=2, status=503)
    statuses = [_part(client, "k", upload_id, n, b"x").status_code for n in range(1, 6)]
    assert statuses == [200, 503, 503, 200, 200]
    log = oss_server.request_log()
    parts = [e for e in log if e["op"] == "UploadPart"]
    assert [e["fault"] for e in parts] == [None, "status", "status", None, None]
    assert [e["error_code"] for e in parts] == [None, "ServiceUnavailable", "ServiceUnavailable", None, None]
    assert parts[1]["fault_id"] == fault_id
    [upload] = oss_server.list_uploads(B)
    assert [p["part_number"] for p in upload["parts"]] == [1, 4, 5], "a failed part was not processed"
    [rule] = oss_server.faults()
    assert (rule["seen"], rule["fired"]) == (5, 2)


def test_status_fault_codes_and_error_body(oss_server: LocalOssServer, client: RawClient) -> None:
    oss_server.add_fault("PutObject", "status", status=500)
    oss_server.add_fault("PutObject", "status", nth=2, status=429)
    oss_server.add_fault("GetObject", "status", status=503, code="SlowDown")
    first = client.request("PUT", B, "a", data=b"x")
    assert (first.status_code, error_code(first)) == (500, "InternalError")
    assert parse_xml(first).findtext("RequestId") == first.headers["x-oss-request-id"]
    second = client.request("PUT", B, "a", data=b"x")
    assert (second.status_code, error_code(second)) == (429, "Throttling")
    assert client.request("PUT", B, "a", data=b"x").status_code == 200
    assert error_code(client.request("GET", B, "a")) == "SlowDown"
    assert client.request("GET", B, "a").content == b"x"


def test_fault_before_authentication(oss_server: LocalOssServer) -> None:
    """A status fault answers without processing: even an unsigned request gets the injected status."""
    oss_server.add_fault("GetObject", "status", status=503)
    response = requests.get(f"{oss_server.endpoint}/{B}/k", timeout=10)
    assert (response.status_code, error_code(response)) == (503, "ServiceUnavailable")


def test_reset_fault_mid_body(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = _initiate(client, "big")
    oss_server.add_fault("UploadPart", "reset", part_number=2, after_bytes=65536)
    data = os.urandom(4 << 20)
    assert _part(client, "big", upload_id, 1, data).status_code == 200
    with pytest.raises(requests.ConnectionError):
        _part(client, "big", upload_id, 2, data)
    entry = oss_server.request_log()[-1]
    assert (entry["op"], entry["part_number"], entry["fault"]) == ("UploadPart", 2, "reset")
    assert entry["bytes_received"] == 65536
    assert (entry["status"], entry["error_code"]) == (0, "ConnectionReset")
    assert _part(client, "big", upload_id, 2, data).status_code == 200  # the next try goes through
    [upload] = oss_server.list_uploads(B)
    assert [p["part_number"] for p in upload["parts"]] == [1, 2]


def test_reset_fault_without_body(oss_server: LocalOssServer, client: RawClient) -> None:
    client.request("PUT", B, "k", data=b"x")
    oss_server.add_fault("HeadObject", "reset")
    with pytest.raises(requests.ConnectionError):
        client.request("HEAD", B, "k")
    assert client.request("HEAD", B, "k").status_code == 200


def test_reset_fault_before_the_body(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = _initiate(client, "k")
    oss_server.add_fault("UploadPart", "reset", nth=1, times=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            _part(client, "k", upload_id, 1, os.urandom(1 << 20))
    assert _part(client, "k", upload_id, 1, b"third time").status_code == 200
    resets = [e for e in oss_server.request_log() if e["fault"] == "reset"]
    assert [(e["bytes_received"], e["status"]) for e in resets] == [(0, 0), (0, 0)]


def test_reset_fault_mid_download(oss_server: LocalOssServer, client: RawClient) -> None:
    data = os.urandom(1 << 20)
    client.request("PUT", B, "dl", data=data)
    oss_server.add_fault("GetObject", "reset", after_bytes=1000)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        client.request("GET", B, "dl")
    assert client.request("GET", B, "dl").content == data


def test_delay_fault_causes_a_read_timeout_then_processes(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    oss_server.add_fault("PutObject", "delay", delay=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.request("PUT", B, "slow", data=b"late", timeout=0.1)
    log = _wait_for_log(oss_server, 1)
    assert (log[0]["fault"], log[0]["status"]) == ("delay", 200)
    assert oss_server.object_bytes(B, "slow") == b"late"


def test_bad_crc_fault(oss_server: LocalOssServer, client: RawClient) -> None:
    data = b"payload" * 1000
    oss_server.add_fault("PutObject", "bad_crc")
    put = client.request("PUT", B, "crc", data=data)
    assert put.status_code == 200
    assert put.headers["x-oss-hash-crc64ecma"] != str(crc64.crc64(data))
    assert oss_server.object_bytes(B, "crc") == data, "the bytes were stored correctly"
    upload_id = _initiate(client, "mp")
    oss_server.add_fault("UploadPart", "bad_crc")
    part = _part(client, "mp", upload_id, 1, data)
    assert part.headers["x-oss-hash-crc64ecma"] != str(crc64.crc64(data))
    listed = parse_xml(client.request("GET", B, "mp", [("uploadId", upload_id)]))
    assert listed.findtext("Part/HashCrc64ecma") == str(crc64.crc64(data))
    oss_server.add_fault("GetObject", "bad_crc")
    got = client.request("GET", B, "crc")
    assert got.content == data
    assert got.headers["x-oss-hash-crc64ecma"] != str(crc64.crc64(data))


def test_expire_upload_fault(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = _initiate(client, "gone")
    assert _part(client, "gone", upload_id, 1, b"x").status_code == 200
    oss_server.add_fault("UploadPart", "expire_upload", nth=2)
    assert _part(client, "gone", upload_id, 2, b"x").status_code == 200
    response = _part(client, "gone", upload_id, 3, b"x")
    assert (response.status_code, error_code(response)) == (404, "NoSuchUpload")
    assert oss_server.list_uploads(B) == []
    assert oss_server.request_log()[-1]["fault"] == "expire_upload"


def test_key_filter_and_rule_order(oss_server: LocalOssServer, client: RawClient) -> None:
    oss_server.add_fault("*", "status", key="only-this", status=500, times=3)
    oss_server.add_fault("PutObject", "status", status=503, times=10)
    assert client.request("PUT", B, "only-this", data=b"x").status_code == 500  # the first rule wins
    assert client.request("PUT", B, "other", data=b"x").status_code == 503
    oss_server.clear_faults()
    assert oss_server.faults() == []
    assert client.request("PUT", B, "only-this", data=b"x").status_code == 200


def test_invalid_fault_is_rejected(oss_server: LocalOssServer) -> None:
    with pytest.raises(LocalServerControlError, match="Unknown fault action"):
        oss_server.add_fault("UploadPart", "explode")
    with pytest.raises(LocalServerControlError, match="Unknown op"):
        oss_server.add_fault("UploadParts", "status")
    with pytest.raises(LocalServerControlError, match="nth and times"):
        oss_server.add_fault("UploadPart", "status", nth=0)


def test_request_log_contents(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = _initiate(client, "logged/key")
    _part(client, "logged/key", upload_id, 3, b"12345")
    client.request("GET", B, "missing")
    oss_server.list_uploads(B)  # control API calls are not logged
    oss_server.info()
    log = oss_server.request_log()
    assert [e["op"] for e in log] == ["InitiateMultipartUpload", "UploadPart", "GetObject"]
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    part = log[1]
    expected = {
        "op": "UploadPart",
        "method": "PUT",
        "bucket": B,
        "key": "logged/key",
        "upload_id": upload_id,
        "part_number": 3,
        "bytes_received": 5,
        "status": 200,
        "error_code": None,
        "fault": None,
    }
    assert {name: part[name] for name in expected} == expected
    assert isinstance(part["time"], float)
    assert (log[2]["status"], log[2]["error_code"]) == (404, "NoSuchKey")
    oss_server.clear_request_log()
    assert oss_server.request_log() == []
    client.request("GET", B, "missing")
    assert len(oss_server.request_log()) == 1
