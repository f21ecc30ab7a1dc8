"""
Confirmed parts: the checkpoint records each part OSS acknowledged with the local bytes' CRC-64,
and a resume reuses a listed part with that CRC-64 without reading the file again. Anything else
OSS lists (unconfirmed, or with another CRC-64 than confirmed) is read and checked first.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    Checkpoint,
    FileCheckpointStore,
    MemoryCheckpointStore,
    ProgressEvent,
    SourceFingerprint,
)
from airflow_provider_oss.upload.confirmations import ConfirmationRecorder
from airflow_provider_oss.upload.reader import PartReader
from tests.upload.test_upload_resume import PART, assert_clean_finish, failed_first_run, uploader
from tests.upload_support import BUCKET, last_seq, make_client, make_file, part_requests, since


class ReadSpy:
    """Records the part offsets whose bytes a run read back to CRC-check them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offsets: list[int] = []
        original = PartReader.crc64_of

        def spy(reader: PartReader, offset: int, length: int) -> tuple[int, int]:
            self.offsets.append(offset)
            return original(reader, offset, length)

        monkeypatch.setattr(PartReader, "crc64_of", spy)

    def parts(self) -> set[int]:
        return {offset // PART + 1 for offset in self.offsets}


def stored_crcs(server: LocalOssServer) -> dict[int, int]:
    """Part number -> CRC-64 of the parts of the one upload in progress."""
    [upload] = server.list_uploads(BUCKET)
    return {p["part_number"]: p["crc64"] for p in upload["parts"]}


def test_confirmed_parts_are_reused_without_reading_them(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 12 * PART)
    store = FileCheckpointStore(tmp_path / "ck", BUCKET, "c.bin", path)
    upload_id, stored = failed_first_run(oss_server, path, store, "c.bin", nth=6)
    checkpoint = store.load()
    assert checkpoint is not None and checkpoint.upload_id == upload_id
    # the failed run saved what it had confirmed, with OSS's CRC-64s: every stored part, including
    # those still in flight when the run failed (they finished after the failure)
    confirmed = checkpoint.confirmed_parts
    assert confirmed == stored_crcs(oss_server) and set(confirmed) == stored and len(confirmed) >= 5

    spy = ReadSpy(monkeypatch)
    mark = last_seq(oss_server)
    result = uploader(
        oss_server, path, FileCheckpointStore(tmp_path / "ck", BUCKET, "c.bin", path), "c.bin"
    ).run()
    assert spy.offsets == []  # nothing was read back
    assert sorted(part_requests(since(oss_server.request_log(), mark))) == sorted(set(range(1, 13)) - stored)
    assert (result.upload_id, result.parts_reused) == (upload_id, len(stored))
    assert result.parts_reused_confirmed == len(confirmed)
    assert_clean_finish(oss_server, "c.bin", data, result)


def test_verify_reused_parts_reads_every_listed_part(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 8 * PART)
    store = MemoryCheckpointStore()
    _, stored = failed_first_run(oss_server, path, store, "v.bin", nth=5)
    spy = ReadSpy(monkeypatch)
    result = uploader(oss_server, path, store, "v.bin", verify_reused_parts=True).run()
    assert spy.parts() == stored and result.parts_reused == len(stored)
    assert result.parts_reused_confirmed == 0
    assert_clean_finish(oss_server, "v.bin", data, result)


def test_parts_that_disagree_with_their_confirmation_are_read_and_checked(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 10 * PART)
    store = MemoryCheckpointStore()
    upload_id, stored = failed_first_run(oss_server, path, store, "d.bin", nth=7)
    checkpoint = store.load()
    assert checkpoint is not None
    confirmed = dict(checkpoint.confirmed_parts)
    assert {1, 2, 3} <= set(confirmed)
    unconfirmed = stored - set(confirmed)
    confirmed[1] ^= 1  # the record disagrees with OSS: part 1 must be read, and it matches the file
    del confirmed[2]  # unconfirmed (made after the last save): read, and it matches the file
    store.save(checkpoint.with_confirmed(confirmed))
    # OSS's part 3 is replaced by other bytes of the same size after it was confirmed
    make_client(oss_server).upload_part(BUCKET, "d.bin", upload_id, 3, b"\0" * PART)

    spy = ReadSpy(monkeypatch)
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, store, "d.bin").run()
    assert spy.parts() == {1, 2, 3} | unconfirmed
    resent = part_requests(since(oss_server.request_log(), mark))
    assert 3 in resent and not {1, 2} & set(resent)
    assert result.parts_reused == len(stored) - 1
    assert_clean_finish(oss_server, "d.bin", data, result)


