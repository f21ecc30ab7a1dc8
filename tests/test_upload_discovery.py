"""
UploadDiscoveryStore: with no checkpoint kept anywhere (Airflow 3.0-3.2 without a shared volume),
a new process finds the upload to continue through ListMultipartUploads and ListParts.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    server: LocalOssServer, path: Path, key: str = KEY, **client_kwargs: object
) -> ResumableUploader:
    client = make_client(server, **client_kwargs)
    store = UploadDiscoveryStore(client, BUCKET, key, str(path), PART)
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
        _uploader(server, path, max_retries=0).run()
    server.clear_faults()
    (upload,) = server.list_uploads(BUCKET)
    assert upload["parts"], "the failed run stored some parts and kept its upload"
    return str(upload["upload_id"])


def test_new_process_finds_and_continues_the_upload(oss_server: LocalOssServer, tmp_path: Path) -> None:
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
    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert result.crc64 == crc64.crc64(data)
    assert oss_server.list_uploads(BUCKET) == []


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
    client = make_client(oss_server)
    other = client.initiate_multipart_upload(BUCKET, KEY + ".bak")

    result = _uploader(oss_server, path).run()

    assert result.upload_id != other and not result.resumed
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [other]


def test_foreign_parts_are_never_reused(oss_server: LocalOssServer, tmp_path: Path) -> None:
    """An in-progress upload of the key holding *other* bytes: adopted, but every part is sent again."""
    foreign = tmp_path / "foreign.bin"
    make_file(foreign, 1 * MiB, seed=7)
    client = make_client(oss_server)
    upload_id = client.initiate_multipart_upload(BUCKET, KEY)
    with foreign.open("rb") as f:
        for number in (1, 2):
            client.upload_part(BUCKET, KEY, upload_id, number, f.read(PART))
    path = tmp_path / "src.bin"
    data = make_file(path, 1 * MiB, seed=8)
    mark = last_seq(oss_server)

    result = _uploader(oss_server, path).run()

    assert result.upload_id == upload_id and result.parts_reused == 0 and result.parts_sent == 4
    assert sorted(part_requests(since(oss_server.request_log(), mark))) == [1, 2, 3, 4]
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_newest_of_several_uploads_is_continued(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    make_file(path, 1 * MiB)
    client = make_client(oss_server)
    older = client.initiate_multipart_upload(BUCKET, KEY)
    store = UploadDiscoveryStore(client, BUCKET, KEY, str(path), PART)
    first = store.load()
    assert first is not None and first.upload_id == older
    newer = client.initiate_multipart_upload(BUCKET, KEY)
    uploads = {u.upload_id: u.initiated for u in client.list_multipart_uploads(BUCKET)}
    checkpoint = store.load()
    assert checkpoint is not None
    expected = max(uploads, key=lambda u: (uploads[u].timestamp() if uploads[u] else 0.0, u))
    assert checkpoint.upload_id == expected and expected in (older, newer)
    assert checkpoint.source_path == os.path.abspath(path) and checkpoint.file_size == 1 * MiB
    store.save(checkpoint)
    store.delete()  # both keep nothing: OSS's own list is the record
    assert {u.upload_id for u in client.list_multipart_uploads(BUCKET)} == {older, newer}
