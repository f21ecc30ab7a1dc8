"""
No lost work at the edges: a retry of a try killed right after CompleteMultipartUpload, and a re-run
of a completed task (a cleared task), send nothing when the key already holds this exact file. With
a record marked completed nothing is read either; without one (discovery, an expired mark) the file
is read once. A final failure's log says exactly how to resume or abort.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    FileCheckpointStore,
    MemoryCheckpointStore,
    PartUploadError,
    ResumableUploader,
    TransferConfig,
)
from airflow_provider_oss.upload import reader as reader_mod
from airflow_provider_oss.upload.checkpoint import Checkpoint
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from tests.upload_support import BUCKET, KiB, entries, last_seq, make_client, make_file, part_requests, since

PART = 128 * KiB
KEY = "done/file.bin"


def _uploader(server: LocalOssServer, path: Path, store: Any, **config: Any) -> ResumableUploader:
    return ResumableUploader(
        make_client(server, max_retries=0),
        BUCKET,
        KEY,
        path,
        config=TransferConfig(part_size=PART, parallelism=2, **config),
        checkpoint_store=store,
        conn_id="oss_backup",
    )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Bytes read from the source file by the engine (part reads and CRC-64 reads)."""
    seen: list[int] = []
    original_into = reader_mod.PartReader.read_into
    original_file = crc64_mod.crc64_of_file

    def read_into(self: reader_mod.PartReader, view: memoryview, offset: int) -> int:
        n = original_into(self, view, offset)
        seen.append(n)
        return n

    def crc64_of_file(path: Any, *args: Any, **kwargs: Any) -> int:
        seen.append(os.path.getsize(path))
        return original_file(path, *args, **kwargs)

    monkeypatch.setattr(reader_mod.PartReader, "read_into", read_into)
    monkeypatch.setattr(crc64_mod, "crc64_of_file", crc64_of_file)
    yield seen


def _nothing_sent(server: LocalOssServer, mark: int) -> None:
    run = since(server.request_log(), mark)
    for op in (
        "InitiateMultipartUpload",
        "UploadPart",
        "PutObject",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ):
        assert entries(run, op) == [], op


def test_a_rerun_of_a_completed_upload_sends_nothing_and_reads_nothing(
    oss_server: LocalOssServer, tmp_path: Path, reads: list[int]
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 9 * PART + 5)
    store = FileCheckpointStore(tmp_path / "ck", BUCKET, KEY, path)
    first = _uploader(oss_server, path, store).run()
    reads.clear()
    mark = last_seq(oss_server)

    again = _uploader(oss_server, path, store).run()

    _nothing_sent(oss_server, mark)
    assert [e["op"] for e in since(oss_server.request_log(), mark)] == ["HeadObject"]
    assert reads == []  # not one byte of the file read
    assert again.already_complete and (again.parts_sent, again.bytes_sent) == (0, 0)
    assert (again.upload_id, again.etag, again.crc64, again.size) == (
        first.upload_id,
        first.etag,
        first.crc64,
        len(data),
    )
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_without_a_mark_a_rerun_reads_the_file_once_and_sends_nothing(
    oss_server: LocalOssServer, tmp_path: Path, reads: list[int]
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 9 * PART + 5)
    first = _uploader(oss_server, path, MemoryCheckpointStore(), completed_retention=0).run()
    reads.clear()
    mark = last_seq(oss_server)

    again = _uploader(
        oss_server,
        path,
        UploadDiscoveryStore(make_client(oss_server), BUCKET, KEY, str(path), PART, retry=True),
    ).run()

    _nothing_sent(oss_server, mark)
    assert sum(reads) == len(data)  # one read of the file, for its CRC-64
    assert again.already_complete and again.crc64 == first.crc64 == crc64_mod.crc64(data)


