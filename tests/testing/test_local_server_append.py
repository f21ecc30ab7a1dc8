"""AppendObject on the local server: positions, CRC-64, object types, restarts, and the SDKs."""

from __future__ import annotations

import os
from pathlib import Path

import oss2

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, error_code

B = "test-bucket"


def _append(client: RawClient, key: str, position: int, data: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.request("POST", B, key, [("append", ""), ("position", str(position))], headers, data=data)


def test_appends_grow_the_object_with_positions_and_crc(oss_server: LocalOssServer) -> None:
    with RawClient(oss_server) as client:
        first = _append(client, "log.txt", 0, b"hello ", {"Content-Type": "text/plain", "x-oss-meta-a": "1"})
        assert first.status_code == 200
        assert first.headers["x-oss-next-append-position"] == "6"
        second = _append(client, "log.txt", 6, b"world")
        assert second.headers["x-oss-next-append-position"] == "11"
        assert second.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(b"hello world"))
        wrong = _append(client, "log.txt", 3, b"!")
        assert (wrong.status_code, error_code(wrong)) == (409, "PositionNotEqualToLength")
        assert wrong.headers["x-oss-next-append-position"] == "11"
        got = client.request("GET", B, "log.txt", headers={"Accept-Encoding": "identity"})
        assert got.content == b"hello world"
        assert got.headers["x-oss-object-type"] == "Appendable"
        assert (got.headers["Content-Type"], got.headers["x-oss-meta-a"]) == ("text/plain", "1")
        client.request("PUT", B, "normal", data=b"x")
        refused = _append(client, "normal", 1, b"y")
        assert (refused.status_code, error_code(refused)) == (409, "ObjectNotAppendable")
        bad = client.request("POST", B, "log.txt", [("append", ""), ("position", "-1")], data=b"x")
        assert (bad.status_code, error_code(bad)) == (400, "InvalidArgument")
    assert oss_server.object_bytes(B, "log.txt") == b"hello world"
    assert oss_server.object_info(B, "log.txt")["segments"] == 2


def test_an_appendable_object_survives_a_restart_and_a_reader(tmp_path: Path) -> None:
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        _append(client, "a", 0, b"one ")
        reading = client.session.get(client.url(B, "a"), stream=True, timeout=10)  # unsigned: just a reader
        _append(client, "a", 4, b"two")
        reading.close()
        assert server.object_bytes(B, "a") == b"one two"
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        assert server.object_bytes(B, "a") == b"one two"
        assert _append(client, "a", 7, b" three").status_code == 200
        assert server.object_bytes(B, "a") == b"one two three"
        assert client.request("DELETE", B, "a").status_code == 204
    data_files = [p for p in tmp_path.rglob("*.data")]
    assert data_files == []


def test_oss2_append_object(oss_server: LocalOssServer) -> None:
    bucket = oss2.Bucket(
        oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret), oss_server.endpoint, B
    )
    chunks = [os.urandom(1000), os.urandom(2000), os.urandom(10)]
    position = 0
    for chunk in chunks:
        result = bucket.append_object("oss2-append", position, chunk)  # oss2 checks the CRC-64 it gets
        position = result.next_position
    assert position == 3010
    assert oss_server.object_bytes(B, "oss2-append") == b"".join(chunks)
