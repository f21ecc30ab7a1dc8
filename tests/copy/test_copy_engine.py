"""
The server-side copy engine against the local server: bytes and CRC-64 equal, across buckets, one
CopyObject or parallel UploadPartCopy, metadata kept, clear errors, and every hostile case of a
resumable transfer (a source changing between or during tries, a damaged record, a second copier).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.copy import (
    CopyCheckpoint,
    CopyDestinationError,
    CopyDiscoveryStore,
    CopySourceChangedError,
    CopySourceMissingError,
    FileCopyCheckpointStore,
    KeyValueCopyCheckpointStore,
    MemoryCopyCheckpointStore,
)
from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import CrcMismatchError, OssAuthError, OssServiceError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.server import LocalServerControlError
from tests.copy.copy_support import DST, PART, SRC, KiB, MiB, copier, put_source
from tests.upload_support import entries, last_seq, make_client, since


@pytest.fixture
def server() -> Iterator[LocalOssServer]:
    with LocalOssServer(buckets=(SRC, DST)) as srv:
        yield srv


def copied_parts(log: list[dict[str, object]]) -> list[int]:
    return sorted(int(str(e["part_number"])) for e in entries(log, "UploadPartCopy") if e["status"] == 200)


def test_a_small_object_is_one_copy_object_keeping_its_metadata(server: LocalOssServer) -> None:
    data = put_source(
        server, "small.txt", 1000, headers={"Content-Type": "text/csv", "x-oss-meta-owner": "ana"}
    )
    result = copier(server, "small.txt", "copied/small.txt", MemoryCopyCheckpointStore()).run()
    assert server.object_bytes(DST, "copied/small.txt") == data
    assert result.crc64 == crc64.crc64(data) == server.stored_crc64(DST, "copied/small.txt")
    assert (result.method, result.parts_total, result.size) == ("CopyObject", 1, 1000)
    meta = server.object_info(DST, "copied/small.txt")["meta"]
    assert (meta["content-type"], meta["x-oss-meta-owner"]) == ("text/csv", "ana")
    assert [e["op"] for e in server.request_log()[-2:]] == ["HeadObject", "CopyObject"]
    assert result.to_dict()["crc64"] == str(crc64.crc64(data))


def test_a_big_object_is_copied_in_parallel_parts_across_buckets(server: LocalOssServer) -> None:
    data = put_source(
        server,
        "dir/big file+1.bin",
        10 * PART + 123,
        headers={"Content-Type": "application/x-big", "x-oss-meta-a": "1"},
    )
    store = MemoryCopyCheckpointStore()
    mark = last_seq(server)
    result = copier(server, "dir/big file+1.bin", "out/big.bin", store, parallelism=4).run()
    assert server.object_bytes(DST, "out/big.bin") == data
    assert result.crc64 == crc64.crc64(data) == server.stored_crc64(DST, "out/big.bin")
    assert (result.method, result.parts_total, result.parts_copied, result.parts_reused) == (
        "UploadPartCopy",
        11,
        11,
        0,
    )
    log = since(server.request_log(), mark)
    assert copied_parts(log) == list(range(1, 12))
    ranges = sorted(str(e["range"]) for e in entries(log, "UploadPartCopy"))
    assert f"bytes={10 * PART}-{10 * PART + 122}" in ranges
    assert len({e["client_port"] for e in entries(log, "UploadPartCopy")}) > 1  # in parallel connections
    meta = server.object_info(DST, "out/big.bin")["meta"]
    assert (meta["content-type"], meta["x-oss-meta-a"]) == ("application/x-big", "1")
    assert server.list_uploads(DST) == []
    record = store.load()
    assert record is not None and record.completed is not None and record.completed.crc64 == result.crc64
    # A re-run finds the completed mark and copies nothing.
    again_mark = last_seq(server)
    again = copier(server, "dir/big file+1.bin", "out/big.bin", store).run()
    assert again.method == "already_complete"
    assert [e["op"] for e in since(server.request_log(), again_mark)] == ["HeadObject", "HeadObject"]


def test_options_replace_the_properties_of_a_multipart_copy(server: LocalOssServer) -> None:
    put_source(server, "p.bin", 3 * PART, headers={"x-oss-meta-old": "1"})
    copier(
        server,
        "p.bin",
        "p2.bin",
        None,
        options=ObjectOptions(content_type="text/plain", metadata={"new": "2"}),
    ).run()
    meta = server.object_info(DST, "p2.bin")["meta"]
    assert (
        meta["content-type"] == "text/plain"
        and meta["x-oss-meta-new"] == "2"
        and "x-oss-meta-old" not in meta
    )


def test_a_missing_source_is_named(server: LocalOssServer) -> None:
    with pytest.raises(CopySourceMissingError, match=r"oss://src-bucket/nothing\.bin does not exist"):
        copier(server, "nothing.bin", "x", None).run()
    with make_client(server) as client:
        missing_bucket = copier(server, "k", "x", None, client=client)
        missing_bucket.source_bucket = "no-such-bucket"
        with pytest.raises(CopySourceMissingError, match="no-such-bucket"):
            missing_bucket.run()
    assert server.list_uploads(DST) == []


@pytest.mark.parametrize("size", [1000, 3 * PART])
def test_a_wrong_destination_bucket_is_named(server: LocalOssServer, size: int) -> None:
    put_source(server, "s.bin", size)
    with pytest.raises(CopyDestinationError, match="'no-such-dest' does not exist"):
        copier(server, "s.bin", "x", None, dest_bucket="no-such-dest").run()


def test_bad_credentials_fail_clearly_before_anything_is_written(server: LocalOssServer) -> None:
    put_source(server, "s.bin", 3 * PART)
    config = make_client(server).config
    client = OssClient(Credentials(server.access_key_id, "not-the-secret"), config)
    with pytest.raises(OssAuthError) as caught:
        copier(server, "s.bin", "x", None, client=client).run()
    assert "SignatureDoesNotMatch" in str(caught.value) and "AccessKeySecret" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    assert server.list_uploads(DST) == []


def failed_first_try(
    server: LocalOssServer, key: str, dest: str, store: MemoryCopyCheckpointStore, nth: int = 4
) -> str:
    server.add_fault("UploadPartCopy", "status", status=500, nth=nth, times=100)
    with pytest.raises(OssServiceError):
        copier(server, key, dest, store, client=make_client(server, max_retries=0), parallelism=1).run()
    server.clear_faults()
    record = store.load()
    assert record is not None
    return record.upload_id


def test_a_retry_continues_the_same_upload_and_copies_only_the_missing_parts(server: LocalOssServer) -> None:
    data = put_source(server, "r.bin", 8 * PART + 7)
    store = MemoryCopyCheckpointStore()
    upload_id = failed_first_try(server, "r.bin", "r.bin", store)
    [kept] = server.list_uploads(DST)
    before = {p["part_number"] for p in kept["parts"]}
    assert kept["upload_id"] == upload_id and before == {1, 2, 3}
    mark = last_seq(server)
    result = copier(server, "r.bin", "r.bin", store, parallelism=3).run()
    log = since(server.request_log(), mark)
    assert entries(log, "InitiateMultipartUpload") == []
    assert copied_parts(log) == sorted(set(range(1, 10)) - before)
    assert {e["upload_id"] for e in log if e["upload_id"]} == {upload_id}
    assert (result.resumed, result.parts_reused, result.upload_id) == (True, 3, upload_id)
    assert server.object_bytes(DST, "r.bin") == data and result.crc64 == crc64.crc64(data)


def test_a_source_changed_between_tries_aborts_the_old_upload_and_copies_the_new_version(
    server: LocalOssServer,
) -> None:
    put_source(server, "c.bin", 6 * PART, seed=1)
    store = MemoryCopyCheckpointStore()
    old_upload = failed_first_try(server, "c.bin", "c.bin", store)
    new = put_source(server, "c.bin", 5 * PART + 9, seed=2)
    result = copier(server, "c.bin", "c.bin", store).run()
    assert server.object_bytes(DST, "c.bin") == new and result.crc64 == crc64.crc64(new)
    assert result.upload_id != old_upload
    assert any(
        e["op"] == "AbortMultipartUpload" and e["upload_id"] == old_upload and e["status"] == 204
        for e in server.request_log()
    )
    assert server.list_uploads(DST) == []


def test_a_source_replaced_during_a_try_fails_clearly_and_nothing_is_completed(
    server: LocalOssServer,
) -> None:
    put_source(server, "d.bin", 8 * PART, seed=1)
    store = MemoryCopyCheckpointStore()
    server.add_fault("UploadPartCopy", "delay", delay=0.2, times=100)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            copier(server, "d.bin", "d.bin", store, parallelism=1).run()
        except BaseException as err:  # handed to the test thread
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not copied_parts(server.request_log()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    new = put_source(server, "d.bin", 8 * PART, seed=9)
    thread.join(30)
    server.clear_faults()
    [err] = errors
    assert isinstance(err, CopySourceChangedError)
    assert "changed during the copy" in str(err) and err.upload_id is not None
    with pytest.raises(LocalServerControlError):
        server.object_info(DST, "d.bin")
    assert [u["upload_id"] for u in server.list_uploads(DST)] == [err.upload_id]  # kept for the next try
    result = copier(server, "d.bin", "d.bin", store).run()
    assert server.object_bytes(DST, "d.bin") == new and result.upload_id != err.upload_id
    assert server.list_uploads(DST) == []


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"kind": "oss-copy-1"}',
        "[1, 2]",
        '{"version": 3, "bucket": "dst-bucket", "key": "m.bin", "upload_id": "X"}',
    ],
)
def test_a_malformed_checkpoint_starts_a_new_copy_and_aborts_nothing(
    server: LocalOssServer, text: str
) -> None:
    data = put_source(server, "m.bin", 3 * PART)
    with make_client(server) as client:
        foreign = client.initiate_multipart_upload(DST, "m.bin")
    store = MemoryCopyCheckpointStore(text.replace('"X"', f'"{foreign}"'))
    result = copier(server, "m.bin", "m.bin", store).run()
    assert server.object_bytes(DST, "m.bin") == data and result.upload_id != foreign
    assert [u["upload_id"] for u in server.list_uploads(DST)] == [foreign]
    assert entries(server.request_log(), "AbortMultipartUpload") == []


def test_a_wrong_part_crc_is_caught_before_completing(server: LocalOssServer) -> None:
    put_source(server, "w.bin", 4 * PART)
    server.add_fault("UploadPartCopy", "bad_crc", nth=2)
    with pytest.raises(CrcMismatchError, match="combine to"):
        copier(server, "w.bin", "w.bin", MemoryCopyCheckpointStore()).run()
    assert entries(server.request_log(), "CompleteMultipartUpload") == []


def test_two_copiers_of_different_sources_to_one_destination_never_touch_each_other(
    server: LocalOssServer, tmp_path: Path
) -> None:
    a = put_source(server, "a.bin", 8 * PART, seed=1)
    b = put_source(server, "b.bin", 8 * PART, seed=2)
    server.add_fault("UploadPartCopy", "delay", delay=0.05, times=100)
    results = {}

    def run(name: str) -> None:
        store = FileCopyCheckpointStore(tmp_path, SRC, name, DST, "same.bin")
        results[name] = copier(server, name, "same.bin", store).run()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a.bin", "b.bin")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(results) == {"a.bin", "b.bin"}
    assert results["a.bin"].upload_id != results["b.bin"].upload_id
    assert server.object_bytes(DST, "same.bin") in (a, b)  # one whole source, never a mix
    assert server.stored_crc64(DST, "same.bin") in (crc64.crc64(a), crc64.crc64(b))
    assert entries(server.request_log(), "AbortMultipartUpload") == []
    assert server.list_uploads(DST) == []


def test_discovery_completes_its_own_whole_upload_and_leaves_a_partial_foreign_one_alone(
    server: LocalOssServer,
) -> None:
    data = put_source(server, "disc.bin", 4 * PART)
    with make_client(server) as client:  # another writer's partial upload of the key
        foreign = client.initiate_multipart_upload(DST, "disc.bin")
        client.upload_part(DST, "disc.bin", foreign, 1, b"x" * PART)
    server.add_fault("CompleteMultipartUpload", "status", status=500, times=100)
    with make_client(server, max_retries=0) as client, pytest.raises(OssServiceError):
        copier(
            server,
            "disc.bin",
            "disc.bin",
            CopyDiscoveryStore(client, DST, "disc.bin", retry=False),
            client=client,
        ).run()
    server.clear_faults()
    own = [u["upload_id"] for u in server.list_uploads(DST) if u["upload_id"] != foreign]
    assert len(own) == 1  # kept: discovery finds it again
    mark = last_seq(server)
    with make_client(server) as client:
        result = copier(
            server,
            "disc.bin",
            "disc.bin",
            CopyDiscoveryStore(client, DST, "disc.bin", retry=True),
            client=client,
        ).run()
    log = since(server.request_log(), mark)
    assert entries(log, "UploadPartCopy") == [] and entries(log, "AbortMultipartUpload") == []
    assert result.upload_id == own[0] and server.object_bytes(DST, "disc.bin") == data
    assert [u["upload_id"] for u in server.list_uploads(DST)] == [foreign]


def test_a_key_value_store_like_task_state_store_resumes(server: LocalOssServer) -> None:
    class StateStore:
        def __init__(self) -> None:
            self.values: dict[str, object] = {}

        def get(self, key: str, default: object = None) -> object:
            return self.values.get(key, default)

        def set(self, key: str, value: object) -> None:
            self.values[key] = value

        def delete(self, key: str) -> None:
            self.values.pop(key, None)

    data = put_source(server, "kv.bin", 5 * PART)
    state = StateStore()
    store = KeyValueCopyCheckpointStore(state)
    server.add_fault("UploadPartCopy", "status", status=500, nth=3, times=100)
    with pytest.raises(OssServiceError):
        copier(
            server, "kv.bin", "kv.bin", store, client=make_client(server, max_retries=0), parallelism=1
        ).run()
    server.clear_faults()
    assert isinstance(state.values["oss_copy"], dict)
    record = CopyCheckpoint.from_dict(state.values["oss_copy"])
    result = copier(server, "kv.bin", "kv.bin", store).run()
    assert result.upload_id == record.upload_id and result.parts_reused == 2
    assert server.object_bytes(DST, "kv.bin") == data


def test_a_big_source_is_never_sent_as_one_copy_object(server: LocalOssServer) -> None:
    data = put_source(server, "t.bin", 2 * MiB)
    result = copier(server, "t.bin", "t.bin", None, part_size=MiB, threshold=None).run()
    assert result.method == "UploadPartCopy" and result.parts_total == 2
    small = copier(server, "t.bin", "t2.bin", None, part_size=MiB, threshold=4 * MiB).run()
    assert small.method == "CopyObject"
    assert server.object_bytes(DST, "t.bin") == data == server.object_bytes(DST, "t2.bin")
    with pytest.raises(ValueError, match="onto itself"):
        copier(server, "t.bin", "t.bin", None, dest_bucket=SRC)
    assert KiB == 1024


def test_a_final_failure_whose_abort_fails_too_raises_the_copy_error_and_forgets_the_record(
    server: LocalOssServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``abort_on_failure`` on the last try: the part's failure is what the task reports, even when
    the abort itself fails; the record goes anyway (the upload stays for ``oss-uploads abort``)."""
    put_source(server, "doomed.bin", 4 * PART + 3)
    store = MemoryCopyCheckpointStore()
    server.add_fault("UploadPartCopy", "status", status=403, nth=2, times=100)
    server.add_fault("AbortMultipartUpload", "status", status=503, times=100)
    client = make_client(server, max_retries=0)
    with pytest.raises(OssServiceError) as caught:
        copier(server, "doomed.bin", "doomed/copy.bin", store, client=client, abort_on_failure=True).run()
    assert caught.value.status == 403, "the copy's own failure, not the abort's"
    assert store.load() is None, "the record is forgotten although the abort failed"
    assert entries(server.request_log(), "AbortMultipartUpload"), "the abort was attempted"
    assert len(server.list_uploads(DST)) == 1, "the upload the abort could not remove is still there"
    assert "Could not abort copy upload ID" in caplog.text