def test_an_expired_mark_is_dropped_and_the_object_still_recognised(
    oss_server: LocalOssServer, tmp_path: Path, reads: list[int]
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 4 * PART)
    store = MemoryCheckpointStore()
    _uploader(oss_server, path, store).run()
    record = json.loads(store.text or "")
    record["completed"]["until"] = "2020-01-01T00:00:00+00:00"
    store.text = json.dumps(record)
    reads.clear()
    mark = last_seq(oss_server)

    again = _uploader(oss_server, path, store).run()

    _nothing_sent(oss_server, mark)
    assert sum(reads) == len(data) and again.already_complete
    assert store.text is None  # the expired mark is gone, and a pre-existing object leaves no new one


def test_a_mark_whose_object_was_replaced_uploads_again(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 4 * PART)
    store = MemoryCheckpointStore()
    _uploader(oss_server, path, store).run()
    make_client(oss_server).put_object(BUCKET, KEY, b"someone else's bytes")

    again = _uploader(oss_server, path, store).run()

    assert not again.already_complete and again.parts_sent == 4
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_a_mark_for_a_changed_file_uploads_again(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    make_file(path, 4 * PART)
    store = MemoryCheckpointStore()
    _uploader(oss_server, path, store).run()
    data = make_file(path, 4 * PART, seed=9)

    again = _uploader(oss_server, path, store).run()

    assert not again.already_complete and again.parts_sent == 4
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_an_object_older_than_the_file_is_not_read_for_comparison(
    oss_server: LocalOssServer, tmp_path: Path, reads: list[int]
) -> None:
    """A daily file of a fixed size overwriting yesterday's object: no pointless read of the file."""
    path = tmp_path / "src.bin"
    make_file(path, 4 * PART, seed=1)
    _uploader(oss_server, path, None).run()
    data = make_file(path, 4 * PART, seed=2)
    future = os.stat(path).st_mtime + 3600
    os.utime(path, (future, future))  # modified after the object was written
    reads.clear()

    again = _uploader(oss_server, path, MemoryCheckpointStore()).run()

    assert not again.already_complete and again.parts_sent == 4
    assert sum(reads) == len(data)  # the parts, read once to send them; no extra comparison read
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_the_final_failure_says_how_to_resume_and_how_to_abort(
    oss_server: LocalOssServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "src.bin"
    make_file(path, 6 * PART)
    store = MemoryCheckpointStore()
    oss_server.add_fault("UploadPart", "reset", nth=3)
    caplog.set_level(logging.WARNING)
    with pytest.raises(PartUploadError):
        _uploader(oss_server, path, store).run()
    upload_id = Checkpoint.from_json(store.text or "").upload_id
    (line,) = [r.getMessage() for r in caplog.records if "is kept with its checkpoint" in r.getMessage()]
    assert f"continues upload ID {upload_id}" in line
    assert f"oss-uploads --conn-id oss_backup abort oss://{BUCKET}/{KEY} {upload_id}" in line
    assert "abort_on_final_failure=True" in line
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [upload_id]


def test_a_kill_between_completing_and_marking_is_recognised_without_reading(
    oss_server: LocalOssServer, tmp_path: Path, reads: list[int]
) -> None:
    """The try completed the upload but died before its record was marked: the record still names
    the upload with every part confirmed, so the retry checks the object against their CRC-64s."""

    class KilledAfterComplete(MemoryCheckpointStore):
        def save(self, checkpoint: Checkpoint) -> None:
            if checkpoint.completed is None:
                super().save(checkpoint)

    path = tmp_path / "src.bin"
    data = make_file(path, 9 * PART + 5)
    store = KilledAfterComplete()
    first = _uploader(oss_server, path, store).run()
    reads.clear()
    mark = last_seq(oss_server)
    again = _uploader(oss_server, path, store).run()
    _nothing_sent(oss_server, mark)
    assert reads == [] and again.already_complete and again.upload_id == first.upload_id
    assert part_requests(since(oss_server.request_log(), mark)) == []
    assert oss_server.object_bytes(BUCKET, KEY) == data
