"""
UploadDiscoveryStore: with no checkpoint kept anywhere (Airflow 3.0-3.2 without a shared volume),
a retry in a new process finds the upload to continue through ListMultipartUploads and ListParts.
Other writers' uploads of the same key are in that list too: a first try never adopts, a retry
adopts only an upload whose parts are this file's bytes, and nobody's upload is ever aborted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import PartUploadError, ResumableUploader, TransferConfig
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from tests.upload_support import (
    BUCKET,
    KiB,
    MiB,
    entries,
    last_seq,
    make_client,
    make_file,
    part_requests,
    since,
)

PART = 256 * KiB
KEY = "discover/file.bin"


def _uploader(
    server: LocalOssServer, path: Path, key: str = KEY, *, retry: bool = True, **client_kwargs: Any
) -> ResumableUploader:
    client = make_client(server, **client_kwargs)
    store = UploadDiscoveryStore(client, BUCKET, key, str(path), PART, retry=retry)
    return ResumableUploader(
        client,
        BUCKET,
        key,
        path,
        config=TransferConfig(part_size=PART, parallelism=2),
        checkpoint_store=store,
    )


def _fail_first_run(server: LocalOssServer, path: Path) -> str:
    server.add_fault("UploadPart", "reset", nth=4)
    with pytest.raises(PartUploadError):
        _uploader(server, path, retry=False, max_retries=0).run()
    server.clear_faults()
    (upload,) = server.list_uploads(BUCKET)
    assert upload["parts"], "the failed run stored some parts and kept its upload"
    return str(upload["upload_id"])


def _foreign_upload(server: LocalOssServer, tmp_path: Path, key: str = KEY, *, size: int = 1 * MiB) -> str:
    """Another writer's upload of ``key`` with two parts of other bytes."""
    foreign = tmp_path / f"foreign-{size}.bin"
    make_file(foreign, size, seed=7)
    client = make_client(server)
    upload_id = client.initiate_multipart_upload(BUCKET, key)
    with foreign.open("rb") as f:
        for number in (1, 2):
            client.upload_part(BUCKET, key, upload_id, number, f.read(PART))
    return upload_id


def test_a_retry_finds_and_continues_its_upload_without_reading_the_parts_twice(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 3 * MiB)
    upload_id = _fail_first_run(oss_server, path)
    stored = {p["part_number"] for p in oss_server.list_uploads(BUCKET)[0]["parts"]}
    mark = last_seq(oss_server)

    result = _uploader(oss_server, path).run()

    run2 = since(oss_server.request_log(), mark)
    assert entries(run2, "InitiateMultipartUpload") == []
    assert len(entries(run2, "ListMultipartUploads")) == 1
    assert {e["upload_id"] for e in run2 if e["upload_id"]} == {upload_id}
    assert sorted(part_requests(run2)) == sorted(set(range(1, 13)) - stored)
    assert result.upload_id == upload_id and result.resumed and result.parts_reused == len(stored)
    assert result.parts_reused_confirmed == len(stored)  # proven at adoption: not read again
    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert result.crc64 == crc64.crc64(data)
    assert oss_server.list_uploads(BUCKET) == []


def test_a_first_try_never_adopts_and_leaves_other_uploads_alone(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 1 * MiB)
    foreign = _foreign_upload(oss_server, tmp_path)
    mark = last_seq(oss_server)

    result = _uploader(oss_server, path, retry=False).run()

    run = since(oss_server.request_log(), mark)
    assert result.upload_id != foreign and not result.resumed and result.parts_sent == 4
    assert entries(run, "ListMultipartUploads") == [] and entries(run, "AbortMultipartUpload") == []
    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [foreign]


def test_no_upload_in_progress_starts_fresh(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 1 * MiB)
    result = _uploader(oss_server, path).run()
    assert not result.resumed and result.parts_sent == 4
    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert oss_server.list_uploads(BUCKET) == []


def test_upload_of_a_similar_key_is_not_adopted(oss_server: LocalOssServer, tmp_path: Path) -> None:
    """ListMultipartUploads filters by prefix: ``KEY + ".bak"`` shares the prefix but is another key."""
    path = tmp_path / "src.bin"
    make_file(path, 1 * MiB)
    other = _foreign_upload(oss_server, tmp_path, KEY + ".bak")

    result = _uploader(oss_server, path).run()

    assert result.upload_id != other and not result.resumed
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [other]


