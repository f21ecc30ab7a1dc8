"""
A completed multipart object keeps its parts' files as its segments (completion moves files, it
does not copy bytes): reads, ranges, copies, replacement and deletion work across segments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, parse_xml

B = "test-bucket"
PART = 100 * 1024


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def multipart_object(client: RawClient, key: str, chunks: list[bytes]) -> None:
    """Upload ``chunks`` as the parts of ``key`` and complete it."""
    initiated = client.request("POST", B, key, [("uploads", "")])
    upload_id = parse_xml(initiated).findtext("UploadId") or ""
    listing = ""
    for number, chunk in enumerate(chunks, start=1):
        part = client.request(
            "PUT", B, key, [("partNumber", str(number)), ("uploadId", upload_id)], data=chunk
        )
        assert part.status_code == 200, part.text
        listing += f"<Part><PartNumber>{number}</PartNumber><ETag>{part.headers['ETag']}</ETag></Part>"
    body = f"<CompleteMultipartUpload>{listing}</CompleteMultipartUpload>".encode()
    done = client.request("POST", B, key, [("uploadId", upload_id)], data=body)
    assert done.status_code == 200, done.text


def data_files(root: str | None) -> list[str]:
    """Every stored data file under the server's root."""
    assert root is not None
    return sorted(str(p) for p in Path(root).rglob("*.data"))


def test_completion_moves_parts_into_segments(oss_server: LocalOssServer, client: RawClient) -> None:
    chunks = [os.urandom(PART), os.urandom(PART + 3), os.urandom(777)]
    multipart_object(client, "seg/a.bin", chunks)
    data = b"".join(chunks)
    info = oss_server.object_info(B, "seg/a.bin")
    assert (info["segments"], info["size"], info["crc64"]) == (3, len(data), crc64.crc64(data))
    assert len(data_files(oss_server.root_dir)) == 3  # moved, not copied
    assert client.request("GET", B, "seg/a.bin").content == data
    for start, end in [
        (0, 0),
        (PART - 2, PART + 1),
        (PART - 1, 2 * PART + 5),
        (len(data) - 10, len(data) - 1),
    ]:
        got = client.request("GET", B, "seg/a.bin", headers={"Range": f"bytes={start}-{end}"})
        assert got.status_code == 206
        assert got.content == data[start : end + 1], (start, end)


def test_copy_of_a_multipart_object(oss_server: LocalOssServer, client: RawClient) -> None:
    chunks = [os.urandom(PART), os.urandom(5)]
    multipart_object(client, "seg/src.bin", chunks)
    copied = client.request("PUT", B, "seg/dst.bin", headers={"x-oss-copy-source": f"/{B}/seg/src.bin"})
    assert copied.status_code == 200, copied.text
    assert client.request("GET", B, "seg/dst.bin").content == b"".join(chunks)
    assert oss_server.object_info(B, "seg/dst.bin")["crc64"] == crc64.crc64(b"".join(chunks))


def test_object_path_joins_the_segments_once(oss_server: LocalOssServer, client: RawClient) -> None:
    chunks = [os.urandom(PART), os.urandom(PART), os.urandom(1)]
    multipart_object(client, "seg/joined.bin", chunks)
    before = oss_server.object_info(B, "seg/joined.bin")
    path = oss_server.object_path(B, "seg/joined.bin")
    assert Path(path).read_bytes() == b"".join(chunks)
    after = oss_server.object_info(B, "seg/joined.bin")
    assert after["segments"] == 1
    assert {k: after[k] for k in ("etag", "crc64", "size", "last_modified")} == {
        k: before[k] for k in ("etag", "crc64", "size", "last_modified")
    }
    assert data_files(oss_server.root_dir) == [path]  # the segment files are gone
    assert oss_server.object_path(B, "seg/joined.bin") == path
    assert client.request("GET", B, "seg/joined.bin").content == b"".join(chunks)


def test_replaced_and_deleted_objects_leave_no_files(oss_server: LocalOssServer, client: RawClient) -> None:
    multipart_object(client, "seg/r.bin", [os.urandom(PART), os.urandom(10)])
    multipart_object(client, "seg/r.bin", [os.urandom(PART), os.urandom(PART), os.urandom(10)])
    assert len(data_files(oss_server.root_dir)) == 3
    assert client.request("PUT", B, "seg/r.bin", data=b"simple").status_code == 200
    assert len(data_files(oss_server.root_dir)) == 1
    assert client.request("DELETE", B, "seg/r.bin").status_code == 204
    assert data_files(oss_server.root_dir) == []
    assert oss_server.root_dir is not None
    assert not [p for p in Path(oss_server.root_dir).rglob("*.parts")]


def test_a_download_in_progress_keeps_reading_the_version_it_opened(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    big = 4 * 1024 * 1024  # more than the socket buffers hold, so the server is mid-send
    chunks = [os.urandom(big), os.urandom(big), os.urandom(big)]
    multipart_object(client, "seg/live.bin", chunks)
    root = oss_server.root_dir
    response = requests.get(client.presign("GET", B, "seg/live.bin"), stream=True, timeout=30)
    first = response.raw.read(1024)
    with RawClient(oss_server) as other:  # replace, then delete, while the download is open
        multipart_object(other, "seg/live.bin", [os.urandom(PART), os.urandom(1)])
        assert other.request("DELETE", B, "seg/live.bin").status_code == 204
    rest = response.raw.read()
    response.close()
    assert first + rest == b"".join(chunks)
    for _ in range(50):  # the server thread closes the reader right after the last byte
        if not data_files(root):
            break
        time.sleep(0.1)
    assert data_files(root) == []
