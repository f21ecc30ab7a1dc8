"""
OssClient multipart uploads and listings against the local OSS server over real HTTP: parts,
completion with CRC checks, abort, pagination of ListParts / ListMultipartUploads /
ListObjectsV2, concurrent part uploads from a thread pool, and a lost completion answer.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_provider_oss.core import ObjectOptions, OssClient, PartInfo
from airflow_provider_oss.core.crc64 import combine_all, crc64
from airflow_provider_oss.core.errors import (
    CrcMismatchError,
    OssClientError,
    OssNotFoundError,
    OssPreconditionError,
    OssServiceError,
)
from airflow_provider_oss.core.transport import RetryEvent
from airflow_provider_oss.testing import LocalOssServer
from tests.upload_support import make_client

BUCKET = "test-bucket"
PART = 100 * 1024  # OSS's smallest part size (all but the last)


def ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


class TestMultipart:
    @pytest.mark.parametrize("version", ["v4", "v1"])
    def test_full_upload_round_trip(self, oss_server: LocalOssServer, version: str) -> None:
        data = os.urandom(2 * PART + 5000)
        chunks = [data[:PART], data[PART : 2 * PART], data[2 * PART :]]
        key = "mp/目录/big file+1.bin"
        with make_client(oss_server, signature_version=version) as client:
            upload_id = client.initiate_multipart_upload(
                BUCKET, key, options=ObjectOptions(content_type="application/x-mp", metadata={"src": "test"})
            )
            view = memoryview(data)
            parts = [
                client.upload_part(BUCKET, key, upload_id, n, view[(n - 1) * PART : n * PART])
                for n in (3, 1, 2)
            ]
            assert [p.size for p in parts] == [5000, PART, PART]
            assert [p.crc64 for p in parts] == [crc64(chunks[2]), crc64(chunks[0]), crc64(chunks[1])]
            listed = list(client.list_parts(BUCKET, key, upload_id))
            assert [(p.part_number, p.size, p.crc64) for p in listed] == [
                (1, PART, crc64(chunks[0])),
                (2, PART, crc64(chunks[1])),
                (3, 5000, crc64(chunks[2])),
            ]
            expected = combine_all([(crc64(c), len(c)) for c in chunks])
            done = client.complete_multipart_upload(BUCKET, key, upload_id, parts, expected_crc64=expected)
            assert (done.bucket, done.key, done.crc64) == (BUCKET, key, crc64(data))
            assert done.etag.endswith("-3")
            info = client.head_object(BUCKET, key)
            assert (info.size, info.content_type, info.metadata) == (
                len(data),
                "application/x-mp",
                {"src": "test"},
            )
        assert oss_server.object_bytes(BUCKET, key) == data
        assert oss_server.list_uploads(BUCKET) == []

    def test_complete_accepts_part_infos_and_tuples(
        self, oss_server: LocalOssServer, oss_client: OssClient
    ) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/mixed")
        first = oss_client.upload_part(BUCKET, "mp/mixed", upload_id, 1, b"a" * PART)
        second = oss_client.upload_part(BUCKET, "mp/mixed", upload_id, 2, b"b" * 10)
        listed = {p.part_number: p for p in oss_client.list_parts(BUCKET, "mp/mixed", upload_id)}
        assert isinstance(listed[2], PartInfo)
        oss_client.complete_multipart_upload(
            BUCKET, "mp/mixed", upload_id, [listed[2], (1, f'"{first.etag}"')]
        )
        assert second.etag == listed[2].etag
        assert oss_server.object_bytes(BUCKET, "mp/mixed") == b"a" * PART + b"b" * 10

    def test_wrong_expected_crc_raises(self, oss_client: OssClient) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/crc")
        part = oss_client.upload_part(BUCKET, "mp/crc", upload_id, 1, b"abc")
        with pytest.raises(CrcMismatchError) as info:
            oss_client.complete_multipart_upload(BUCKET, "mp/crc", upload_id, [part], expected_crc64=1)
        assert (info.value.local_crc, info.value.server_crc) == (1, crc64(b"abc"))

    def test_bad_part_crc_carries_the_part_number(
        self, oss_server: LocalOssServer, oss_client: OssClient
    ) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/badcrc")
        oss_server.add_fault("UploadPart", "bad_crc", part_number=2)
        oss_client.upload_part(BUCKET, "mp/badcrc", upload_id, 1, b"one")
        with pytest.raises(CrcMismatchError) as info:
            oss_client.upload_part(BUCKET, "mp/badcrc", upload_id, 2, b"two")
        assert info.value.part_number == 2
        assert info.value.local_crc == crc64(b"two")
        assert "part 2" in str(info.value)

    def test_abort_and_no_such_upload(self, oss_server: LocalOssServer, oss_client: OssClient) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/abort")
        oss_client.upload_part(BUCKET, "mp/abort", upload_id, 1, b"x")
        oss_client.abort_multipart_upload(BUCKET, "mp/abort", upload_id)
        assert oss_server.list_uploads(BUCKET) == []
        with pytest.raises(OssNotFoundError) as info:
            list(oss_client.list_parts(BUCKET, "mp/abort", upload_id))
        assert info.value.code == "NoSuchUpload"
        with pytest.raises(OssNotFoundError):
            oss_client.upload_part(BUCKET, "mp/abort", upload_id, 2, b"y")

    def test_expired_upload_is_no_such_upload(
        self, oss_server: LocalOssServer, oss_client: OssClient
    ) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/expire")
        oss_server.add_fault("UploadPart", "expire_upload")
        with pytest.raises(OssNotFoundError) as info:
            oss_client.upload_part(BUCKET, "mp/expire", upload_id, 1, b"y")
        assert info.value.code == "NoSuchUpload"
        assert len(ops(oss_server, "UploadPart")) == 1

    def test_server_side_part_rules_surface_as_service_errors(self, oss_client: OssClient) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/small")
        parts = [oss_client.upload_part(BUCKET, "mp/small", upload_id, n, b"tiny") for n in (1, 2)]
        with pytest.raises(OssServiceError) as info:
            oss_client.complete_multipart_upload(BUCKET, "mp/small", upload_id, parts)
        assert (info.value.status, info.value.code) == (400, "EntityTooSmall")
        assert info.value.details["PartNumber"] == "1"

    def test_argument_checks(self, oss_server: LocalOssServer, oss_client: OssClient) -> None:
        with pytest.raises(OssClientError, match="part_number must be an integer from 1 to 10000"):
            oss_client.upload_part(BUCKET, "k", "id", 0, b"")
        with pytest.raises(OssClientError, match="part_number"):
            oss_client.upload_part(BUCKET, "k", "id", 10001, b"")
        with pytest.raises(OssClientError, match="upload_id"):
            oss_client.upload_part(BUCKET, "k", "", 1, b"")
        with pytest.raises(OssClientError, match="traffic_limit"):
            oss_client.upload_part(BUCKET, "k", "id", 1, b"", traffic_limit=1000)
        with pytest.raises(OssClientError, match="at least one part"):
            oss_client.complete_multipart_upload(BUCKET, "k", "id", [])
        with pytest.raises(OssClientError, match="listed twice"):
            oss_client.complete_multipart_upload(BUCKET, "k", "id", [(1, "a"), (1, "b")])
        assert oss_server.request_log() == []

    def test_traffic_limit_header_is_accepted(
        self, oss_server: LocalOssServer, oss_client: OssClient
    ) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "mp/limited")
        oss_client.upload_part(BUCKET, "mp/limited", upload_id, 1, b"z" * 100, traffic_limit=819200)
        (upload,) = oss_server.list_uploads(BUCKET)
        assert [p["size"] for p in upload["parts"]] == [100]

    def test_parallel_parts_share_a_bounded_pool(self, oss_server: LocalOssServer) -> None:
        data = os.urandom(24 * 20_000)
        pieces = [data[i : i + 20_000] for i in range(0, len(data), 20_000)]
        with make_client(oss_server, pool_size=4) as client:
            upload_id = client.initiate_multipart_upload(BUCKET, "mp/parallel")
            with ThreadPoolExecutor(max_workers=4) as pool:
                parts = list(
                    pool.map(
                        lambda n: client.upload_part(BUCKET, "mp/parallel", upload_id, n, pieces[n - 1]),
                        range(1, len(pieces) + 1),
                    )
                )
        (upload,) = oss_server.list_uploads(BUCKET)
        assert sorted(p["part_number"] for p in upload["parts"]) == list(range(1, 25))
        assert [p.crc64 for p in parts] == [crc64(p) for p in pieces]
        ports = {entry["client_port"] for entry in ops(oss_server, "UploadPart")}
        assert len(ports) <= 4  # connections are reused from a pool of pool_size

    def test_lost_completion_answer_is_recognised(self, oss_server: LocalOssServer) -> None:
        """The first Complete times out but completes on the server; the retry finds NoSuchUpload."""

        def wait_for_the_first_completion(event: RetryEvent) -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if any(e["status"] == 200 for e in ops(oss_server, "CompleteMultipartUpload")):
                    return
                time.sleep(0.02)

        data = b"q" * PART + b"tail"
        with make_client(oss_server, on_retry=wait_for_the_first_completion, read_timeout=0.2) as client:
            upload_id = client.initiate_multipart_upload(BUCKET, "mp/lost")
            parts = [
                client.upload_part(BUCKET, "mp/lost", upload_id, 1, data[:PART]),
                client.upload_part(BUCKET, "mp/lost", upload_id, 2, data[PART:]),
            ]
            oss_server.add_fault("CompleteMultipartUpload", "delay", delay=0.6)
            done = client.complete_multipart_upload(
                BUCKET, "mp/lost", upload_id, parts, expected_crc64=crc64(data)
            )
        assert done.crc64 == crc64(data)
        assert [(e["status"], e["error_code"]) for e in ops(oss_server, "CompleteMultipartUpload")] == [
            (200, None),
            (404, "NoSuchUpload"),
        ]
        assert oss_server.object_bytes(BUCKET, "mp/lost") == data


class TestPagination:
    def test_list_parts_pages(self, oss_server: LocalOssServer, oss_client: OssClient) -> None:
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "page/parts")
        for n in range(1, 6):
            oss_client.upload_part(BUCKET, "page/parts", upload_id, n, bytes([n]) * n)
        oss_server.clear_request_log()
        parts = list(oss_client.list_parts(BUCKET, "page/parts", upload_id, page_size=2))
        assert [(p.part_number, p.size, p.crc64) for p in parts] == [
            (n, n, crc64(bytes([n]) * n)) for n in range(1, 6)
        ]
        assert all(p.last_modified is not None for p in parts)
        assert len(ops(oss_server, "ListParts")) == 3

    def test_list_multipart_uploads_pages(self, oss_server: LocalOssServer, oss_client: OssClient) -> None:
        started = [
            (key, oss_client.initiate_multipart_upload(BUCKET, key))
            for key in ["up/a", "up/a", "up/b c", "up/中", "other/x"]
        ]
        oss_server.clear_request_log()
        listed = list(oss_client.list_multipart_uploads(BUCKET, prefix="up/", page_size=2))
        everything = list(oss_client.list_multipart_uploads(BUCKET))
        assert sorted((u.key, u.upload_id) for u in listed) == sorted(
            s for s in started if s[0].startswith("up/")
        )
        assert all(u.initiated is not None for u in listed)
        assert len(everything) == 5
        assert len(ops(oss_server, "ListMultipartUploads")) == 3

    def test_list_objects_v2_pages_and_decodes_keys(
        self, oss_server: LocalOssServer, oss_client: OssClient
    ) -> None:
        keys = ["a/1", "a/2 two", "a/3+three", "a/sub/4", "a/sub/5", "a/中文", "b/6", "top"]
        for key in keys:
            oss_client.put_object(BUCKET, key, key.encode())
        oss_server.clear_request_log()
        listed = list(oss_client.list_objects_v2(BUCKET, page_size=3))
        assert [o.key for o in listed] == sorted(keys)
        assert len(ops(oss_server, "ListObjectsV2")) == 3
        assert [o.size for o in listed] == [len(k.encode()) for k in sorted(keys)]
        assert all(o.etag and o.last_modified and o.storage_class == "Standard" for o in listed)

        under_a = [o.key for o in oss_client.list_objects_v2(BUCKET, prefix="a/", page_size=2)]
        assert under_a == sorted(k for k in keys if k.startswith("a/"))
        shallow = [o.key for o in oss_client.list_objects_v2(BUCKET, prefix="a/", delimiter="/", page_size=2)]
        assert shallow == ["a/1", "a/2 two", "a/3+three", "a/中文"]
        after = [o.key for o in oss_client.list_objects_v2(BUCKET, start_after="a/sub/5", page_size=2)]
        assert after == ["a/中文", "b/6", "top"]
        assert list(oss_client.list_common_prefixes(BUCKET, prefix="")) == ["a/", "b/"]
        assert list(oss_client.list_common_prefixes(BUCKET, prefix="a/")) == ["a/sub/"]
        assert list(oss_client.list_objects_v2(BUCKET, prefix="none/")) == []


class TestForbidOverwrite:
    def test_put_and_complete_refuse_an_existing_key_atomically(
        self, oss_server: LocalOssServer, oss_client: OssClient
    ) -> None:
        oss_client.put_object(BUCKET, "taken.bin", b"first")
        with pytest.raises(OssPreconditionError) as put_refused:
            oss_client.put_object(BUCKET, "taken.bin", b"second", forbid_overwrite=True)
        assert (put_refused.value.status, put_refused.value.code) == (409, "FileAlreadyExists")
        upload_id = oss_client.initiate_multipart_upload(BUCKET, "taken.bin")
        part = oss_client.upload_part(BUCKET, "taken.bin", upload_id, 1, b"third")
        with pytest.raises(OssPreconditionError, match="FileAlreadyExists"):
            oss_client.complete_multipart_upload(
                BUCKET, "taken.bin", upload_id, [part], forbid_overwrite=True
            )
        assert oss_client.get_object(BUCKET, "taken.bin") == b"first"
        assert [u.upload_id for u in oss_client.list_multipart_uploads(BUCKET)] == [upload_id]  # still there
        oss_client.complete_multipart_upload(BUCKET, "taken.bin", upload_id, [part])  # the default replaces
        assert oss_client.get_object(BUCKET, "taken.bin") == b"third"
        assert len(ops(oss_server, "PutObject")) == 2

    @pytest.mark.parametrize("retry_answer", ["NoSuchUpload", "FileAlreadyExists"])
    def test_a_retried_complete_that_meets_its_own_object_succeeds(
        self, oss_server: LocalOssServer, retry_answer: str
    ) -> None:
        """
        The first Complete times out but completes on the server. Its retry meets NoSuchUpload (the
        local server's answer) or, with forbid_overwrite, possibly FileAlreadyExists (injected here):
        either way the object is this upload's own, so the call succeeds.
        """

        def wait_for_the_first_completion(event: RetryEvent) -> None:
            deadline = time.monotonic() + 10
            while not any(e["status"] == 200 for e in ops(oss_server, "CompleteMultipartUpload")):
                assert time.monotonic() < deadline
                time.sleep(0.02)

        data = os.urandom(PART + 10)
        with make_client(oss_server, on_retry=wait_for_the_first_completion, read_timeout=0.2) as client:
            upload_id = client.initiate_multipart_upload(BUCKET, "lost-answer.bin")
            parts = [
                client.upload_part(BUCKET, "lost-answer.bin", upload_id, 1, data[:PART]),
                client.upload_part(BUCKET, "lost-answer.bin", upload_id, 2, data[PART:]),
            ]
            oss_server.add_fault("CompleteMultipartUpload", "delay", delay=0.6)
            if retry_answer == "FileAlreadyExists":
                oss_server.add_fault(
                    "CompleteMultipartUpload", "status", nth=2, status=409, code=retry_answer
                )
            done = client.complete_multipart_upload(
                BUCKET, "lost-answer.bin", upload_id, parts, expected_crc64=crc64(data), forbid_overwrite=True
            )
        assert done.crc64 == crc64(data)
        assert [e["error_code"] for e in ops(oss_server, "CompleteMultipartUpload")] == [None, retry_answer]
        assert oss_server.object_bytes(BUCKET, "lost-answer.bin") == data
