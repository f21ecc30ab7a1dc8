"""Multipart uploads on the local OSS server, with OSS's rules, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, error_code, parse_xml

B = "test-bucket"
KIB = 1024
PART = 100 * KIB


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def initiate(client: RawClient, key: str, headers: dict[str, str] | None = None) -> str:
    response = client.request("POST", B, key, [("uploads", "")], headers=headers)
    assert response.status_code == 200, response.text
    body = parse_xml(response)
    assert (body.findtext("Bucket"), body.findtext("Key")) == (B, key)
    upload_id = body.findtext("UploadId") or ""
    assert len(upload_id) == 32
    return upload_id


def upload_part(client: RawClient, key: str, upload_id: str, number: int, data: bytes) -> requests.Response:
    return client.request("PUT", B, key, [("partNumber", str(number)), ("uploadId", upload_id)], data=data)


def complete_xml(parts: list[tuple[int, str]]) -> bytes:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def complete(client: RawClient, key: str, upload_id: str, parts: list[tuple[int, str]]) -> requests.Response:
    return client.request("POST", B, key, [("uploadId", upload_id)], data=complete_xml(parts))


def test_full_multipart_upload(oss_server: LocalOssServer, client: RawClient) -> None:
    chunks = [os.urandom(PART), os.urandom(PART + 7), os.urandom(1234)]
    upload_id = initiate(
        client, "mp/object.bin", {"Content-Type": "application/x-test", "x-oss-meta-origin": "multipart"}
    )
    etags = []
    for number, chunk in enumerate(chunks, start=1):
        response = upload_part(client, "mp/object.bin", upload_id, number, chunk)
        assert response.status_code == 200
        assert (
            response.headers["ETag"] == f'"{hashlib.md5(chunk, usedforsecurity=False).hexdigest().upper()}"'
        )
        assert response.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(chunk))
        etags.append((number, response.headers["ETag"]))
    [listed] = oss_server.list_uploads(B)
    assert (listed["key"], listed["upload_id"], len(listed["parts"])) == ("mp/object.bin", upload_id, 3)

    done = complete(client, "mp/object.bin", upload_id, etags)
    assert done.status_code == 200, done.text
    data = b"".join(chunks)
    assert done.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))
    body = parse_xml(done)
    assert body.findtext("Key") == "mp/object.bin"
    assert (body.findtext("ETag") or "").endswith('-3"')
    assert oss_server.object_bytes(B, "mp/object.bin") == data
    assert oss_server.list_uploads(B) == []

    head = client.request("HEAD", B, "mp/object.bin")
    assert head.headers["x-oss-object-type"] == "Multipart"
    assert head.headers["Content-Type"] == "application/x-test"
    assert head.headers["x-oss-meta-origin"] == "multipart"
    assert head.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))
    again = upload_part(client, "mp/object.bin", upload_id, 1, b"late")
    assert (again.status_code, error_code(again)) == (404, "NoSuchUpload")


def test_entity_too_small(client: RawClient) -> None:
    upload_id = initiate(client, "small")
    etags = [
        (n, upload_part(client, "small", upload_id, n, b"x" * (PART - 1)).headers["ETag"]) for n in (1, 2)
    ]
    response = complete(client, "small", upload_id, etags)
    assert (response.status_code, error_code(response)) == (400, "EntityTooSmall")
    assert parse_xml(response).findtext("PartNumber") == "1"
    # The last part may be small: completing with only part 2 works, and the upload was kept.
    assert complete(client, "small", upload_id, etags[1:]).status_code == 200


def test_invalid_part_order_and_invalid_part(client: RawClient) -> None:
    upload_id = initiate(client, "order")
    etags = [
        (n, upload_part(client, "order", upload_id, n, os.urandom(PART)).headers["ETag"]) for n in (1, 2, 3)
    ]
    reversed_order = complete(client, "order", upload_id, [etags[1], etags[0], etags[2]])
    assert (reversed_order.status_code, error_code(reversed_order)) == (400, "InvalidPartOrder")
    duplicate = complete(client, "order", upload_id, [etags[0], etags[0]])
    assert error_code(duplicate) == "InvalidPartOrder"
    missing = complete(client, "order", upload_id, [*etags, (4, etags[0][1])])
    assert (missing.status_code, error_code(missing)) == (400, "InvalidPart")
    wrong_etag = complete(client, "order", upload_id, [etags[0], (2, '"0123456789ABCDEF0123456789ABCDEF"')])
    assert error_code(wrong_etag) == "InvalidPart"
    malformed = client.request(
        "POST", B, "order", [("uploadId", upload_id)], data=b"<CompleteMultipartUpload><Part>"
    )
    assert (malformed.status_code, error_code(malformed)) == (400, "MalformedXML")
    unquoted = [(n, etag.strip('"').lower()) for n, etag in etags]  # ETags compare without quotes or case
    assert complete(client, "order", upload_id, unquoted).status_code == 200


def test_no_such_upload(client: RawClient) -> None:
    bogus = "0" * 32
    for response in (
        upload_part(client, "k", bogus, 1, b"x"),
        complete(client, "k", bogus, [(1, '"X"')]),
        client.request("GET", B, "k", [("uploadId", bogus)]),
        client.request("DELETE", B, "k", [("uploadId", bogus)]),
    ):
        assert (response.status_code, error_code(response)) == (404, "NoSuchUpload")
    upload_id = initiate(client, "k")
    other_key = upload_part(client, "other-key", upload_id, 1, b"x")  # an upload belongs to its key
    assert error_code(other_key) == "NoSuchUpload"
    assert client.request("DELETE", B, "k", [("uploadId", upload_id)]).status_code == 204
    assert error_code(upload_part(client, "k", upload_id, 1, b"x")) == "NoSuchUpload"


def test_part_number_range(client: RawClient) -> None:
    upload_id = initiate(client, "pn")
    for bad in ("0", "10001", "-1", "one"):
        response = client.request("PUT", B, "pn", [("partNumber", bad), ("uploadId", upload_id)], data=b"x")
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument"), bad
    assert upload_part(client, "pn", upload_id, 10000, b"x").status_code == 200


def test_part_replacement(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = initiate(client, "replace")
    first = upload_part(client, "replace", upload_id, 1, b"a" * PART)
    second = upload_part(client, "replace", upload_id, 1, b"b" * PART)
    assert first.headers["ETag"] != second.headers["ETag"]
    [upload] = oss_server.list_uploads(B)
    assert [p["part_number"] for p in upload["parts"]] == [1]
    stale = complete(client, "replace", upload_id, [(1, first.headers["ETag"])])
    assert error_code(stale) == "InvalidPart"
    assert complete(client, "replace", upload_id, [(1, second.headers["ETag"])]).status_code == 200
    assert oss_server.object_bytes(B, "replace") == b"b" * PART


def test_complete_all(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = initiate(client, "all")
    chunks = {3: os.urandom(PART), 1: os.urandom(PART), 7: os.urandom(10)}
    for number, chunk in chunks.items():
        upload_part(client, "all", upload_id, number, chunk)
    with_body = client.request(
        "POST",
        B,
        "all",
        [("uploadId", upload_id)],
        headers={"x-oss-complete-all": "yes"},
        data=complete_xml([(1, '"x"')]),
    )
    assert (with_body.status_code, error_code(with_body)) == (400, "InvalidArgument")
    done = client.request("POST", B, "all", [("uploadId", upload_id)], headers={"x-oss-complete-all": "yes"})
    assert done.status_code == 200
    data = chunks[1] + chunks[3] + chunks[7]
    assert done.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))
    assert oss_server.object_bytes(B, "all") == data


def test_unlisted_parts_are_discarded(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = initiate(client, "subset")
    etags = [
        (n, upload_part(client, "subset", upload_id, n, bytes([n]) * PART).headers["ETag"]) for n in (1, 2, 3)
    ]
    assert complete(client, "subset", upload_id, [etags[0], etags[2]]).status_code == 200
    assert oss_server.object_bytes(B, "subset") == b"\x01" * PART + b"\x03" * PART


def test_list_parts_pagination(client: RawClient) -> None:
    upload_id = initiate(client, "lp")
    sizes = {n: n * 10 for n in range(1, 8)}
    for number, size in sizes.items():
        upload_part(client, "lp", upload_id, number, b"z" * size)
    seen = []
    marker = "0"
    pages = 0
    while True:
        response = client.request(
            "GET", B, "lp", [("uploadId", upload_id), ("max-parts", "3"), ("part-number-marker", marker)]
        )
        body = parse_xml(response)
        pages += 1
        for part in body.findall("Part"):
            number = int(part.findtext("PartNumber") or 0)
            seen.append(number)
            assert int(part.findtext("Size") or -1) == sizes[number]
            assert part.findtext("HashCrc64ecma") == str(crc64.crc64(b"z" * sizes[number]))
            assert (part.findtext("ETag") or "").startswith('"')
            assert (part.findtext("LastModified") or "").endswith(".000Z")
        if body.findtext("IsTruncated") != "true":
            break
        marker = body.findtext("NextPartNumberMarker") or ""
    assert (seen, pages) == (list(range(1, 8)), 3)
    too_many = client.request("GET", B, "lp", [("uploadId", upload_id), ("max-parts", "1001")])
    assert error_code(too_many) == "InvalidArgument"


def test_list_multipart_uploads(client: RawClient) -> None:
    ids = {key: initiate(client, key) for key in ("u/a", "u/b", "v/c")}
    second_b = initiate(client, "u/b")
    body = parse_xml(client.request("GET", B, None, [("uploads", ""), ("prefix", "u/")]))
    listed = [(u.findtext("Key"), u.findtext("UploadId")) for u in body.findall("Upload")]
    assert [k for k, _ in listed] == ["u/a", "u/b", "u/b"]
    assert listed[-1][1] == second_b
    page = parse_xml(client.request("GET", B, None, [("uploads", ""), ("max-uploads", "2")]))
    assert page.findtext("IsTruncated") == "true"
    next_key, next_id = page.findtext("NextKeyMarker") or "", page.findtext("NextUploadIdMarker") or ""
    rest = parse_xml(
        client.request(
            "GET", B, None, [("uploads", ""), ("key-marker", next_key), ("upload-id-marker", next_id)]
        )
    )
    assert [u.findtext("Key") for u in rest.findall("Upload")] == ["u/b", "v/c"]
    grouped = parse_xml(client.request("GET", B, None, [("uploads", ""), ("delimiter", "/")]))
    assert [p.findtext("Prefix") for p in grouped.findall("CommonPrefixes")] == ["u/", "v/"]
    assert ids["v/c"]


def test_expire_upload_from_control_api(oss_server: LocalOssServer, client: RawClient) -> None:
    upload_id = initiate(client, "expiring")
    upload_part(client, "expiring", upload_id, 1, b"x")
    oss_server.expire_upload(B, upload_id)
    assert oss_server.list_uploads(B) == []
    response = client.request("GET", B, "expiring", [("uploadId", upload_id)])
    assert error_code(response) == "NoSuchUpload"


def test_crc_etag_mode() -> None:
    with LocalOssServer(etag_mode="crc") as server, RawClient(server) as client:
        data = os.urandom(PART)
        put = client.request("PUT", B, "crc", data=data)
        assert put.headers["ETag"] == f'"{crc64.crc64(data):016X}"'
        upload_id = initiate(client, "crc-mp")
        part = upload_part(client, "crc-mp", upload_id, 1, data)
        assert complete(client, "crc-mp", upload_id, [(1, part.headers["ETag"])]).status_code == 200
        assert server.object_bytes(B, "crc-mp") == data


def test_state_survives_a_restart_on_the_same_root(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    with LocalOssServer(root_dir=root) as server, RawClient(server) as client:
        client.request("PUT", B, "kept.txt", headers={"x-oss-meta-a": "1"}, data=b"kept")
        upload_id = initiate(client, "resumed.bin")
        first = upload_part(client, "resumed.bin", upload_id, 1, b"1" * PART)
    with LocalOssServer(root_dir=root) as server, RawClient(server) as client:
        assert client.request("GET", B, "kept.txt").content == b"kept"
        assert client.request("HEAD", B, "kept.txt").headers["x-oss-meta-a"] == "1"
        listed = parse_xml(client.request("GET", B, "resumed.bin", [("uploadId", upload_id)]))
        assert [p.findtext("PartNumber") for p in listed.findall("Part")] == ["1"]
        second = upload_part(client, "resumed.bin", upload_id, 2, b"2")
        done = complete(
            client, "resumed.bin", upload_id, [(1, first.headers["ETag"]), (2, second.headers["ETag"])]
        )
        assert done.status_code == 200
        assert server.object_bytes(B, "resumed.bin") == b"1" * PART + b"2"
    with LocalOssServer(root_dir=root) as server, RawClient(server) as client:  # its parts are its segments
        assert server.object_info(B, "resumed.bin")["segments"] == 2
        assert client.request("GET", B, "resumed.bin").content == b"1" * PART + b"2"
    assert os.path.isdir(root), "a root_dir given by the caller is not removed"


def test_a_root_written_before_segments_still_loads(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    with LocalOssServer(root_dir=root) as server, RawClient(server) as client:
        client.request("PUT", B, "old.txt", data=b"old format")
    [record_path] = Path(root, "buckets", B, "objects").rglob("*.json")
    record = json.loads(record_path.read_text())
    [[name, _]] = record.pop("segments")
    record_path.write_text(json.dumps({**record, "data_file": name}))  # how records used to look
    with LocalOssServer(root_dir=root) as server, RawClient(server) as client:
        assert client.request("GET", B, "old.txt").content == b"old format"