def test_a_retry_never_adopts_nor_aborts_an_upload_of_other_bytes(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """Two tasks writing different files to one key: the retry of one must not take the other's upload."""
    foreign = _foreign_upload(oss_server, tmp_path)
    path = tmp_path / "src.bin"
    data = make_file(path, 1 * MiB, seed=8)
    mark = last_seq(oss_server)

    result = _uploader(oss_server, path).run()

    run = since(oss_server.request_log(), mark)
    assert result.upload_id != foreign and result.parts_reused == 0 and result.parts_sent == 4
    assert sorted(part_requests(run)) == [1, 2, 3, 4]
    assert {e["upload_id"] for e in entries(run, "UploadPart")} == {result.upload_id}
    assert entries(run, "AbortMultipartUpload") == []
    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [foreign]  # untouched, parts intact
    assert len(oss_server.list_uploads(BUCKET)[0]["parts"]) == 2


def test_a_small_file_never_aborts_a_big_upload_of_the_same_key(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """The single-PutObject path of a small file must leave a concurrent big upload of the key alone."""
    foreign = _foreign_upload(oss_server, tmp_path, size=4 * MiB)
    path = tmp_path / "small.bin"
    data = make_file(path, 10 * KiB)
    result = _uploader(oss_server, path).run()
    assert result.parts_total == 1 and oss_server.object_bytes(BUCKET, KEY) == data
    assert entries(oss_server.request_log(), "AbortMultipartUpload") == []
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [foreign]


def test_of_several_uploads_the_one_holding_this_file_is_adopted(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    make_file(path, 1 * MiB)
    mine = _fail_first_run(oss_server, path)
    foreign = _foreign_upload(oss_server, tmp_path)  # newer, but other bytes
    client = make_client(oss_server)
    empty = client.initiate_multipart_upload(BUCKET, KEY)  # newest, no part: proves nothing
    store = UploadDiscoveryStore(client, BUCKET, KEY, str(path), PART, retry=True)
    checkpoint = store.load()
    assert checkpoint is not None and checkpoint.upload_id == mine
    assert checkpoint.source_path == os.path.abspath(path) and checkpoint.file_size == 1 * MiB
    (listed,) = [u for u in oss_server.list_uploads(BUCKET) if u["upload_id"] == mine]
    assert set(checkpoint.confirmed_parts) == {p["part_number"] for p in listed["parts"]}
    assert UploadDiscoveryStore(client, BUCKET, KEY, str(path), PART, retry=False).load() is None
    store.save(checkpoint)
    store.delete()  # both keep nothing: OSS's own list is the record
    assert {u.upload_id for u in client.list_multipart_uploads(BUCKET)} == {mine, foreign, empty}


@pytest.mark.parametrize("retry", [False, True])
def test_a_fresh_discovering_upload_stores_one_part_before_sending_the_others(
    oss_server: LocalOssServer, tmp_path: Path, retry: bool
) -> None:
    """Nothing names a discovering upload but its parts: until one is stored, a killed try leaves an
    upload no retry can prove its own. The first part goes alone, the others after it is stored."""
    path = tmp_path / "src.bin"
    make_file(path, 1 * MiB)
    client = make_client(oss_server)
    ResumableUploader(
        client,
        BUCKET,
        KEY,
        path,
        # 256 KiB parts at 8 Mbit/s each: ~0.26 s a part, so that parts sent together overlap
        config=TransferConfig(part_size=PART, parallelism=4, traffic_limit=8 * 1024 * 1024),
        checkpoint_store=UploadDiscoveryStore(client, BUCKET, KEY, str(path), PART, retry=retry),
    ).run()

    parts = sorted(entries(oss_server.request_log(), "UploadPart"), key=lambda e: e["time"])
    first_done = parts[0]["time"] + parts[0]["duration"]
    assert parts[0]["status"] == 200 and len(parts) == 4
    assert all(later["time"] >= first_done for later in parts[1:])