def test_confirmations_never_overwrite_another_tries_checkpoint(
    oss_server: LocalOssServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 8 * PART)
    store = MemoryCheckpointStore()
    theirs = Checkpoint(
        bucket=BUCKET,
        key="o.bin",
        upload_id="ANOTHER-TRY-UPLOAD-ID",
        part_size=PART,
        file_size=len(data),
        fingerprint=SourceFingerprint.of_file(path),
        source_path=str(path),
    )

    def another_try_takes_over(event: ProgressEvent) -> None:
        if event.part_number == 2:
            store.save(theirs)

    caplog.set_level(logging.WARNING)
    result = uploader(
        oss_server, path, store, "o.bin", parallelism=1, progress_callback=another_try_takes_over
    ).run()
    assert_clean_finish(oss_server, "o.bin", data, result)
    assert store.load() == theirs  # neither a confirmation save nor the final delete touched it
    assert "no longer names upload ID" in caplog.text


# -- the recorder on its own ---------------------------------------------------------------------


def make_recorder(saves: list[Checkpoint], **kwargs: Any) -> ConfirmationRecorder:
    checkpoint = Checkpoint(
        bucket="b-1",
        key="k",
        upload_id="U1",
        part_size=PART,
        file_size=64 * PART,
        fingerprint=SourceFingerprint(64 * PART, 1, "ab" * 32),
        source_path="/x",
        confirmed_parts={1: 11},
    )
    kwargs.setdefault("part_count", 64)
    kwargs.setdefault("interval", 60.0)
    return ConfirmationRecorder(checkpoint, saves.append, logger=logging.getLogger("test"), **kwargs)


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_recorder_saves_a_batch_at_once_and_keeps_earlier_confirmations() -> None:
    saves: list[Checkpoint] = []
    recorder = make_recorder(saves)  # 64 parts: a batch is 2
    recorder.confirm(2, 22)
    time.sleep(0.2)
    assert saves == []  # one confirmation waits for the batch or the interval
    recorder.confirm(3, 33)
    wait_for(lambda: len(saves) == 1)
    assert saves[0].confirmed_parts == {1: 11, 2: 22, 3: 33}
    recorder.confirm(3, 33)  # already recorded: not a new confirmation
    recorder.close(flush=True)
    assert len(saves) == 1


def test_recorder_saves_after_the_interval_and_flushes_on_close() -> None:
    saves: list[Checkpoint] = []
    recorder = make_recorder(saves, interval=0.1)
    recorder.confirm(5, 55)
    wait_for(lambda: len(saves) == 1)
    assert saves[0].confirmed_parts == {1: 11, 5: 55}
    recorder.confirm(6, 66)
    recorder.close(flush=True)
    assert saves[-1].confirmed_parts == {1: 11, 5: 55, 6: 66}
    recorder.confirm(7, 77)  # after close: recorded in memory, never saved
    time.sleep(0.2)
    assert len(saves) == 2 and not any(t.name == "oss-upload-checkpoint" for t in threading.enumerate())


def test_recorder_close_without_flush_drops_pending_confirmations() -> None:
    saves: list[Checkpoint] = []
    recorder = make_recorder(saves)
    recorder.confirm(9, 99)
    recorder.close(flush=False)
    assert saves == []


def test_recorder_stops_saving_after_a_failed_save(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Checkpoint] = []

    def failing_save(checkpoint: Checkpoint) -> None:
        calls.append(checkpoint)
        raise OSError("disk full")

    recorder = ConfirmationRecorder(
        Checkpoint(
            bucket="b-1",
            key="k",
            upload_id="U1",
            part_size=PART,
            file_size=PART,
            fingerprint=SourceFingerprint(PART, 1, "ab" * 32),
            source_path="/x",
        ),
        failing_save,
        part_count=1,
        logger=logging.getLogger("test"),
    )
    caplog.set_level(logging.WARNING)
    recorder.confirm(1, 1)
    wait_for(lambda: len(calls) == 1)
    recorder.confirm(2, 2)
    recorder.close(flush=True)
    assert len(calls) == 1
    assert "Could not update the checkpoint with confirmed parts (disk full)" in caplog.text


class KeptCheckpointStore(MemoryCheckpointStore):
    """A store that sees nothing after the completion: the try was killed right after completing."""

    def save(self, checkpoint: Checkpoint) -> None:
        if checkpoint.completed is None:
            super().save(checkpoint)

    def delete(self) -> None:
        pass


@pytest.mark.parametrize("verify", [False, True])
def test_an_object_completed_by_a_killed_try_is_checked_without_reading_the_file(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify: bool
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 6 * PART + 7)
    store = KeptCheckpointStore()
    first = uploader(oss_server, path, store, "done.bin").run()
    checkpoint = store.load()
    assert checkpoint is not None and len(checkpoint.confirmed_parts) == 7  # all saved before completing

    whole_file_reads: list[str] = []
    original = crc64_mod.crc64_of_file

    def spy(name: str, *args: Any, **kwargs: Any) -> int:
        whole_file_reads.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(crc64_mod, "crc64_of_file", spy)
    mark = last_seq(oss_server)
    again = uploader(oss_server, path, store, "done.bin", verify_reused_parts=verify).run()
    assert again.already_complete and again.crc64 == first.crc64
    assert part_requests(since(oss_server.request_log(), mark)) == []
    assert whole_file_reads == ([str(path)] if verify else [])
    assert oss_server.object_bytes(BUCKET, "done.bin") == data
