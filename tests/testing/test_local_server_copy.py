"""
The local server's CopyObject and UploadPartCopy behave as OSS's: source ranges, source conditions,
the 5 GiB single-copy limit, the part's ETag and CRC-64 headers, and their errors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from email.utils import formatdate

import pytest
import requests

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, parse_xml
from airflow_provider_oss.testing.server import LocalServerControlError

B = "test-bucket"
OTHER = "other-bucket"
KiB = 1024
MiB = 1024 * KiB


@pytest.fixture
def server() -> Iterator[LocalOssServer]:
    with LocalOssServer(buckets=(B, OTHER)) as srv:
        yield srv


@pytest.fixture
def client(server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(server) as raw:
        yield raw


def error_code(response: requests.Response) -> str:
    return parse_xml(response).findtext("Code") or ""


def initiate(client: RawClient, bucket: str, key: str) -> str:
    answer = client.request("POST", bucket, key, [("uploads", "")])
    assert answer.status_code == 200, answer.text
    return parse_xml(answer).findtext("UploadId") or ""


def part_copy(
    client: RawClient, bucket: str, key: str, upload_id: str, number: int, source: str, **headers: str
) -> requests.Response:
    sent = {"x-oss-copy-source": source, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return client.request(
        "PUT", bucket, key, [("partNumber", str(number)), ("uploadId", upload_id)], headers=sent
    )


def complete(client: RawClient, bucket: str, key: str, upload_id: str, etags: list[str]) -> requests.Response:
    body = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in enumerate(etags, 1)
    )
    answer = client.request(
        "POST",
        bucket,
        key,
        [("uploadId", upload_id)],
        data=f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode(),
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_upload_part_copy_ranges_across_buckets_make_the_source_bytes(
    server: LocalOssServer, client: RawClient
) -> None:
    data = os.urandom(300 * KiB + 17)
    assert client.request("PUT", B, "src/a b+c.bin", data=data).status_code == 200
    upload_id = initiate(client, OTHER, "dst/copy.bin")
    ranges = [(0, 150 * KiB - 1), (150 * KiB, 300 * KiB - 1), (300 * KiB, len(data) - 1)]
    etags = []
    for number, (first, last) in enumerate(ranges, 1):
        answer = part_copy(
            client,
            OTHER,
            "dst/copy.bin",
            upload_id,
            number,
            f"/{B}/src/a%20b%2Bc.bin",
            **{"x-oss-copy-source-range": f"bytes={first}-{last}"},
        )
        assert answer.status_code == 200, answer.text
        piece = data[first : last + 1]
        headers = answer.headers
        assert int(headers["x-oss-hash-crc64ecma"]) == crc64.crc64(piece)
        assert headers["ETag"] == f'"{hashlib.md5(piece, usedforsecurity=False).hexdigest().upper()}"'
        assert parse_xml(answer).findtext("ETag") == headers["ETag"]
        etags.append(headers["ETag"])
    [listed] = server.list_uploads(OTHER)
    assert [p["size"] for p in listed["parts"]] == [150 * KiB, 150 * KiB, 17]
    done = complete(client, OTHER, "dst/copy.bin", upload_id, etags)
    assert int(done.headers["x-oss-hash-crc64ecma"]) == crc64.crc64(data)
    assert server.object_bytes(OTHER, "dst/copy.bin") == data
    log = [e for e in server.request_log() if e["op"] == "UploadPartCopy"]
    assert [e["range"] for e in log] == [f"bytes={a}-{b}" for a, b in ranges]
    assert [e["part_number"] for e in log] == [1, 2, 3]


def test_upload_part_copy_without_a_range_copies_the_whole_source(
    server: LocalOssServer, client: RawClient
) -> None:
    data = os.urandom(200 * KiB)
    client.request("PUT", B, "whole", data=data)
    upload_id = initiate(client, B, "whole-copy")
    answer = part_copy(client, B, "whole-copy", upload_id, 1, f"/{B}/whole")
    assert answer.status_code == 200
    complete(client, B, "whole-copy", upload_id, [answer.headers["ETag"]])
    assert server.object_bytes(B, "whole-copy") == data


def test_an_open_ended_copy_source_range_copies_to_the_end(server: LocalOssServer, client: RawClient) -> None:
    data = os.urandom(200 * KiB + 3)
    client.request("PUT", B, "open", data=data)
    upload_id = initiate(client, B, "open-copy")
    first = part_copy(
        client, B, "open-copy", upload_id, 1, f"/{B}/open", **{"x-oss-copy-source-range": "bytes=0-102399"}
    )
    rest = part_copy(
        client, B, "open-copy", upload_id, 2, f"/{B}/open", **{"x-oss-copy-source-range": "bytes=102400-"}
    )
    assert rest.status_code == 200, rest.text  # what oss2 sends for a (102400, None) range
    assert int(rest.headers["x-oss-hash-crc64ecma"]) == crc64.crc64(data[102400:])
    complete(client, B, "open-copy", upload_id, [first.headers["ETag"], rest.headers["ETag"]])
    assert server.object_bytes(B, "open-copy") == data


@pytest.mark.parametrize(
    "value",
    ["bytes=0-1000000", "bytes=10-5", "bytes=-5", "bytes=1000-", "items=0-5", "bytes=0-1,3-4", "0-5"],
)
def test_a_bad_copy_source_range_is_invalid_argument_and_stores_nothing(
    server: LocalOssServer, client: RawClient, value: str
) -> None:
    client.request("PUT", B, "src", data=os.urandom(1000))
    upload_id = initiate(client, B, "dst")
    answer = part_copy(client, B, "dst", upload_id, 1, f"/{B}/src", **{"x-oss-copy-source-range": value})
    assert (answer.status_code, error_code(answer)) == (400, "InvalidArgument")
    assert server.list_uploads(B)[0]["parts"] == []


def test_copy_errors_missing_source_bucket_upload_and_part_number(
    server: LocalOssServer, client: RawClient
) -> None:
    client.request("PUT", B, "src", data=b"x" * 1000)
    upload_id = initiate(client, B, "dst")
    missing = part_copy(client, B, "dst", upload_id, 1, f"/{B}/nothing-here")
    assert (missing.status_code, error_code(missing)) == (404, "NoSuchKey")
    no_bucket = part_copy(client, B, "dst", upload_id, 1, "/no-such-bucket/src")
    assert (no_bucket.status_code, error_code(no_bucket)) == (404, "NoSuchBucket")
    no_upload = part_copy(client, B, "dst", "0000DEADBEEF", 1, f"/{B}/src")
    assert (no_upload.status_code, error_code(no_upload)) == (404, "NoSuchUpload")
    bad_number = part_copy(client, B, "dst", upload_id, 10001, f"/{B}/src")
    assert (bad_number.status_code, error_code(bad_number)) == (400, "InvalidArgument")
    encrypted = part_copy(
        client, B, "dst", upload_id, 1, f"/{B}/src", **{"x-oss-server-side-encryption": "AES256"}
    )
    assert (encrypted.status_code, error_code(encrypted)) == (400, "InvalidArgument")
    copy_missing = client.request("PUT", OTHER, "k", headers={"x-oss-copy-source": f"/{B}/nothing-here"})
    assert (copy_missing.status_code, error_code(copy_missing)) == (404, "NoSuchKey")
    assert server.list_uploads(B)[0]["parts"] == []


def test_source_conditions_on_copy_object_and_upload_part_copy(
    server: LocalOssServer, client: RawClient
) -> None:
    etag = client.request("PUT", B, "src", data=os.urandom(1000)).headers["ETag"]
    upload_id = initiate(client, B, "dst")
    wrong = part_copy(client, B, "dst", upload_id, 1, f"/{B}/src", **{"x-oss-copy-source-if-match": '"0BAD"'})
    assert (wrong.status_code, error_code(wrong)) == (412, "PreconditionFailed")
    right = part_copy(client, B, "dst", upload_id, 1, f"/{B}/src", **{"x-oss-copy-source-if-match": etag})
    assert right.status_code == 200
    same = client.request(
        "PUT", B, "c", headers={"x-oss-copy-source": f"/{B}/src", "x-oss-copy-source-if-none-match": etag}
    )
    assert same.status_code == 304
    future = formatdate(usegmt=True)
    past = "Mon, 01 Jan 2001 00:00:00 GMT"
    stale = client.request(
        "PUT",
        B,
        "c",
        headers={"x-oss-copy-source": f"/{B}/src", "x-oss-copy-source-if-unmodified-since": past},
    )
    assert (stale.status_code, error_code(stale)) == (412, "PreconditionFailed")
    unmodified = client.request(
        "PUT",
        B,
        "c",
        headers={"x-oss-copy-source": f"/{B}/src", "x-oss-copy-source-if-modified-since": future},
    )
    assert unmodified.status_code == 304
    assert not any(e["op"] == "CopyObject" and e["status"] == 200 for e in server.request_log())
    matched = client.request(
        "PUT", B, "c", headers={"x-oss-copy-source": f"/{B}/src", "x-oss-copy-source-if-match": etag}
    )
    assert matched.status_code == 200
    assert server.object_info(B, "c")["etag"] == etag


def test_a_part_of_exactly_one_stored_file_shares_it_and_keeps_the_source_intact(
    server: LocalOssServer, client: RawClient
) -> None:
    data = os.urandom(256 * KiB)
    client.request("PUT", B, "src", data=data)
    upload_id = initiate(client, OTHER, "dst")
    answer = part_copy(client, OTHER, "dst", upload_id, 1, f"/{B}/src")
    complete(client, OTHER, "dst", upload_id, [answer.headers["ETag"]])
    client.request("DELETE", B, "src")
    assert server.object_bytes(OTHER, "dst") == data
    assert server.stored_crc64(OTHER, "dst") == crc64.crc64(data)


def test_more_than_5_gib_in_one_copy_is_entity_too_large(client: RawClient) -> None:
    with LocalOssServer(buckets=(B, OTHER), etag_mode="crc") as big_server, RawClient(big_server) as raw:
        base = os.urandom(64 * MiB)
        assert raw.request("PUT", B, "base", data=base).status_code == 200
        upload_id = initiate(raw, B, "huge")
        etags = []
        for number in range(1, 82):  # 81 x 64 MiB = 5.06 GiB, each part a link to the same file
            answer = part_copy(raw, B, "huge", upload_id, number, f"/{B}/base")
            assert answer.status_code == 200
            etags.append(answer.headers["ETag"])
        complete(raw, B, "huge", upload_id, etags)
        size = big_server.object_info(B, "huge")["size"]
        assert size == 81 * 64 * MiB > 5 * 1024 * MiB
        across = raw.request("PUT", OTHER, "huge-copy", headers={"x-oss-copy-source": f"/{B}/huge"})
        assert (across.status_code, error_code(across)) == (400, "EntityTooLarge")
        reclass = raw.request(
            "PUT", B, "huge-ia", headers={"x-oss-copy-source": f"/{B}/huge", "x-oss-storage-class": "IA"}
        )
        assert (reclass.status_code, error_code(reclass)) == (400, "EntityTooLarge")
        part_upload = initiate(raw, OTHER, "huge-parts")
        whole = part_copy(raw, OTHER, "huge-parts", part_upload, 1, f"/{B}/huge")
        assert (whole.status_code, error_code(whole)) == (400, "EntityTooLarge")
        last = size - 1
        ranged = part_copy(
            raw,
            OTHER,
            "huge-parts",
            part_upload,
            1,
            f"/{B}/huge",
            **{"x-oss-copy-source-range": f"bytes={last - 99}-{last}"},
        )
        assert ranged.status_code == 200
        assert int(ranged.headers["x-oss-hash-crc64ecma"]) == crc64.crc64(base[-100:])
        for bucket, name in ((OTHER, "huge-copy"), (B, "huge-ia")):
            with pytest.raises(LocalServerControlError):
                big_server.object_info(bucket, name)
