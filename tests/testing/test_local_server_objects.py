"""The local OSS server's object, listing and bucket operations, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, error_code, parse_xml

B = "test-bucket"


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def test_put_get_head_delete_round_trip(oss_server: LocalOssServer, client: RawClient) -> None:
    data = os.urandom(300_000)
    key = "dir/a file+~%ü.bin"
    put = client.request("PUT", B, key, data=data)
    assert put.status_code == 200
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest().upper()
    assert put.headers["ETag"] == f'"{md5}"'
    assert put.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))
    assert (
        put.headers["Content-MD5"]
        == base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    )
    assert len(put.headers["x-oss-request-id"]) == 24

    got = client.request("GET", B, key)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))
    assert got.headers["x-oss-object-type"] == "Normal"
    assert got.headers["Content-Type"] == "application/octet-stream"

    head = client.request("HEAD", B, key)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["ETag"] == f'"{md5}"'
    assert head.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))

    assert oss_server.object_bytes(B, key) == data
    with open(oss_server.object_path(B, key), "rb") as f:
        assert f.read() == data

    assert client.request("DELETE", B, key).status_code == 204
    missing = client.request("GET", B, key)
    assert missing.status_code == 404
    assert error_code(missing) == "NoSuchKey"
    assert client.request("DELETE", B, key).status_code == 204  # deleting again is fine
    assert client.request("HEAD", B, key).status_code == 404


def test_error_document_shape(client: RawClient) -> None:
    response = client.request("GET", B, "nope.txt")
    assert response.status_code == 404
    body = parse_xml(response)
    assert body.tag == "Error"
    assert body.findtext("Code") == "NoSuchKey"
    assert body.findtext("Message")
    assert body.findtext("RequestId") == response.headers["x-oss-request-id"]
    assert body.findtext("HostId")
    assert body.findtext("EC")
    assert body.findtext("Key") == "nope.txt"
    assert response.headers["x-oss-ec"] == body.findtext("EC")

    no_bucket = client.request("GET", "no-such-bucket", "k")
    assert (no_bucket.status_code, error_code(no_bucket)) == (404, "NoSuchBucket")


def test_range_requests(client: RawClient) -> None:
    data = bytes(range(256)) * 40
    client.request("PUT", B, "r.bin", data=data)
    part = client.request("GET", B, "r.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert "x-oss-hash-crc64ecma" not in part.headers  # only a whole object carries its CRC
    tail = client.request("GET", B, "r.bin", headers={"Range": "bytes=-5"})
    assert tail.content == data[-5:]
    open_end = client.request("GET", B, "r.bin", headers={"Range": "bytes=10200-"})
    assert open_end.content == data[10200:]
    # Like OSS: an unsatisfiable range is ignored unless the client asks for standard behaviour.
    ignored = client.request("GET", B, "r.bin", headers={"Range": "bytes=999999-"})
    assert (ignored.status_code, ignored.content) == (200, data)
    strict = client.request(
        "GET", B, "r.bin", headers={"Range": "bytes=999999-", "x-oss-range-behavior": "standard"}
    )
    assert (strict.status_code, error_code(strict)) == (416, "InvalidRange")


def test_metadata_is_stored_and_returned(client: RawClient) -> None:
    headers = {
        "Content-Type": "text/csv",
        "Cache-Control": "no-cache",
        "Content-Disposition": 'attachment; filename="x.csv"',
        "Content-Encoding": "identity",
        "x-oss-meta-author": "alice",
        "x-oss-storage-class": "IA",
        "x-oss-object-acl": "private",
        "x-oss-server-side-encryption": "AES256",
    }
    put = client.request("PUT", B, "m.csv", headers=headers, data=b"a,b\n")
    assert put.headers["x-oss-server-side-encryption"] == "AES256"
    head = client.request("HEAD", B, "m.csv")
    for name, value in headers.items():
        assert head.headers[name] == value
    assert client.request("PUT", B, "guess.txt", data=b"x").ok
    # As OSS: the type is never guessed from the key (clients such as oss2 guess before sending).
    assert client.request("HEAD", B, "guess.txt").headers["Content-Type"] == "application/octet-stream"
    bad = client.request("PUT", B, "bad", headers={"x-oss-storage-class": "Cheap"}, data=b"x")
    assert (bad.status_code, error_code(bad)) == (400, "InvalidArgument")
    overridden = client.request("GET", B, "m.csv", query=[("response-content-type", "text/plain")])
    assert overridden.headers["Content-Type"] == "text/plain"


def test_content_md5_is_checked(client: RawClient) -> None:
    data = b"checked body"
    good = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    assert client.request("PUT", B, "md5", headers={"Content-MD5": good}, data=data).status_code == 200
    wrong = base64.b64encode(hashlib.md5(b"other", usedforsecurity=False).digest()).decode()
    bad = client.request("PUT", B, "md5", headers={"Content-MD5": wrong}, data=data)
    assert (bad.status_code, error_code(bad)) == (400, "InvalidDigest")  # OSS's code (not S3's BadDigest)
    malformed = client.request("PUT", B, "md5", headers={"Content-MD5": "not base64!"}, data=data)
    assert (malformed.status_code, error_code(malformed)) == (400, "InvalidDigest")
    assert client.request("GET", B, "md5").content == data  # the failed puts left it alone


def test_conditional_get_and_forbid_overwrite(client: RawClient) -> None:
    put = client.request("PUT", B, "c", data=b"v1")
    etag = put.headers["ETag"]
    assert client.request("GET", B, "c", headers={"If-None-Match": etag}).status_code == 304
    assert client.request("GET", B, "c", headers={"If-Match": etag}).status_code == 200
    failed = client.request("GET", B, "c", headers={"If-Match": '"0000"'})
    assert (failed.status_code, error_code(failed)) == (412, "PreconditionFailed")
    again = client.request("PUT", B, "c", headers={"x-oss-forbid-overwrite": "true"}, data=b"v2")
    assert (again.status_code, error_code(again)) == (409, "FileAlreadyExists")
    assert client.request("GET", B, "c").content == b"v1"


def test_copy_object(oss_server: LocalOssServer, client: RawClient) -> None:
    data = os.urandom(5000)
    client.request(
        "PUT", B, "src/a.bin", headers={"x-oss-meta-k": "v", "Content-Type": "image/png"}, data=data
    )
    oss_server.create_bucket("other-bucket")
    copy = client.request(
        "PUT", "other-bucket", "dst/a.bin", headers={"x-oss-copy-source": f"/{B}/src/a.bin"}
    )
    assert copy.status_code == 200
    assert (
        parse_xml(copy).findtext("ETag")
        == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest().upper()}"'
    )
    assert copy.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(data))
    head = client.request("HEAD", "other-bucket", "dst/a.bin")
    assert (head.headers["x-oss-meta-k"], head.headers["Content-Type"]) == ("v", "image/png")
    assert oss_server.object_bytes("other-bucket", "dst/a.bin") == data

    replaced = client.request(
        "PUT",
        B,
        "dst/b.bin",
        headers={
            "x-oss-copy-source": f"/{B}/src/a.bin",
            "x-oss-metadata-directive": "REPLACE",
            "x-oss-meta-new": "1",
        },
    )
    assert replaced.status_code == 200
    head = client.request("HEAD", B, "dst/b.bin")
    assert "x-oss-meta-k" not in head.headers
    assert head.headers["x-oss-meta-new"] == "1"
    missing = client.request("PUT", B, "x", headers={"x-oss-copy-source": f"/{B}/missing"})
    assert (missing.status_code, error_code(missing)) == (404, "NoSuchKey")


def _list_all_v2(client: RawClient, **params: str) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    token = ""
    while True:
        query = [("list-type", "2"), *params.items()]
        if token:
            query.append(("continuation-token", token))
        body = parse_xml(client.request("GET", B, None, query))
        pages += 1
        keys += [c.findtext("Key") or "" for c in body.findall("Contents")]
        prefixes += [p.findtext("Prefix") or "" for p in body.findall("CommonPrefixes")]
        assert int(body.findtext("KeyCount") or -1) == len(body.findall("Contents")) + len(
            body.findall("CommonPrefixes")
        )
        if body.findtext("IsTruncated") != "true":
            assert body.find("NextContinuationToken") is None
            return keys, prefixes, pages
        token = body.findtext("NextContinuationToken") or ""


def test_list_objects_v2(client: RawClient) -> None:
    names = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/x/y", "e"]
    for name in names:
        client.request("PUT", B, name, data=b"x")
    keys, prefixes, pages = _list_all_v2(client, **{"max-keys": "2"})
    assert (keys, prefixes, pages) == (names, [], 4)
    keys, prefixes, pages = _list_all_v2(client, delimiter="/", **{"max-keys": "2"})
    assert keys == ["c", "e"]
    assert prefixes == ["a/", "b/", "d/"]
    assert pages == 3
    keys, prefixes, _ = _list_all_v2(client, prefix="a/", delimiter="/")
    assert (keys, prefixes) == (["a/1", "a/2"], ["a/b/"])
    keys, _, _ = _list_all_v2(client, **{"start-after": "b/1"})
    assert keys == ["c", "d/x/y", "e"]
    bad = client.request("GET", B, None, [("list-type", "2"), ("max-keys", "1001")])
    assert (bad.status_code, error_code(bad)) == (400, "InvalidArgument")
    entry = parse_xml(client.request("GET", B, None, [("list-type", "2"), ("prefix", "c")])).find("Contents")
    assert entry is not None
    assert (entry.findtext("Size"), entry.findtext("Type"), entry.findtext("StorageClass")) == (
        "1",
        "Normal",
        "Standard",
    )
    assert (entry.findtext("LastModified") or "").endswith(".000Z")


def test_list_objects_url_encoding_and_v1(client: RawClient) -> None:
    key = "enc/spaced name&<x>\u00e9"
    client.request("PUT", B, key, data=b"x")
    body = parse_xml(
        client.request("GET", B, None, [("list-type", "2"), ("prefix", "enc/"), ("encoding-type", "url")])
    )
    assert body.findtext("EncodingType") == "url"
    assert body.findtext("Contents/Key") == "enc/spaced%20name%26%3Cx%3E%C3%A9"
    plain = parse_xml(client.request("GET", B, None, [("list-type", "2"), ("prefix", "enc/")]))
    assert plain.findtext("Contents/Key") == key
    for name in ("v1/a", "v1/b", "v1/c"):
        client.request("PUT", B, name, data=b"x")
    first = parse_xml(client.request("GET", B, None, [("prefix", "v1/"), ("max-keys", "2")]))
    assert [c.findtext("Key") for c in first.findall("Contents")] == ["v1/a", "v1/b"]
    assert (first.findtext("IsTruncated"), first.findtext("NextMarker")) == ("true", "v1/b")
    second = parse_xml(client.request("GET", B, None, [("prefix", "v1/"), ("marker", "v1/b")]))
    assert [c.findtext("Key") for c in second.findall("Contents")] == ["v1/c"]


def test_delete_multiple_objects(client: RawClient) -> None:
    for name in ("m/1", "m/2"):
        client.request("PUT", B, name, data=b"x")
    body = (
        b"<Delete><Quiet>false</Quiet><Object><Key>m/1</Key></Object><Object><Key>m/2</Key></Object></Delete>"
    )
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    response = client.request("POST", B, None, [("delete", "")], headers={"Content-MD5": md5}, data=body)
    assert response.status_code == 200
    assert [d.findtext("Key") for d in parse_xml(response).findall("Deleted")] == ["m/1", "m/2"]
    assert client.request("HEAD", B, "m/1").status_code == 404


def test_buckets(oss_server: LocalOssServer, client: RawClient) -> None:
    oss_server.create_bucket("second-bucket")
    listing = parse_xml(client.request("GET"))
    assert [b.findtext("Name") for b in listing.findall("Buckets/Bucket")] == ["second-bucket", B]
    info = client.request("GET", B, None, [("bucketInfo", "")])
    assert info.status_code == 200
    assert parse_xml(info).findtext("Bucket/Name") == B
    assert parse_xml(info).findtext("Bucket/Location") == f"oss-{oss_server.region}"
    location = client.request("GET", B, None, [("location", "")])
    assert parse_xml(location).text == f"oss-{oss_server.region}"
    assert client.request("HEAD", "second-bucket").status_code == 200
    assert client.request("PUT", "third-bucket").status_code == 200
    assert client.request("HEAD", "third-bucket").status_code == 200
    client.request("PUT", "third-bucket", "k", data=b"x")
    not_empty = client.request("DELETE", "third-bucket")
    assert (not_empty.status_code, error_code(not_empty)) == (409, "BucketNotEmpty")
    client.request("DELETE", "third-bucket", "k")
    assert client.request("DELETE", "third-bucket").status_code == 204
    assert client.request("HEAD", "third-bucket").status_code == 404
    assert client.request("GET", B, "k", [("acl", "")]).status_code == 501


def test_get_object_meta_and_invalid_bucket_name(client: RawClient) -> None:
    client.request("PUT", B, "meta", data=b"12345")
    meta = client.request("HEAD", B, "meta", [("objectMeta", "")])
    assert meta.status_code == 200
    assert meta.headers["Content-Length"] == "5"
    assert meta.headers["x-oss-hash-crc64ecma"] == str(crc64.crc64(b"12345"))
    bad = client.request("GET", "Not_A_Bucket", "k")
    assert (bad.status_code, error_code(bad)) == (400, "InvalidBucketName")


def test_invalid_object_names(client: RawClient) -> None:
    response = client.request("PUT", B, "/leading-slash", data=b"x")
    assert (response.status_code, error_code(response)) == (400, "InvalidObjectName")
    too_long = client.request("PUT", B, "k" * 1024, data=b"x")
    assert error_code(too_long) == "InvalidObjectName"


def test_chunked_upload_and_missing_length(client: RawClient) -> None:
    parts = [os.urandom(70_000) for _ in range(3)]
    response = client.request("PUT", B, "chunked", data=iter(parts))
    assert response.status_code == 200
    assert client.request("GET", B, "chunked").content == b"".join(parts)


def test_concurrent_get_never_sees_half_an_object(client: RawClient, oss_server: LocalOssServer) -> None:
    """GETs racing with rewrites see one whole version or the other, never a mix."""
    versions = [bytes([n]) * 2_000_000 for n in range(2)]
    client.request("PUT", B, "race", data=versions[0])
    stop = threading.Event()
    seen: list[bool] = []

    def reader() -> None:
        with RawClient(oss_server) as own:
            while not stop.is_set():
                body = own.request("GET", B, "race").content
                seen.append(body in versions)

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(8):
        client.request("PUT", B, "race", data=versions[n % 2])
    stop.set()
    thread.join()
    assert seen
    assert all(seen)


def test_keep_alive_connection_is_reused(client: RawClient, oss_server: LocalOssServer) -> None:
    for n in range(5):
        client.request("PUT", B, f"ka/{n}", data=b"x" * n)
    failed = client.request("PUT", B, "/bad", data=b"y" * 10_000)  # an error with an unread body
    assert failed.status_code == 400
    assert client.request("GET", B, "ka/4").content == b"xxxx"
    log = oss_server.request_log()
    assert len(log) == 7
    assert len({entry["client_port"] for entry in log}) == 1, "one keep-alive connection served them all"
