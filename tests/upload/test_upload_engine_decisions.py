"""
The engine's decisions, call by call, against a small in-memory UploadAPI (tests/fake_upload_api.py):
what it aborts, what it deletes, what it sends and what it reuses. The same situations against the
real local server are in test_upload_engine.py and test_upload_resume.py (the bytes on the wire).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import CrcMismatchError, OssConnectionError
from airflow_provider_oss.upload import (
    Checkpoint,
    CompletedMark,
    MemoryCheckpointStore,
    ObjectExistsError,
    PartUploadError,
    ResumableUploader,
    SourceFingerprint,
    TransferConfig,
    UploadAPI,
    UploadGoneError,
)
from airflow_provider_oss.upload.object_match import options_digest
from airflow_provider_oss.upload.plan import plan_parts
from tests.fake_upload_api import FakeObject, FakeUploadAPI, file_already_exists, no_such_upload

KiB = 1024
PART = 100 * KiB
BUCKET = "b"
KEY = "k.bin"


def _file(tmp_path: Path, size: int = 5 * PART + 7) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    return path, data


def _uploader(
    api: FakeUploadAPI, path: Path, store: MemoryCheckpointStore | None, **kwargs: object
) -> ResumableUploader:
    client: UploadAPI = api  # the fake satisfies the engine's protocol (checked by mypy here)
    return ResumableUploader(
        client,
        BUCKET,
        KEY,
        path,
        config=TransferConfig(part_size=PART, parallelism=2),
        checkpoint_store=store,
        **kwargs,  # type: ignore[arg-type]
    )


def _checkpoint_for(path: Path, upload_id: str, confirmed: dict[int, int] | None = None) -> Checkpoint:
    fingerprint = SourceFingerprint.of_file(path)
    plan = plan_parts(fingerprint.size, PART)
    return Checkpoint(
        bucket=BUCKET,
        key=KEY,
        upload_id=upload_id,
        part_size=plan.part_size,
        file_size=fingerprint.size,
        fingerprint=fingerprint,
        source_path=str(path),
        options_digest=options_digest(None),
        confirmed_parts=confirmed or {},
    )


def test_fresh_upload_sends_every_part_and_marks_its_checkpoint_completed(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    result = _uploader(api, path, store).run()
    assert api.objects[(BUCKET, KEY)].data == data
    assert (result.parts_sent, result.parts_reused, result.crc64) == (6, 0, crc.crc64(data))
    assert len(api.ops("InitiateMultipartUpload")) == 1 and api.ops("AbortMultipartUpload") == []
    assert _completed(store).crc64 == crc.crc64(data) and store.saves >= 2


def _completed(store: MemoryCheckpointStore) -> CompletedMark:
    record = store.load()
    assert record is not None and record.completed is not None, record
    return record.completed


def test_resume_reuses_confirmed_parts_without_sending_them(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    upload_id = api.initiate_multipart_upload(BUCKET, KEY)
    confirmed = {}
    for part in plan_parts(len(data), PART):
        if part.number <= 3:
            api.upload_part(BUCKET, KEY, upload_id, part.number, data[part.offset : part.end])
            confirmed[part.number] = crc.crc64(data[part.offset : part.end])
    store.save(_checkpoint_for(path, upload_id, confirmed))
    api.calls.clear()
    result = _uploader(api, path, store).run()
    assert sorted(int(c[3]) for c in api.ops("UploadPart")) == [4, 5, 6]
    assert (result.resumed, result.parts_reused, result.parts_reused_confirmed) == (True, 3, 3)
    assert result.upload_id == upload_id and api.objects[(BUCKET, KEY)].data == data
    assert api.ops("AbortMultipartUpload") == [] and api.ops("InitiateMultipartUpload") == []


def test_stale_checkpoint_aborts_its_upload_once_and_starts_clean(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    old = api.initiate_multipart_upload(BUCKET, KEY)
    store.save(_checkpoint_for(path, old))
    path.write_bytes(os.urandom(len(data)))  # the file changed since: the checkpoint is stale
    os.utime(path, ns=(1, 1))
    api.calls.clear()
    result = _uploader(api, path, store).run()
    assert api.ops("AbortMultipartUpload") == [("AbortMultipartUpload", KEY, old)]
    assert result.upload_id != old and not result.resumed
    assert api.objects[(BUCKET, KEY)].data == path.read_bytes()
    assert _completed(store).crc64 == crc.crc64(path.read_bytes()) and api.uploads == {}


def test_vanished_upload_is_not_aborted_and_a_clean_upload_follows(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    store.save(_checkpoint_for(path, "GONE0001"))  # removed by a lifecycle rule, say
    result = _uploader(api, path, store).run()
    assert api.ops("ListParts") == [("ListParts", KEY, "GONE0001")]
    assert api.ops("AbortMultipartUpload") == []  # nothing to abort: it is gone
    assert result.upload_id != "GONE0001" and result.parts_sent == 6
    assert api.objects[(BUCKET, KEY)].data == data


def test_already_complete_object_sends_nothing(tmp_path: Path) -> None:
    """An earlier try completed the object and died before deleting the checkpoint."""
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    confirmed = {p.number: crc.crc64(data[p.offset : p.end]) for p in plan_parts(len(data), PART)}
    store.save(_checkpoint_for(path, "DONE0001", confirmed))
    api.put_object(BUCKET, KEY, data)
    api.calls.clear()
    result = _uploader(api, path, store).run()
    assert result.already_complete and result.upload_id == "DONE0001" and result.crc64 == crc.crc64(data)
    assert [c[0] for c in api.calls] == ["ListParts", "HeadObject"]  # nothing sent, nothing aborted
    assert store.text is None


def test_object_written_by_another_during_the_upload_aborts_and_keeps_theirs(tmp_path: Path) -> None:
    path, _ = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()

    def another_writer(op: str, *args: str) -> None:
        if op == "CompleteMultipartUpload":
            api.objects.setdefault((BUCKET, KEY), FakeObject(b"theirs"))

    api.fail = another_writer
    with pytest.raises(ObjectExistsError, match="created by someone else while this file was being uploaded"):
        _uploader(api, path, store, replace=False, abort_on_failure=True).run()
    aborts = api.ops("AbortMultipartUpload")
    assert len(aborts) == 1  # aborted once, by the recovery, and not again by the final try's failure policy
    assert api.objects[(BUCKET, KEY)].data == b"theirs" and store.text is None and api.uploads == {}


def test_object_appeared_with_the_same_bytes_is_success(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()

    def same_bytes_writer(op: str, *args: str) -> None:
        if op == "CompleteMultipartUpload" and (BUCKET, KEY) not in api.objects:
            api.put_object(BUCKET, KEY, data)

    api.fail = same_bytes_writer
    result = _uploader(api, path, store, replace=False).run()
    assert result.crc64 == crc.crc64(data) and len(api.ops("AbortMultipartUpload")) == 1


@pytest.mark.parametrize("final", [False, True])
def test_abort_only_on_the_final_failure(tmp_path: Path, final: bool) -> None:
    path, _ = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()

    def network_down(op: str, *args: str) -> None:
        if op == "UploadPart" and args[2] == "3":
            raise OssConnectionError("connection reset", method="PUT", key=KEY)

    api.fail = network_down
    with pytest.raises(PartUploadError, match="part 3 of 6"):
        _uploader(api, path, store, abort_on_failure=final).run()
    if final:
        assert len(api.ops("AbortMultipartUpload")) == 1 and store.text is None and api.uploads == {}
    else:
        assert api.ops("AbortMultipartUpload") == [] and store.load() is not None and len(api.uploads) == 1


def test_an_interruption_never_aborts_even_on_the_final_try(tmp_path: Path) -> None:
    path, _ = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()

    def killed(op: str, *args: str) -> None:
        if op == "UploadPart" and args[2] == "2":
            raise KeyboardInterrupt

    api.fail = killed
    with pytest.raises(KeyboardInterrupt):
        _uploader(api, path, store, abort_on_failure=True).run()
    assert api.ops("AbortMultipartUpload") == [] and store.load() is not None


def test_no_store_aborts_a_failed_upload_since_nobody_could_resume_it(tmp_path: Path) -> None:
    path, _ = _file(tmp_path)
    api = FakeUploadAPI()

    def network_down(op: str, *args: str) -> None:
        if op == "UploadPart":
            raise OssConnectionError("down")

    api.fail = network_down
    with pytest.raises(PartUploadError):
        _uploader(api, path, None).run()
    assert len(api.ops("AbortMultipartUpload")) == 1 and api.uploads == {}


def test_part_crc_mismatch_is_sent_once_more_then_fails(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    api.damage[2] = 12345  # damaged once on the way: the re-send succeeds
    result = _uploader(api, path, store).run()
    assert [c[3] for c in api.ops("UploadPart")].count("2") == 2 and result.parts_sent == 6
    assert api.objects[(BUCKET, KEY)].data == data

    api2, store2 = FakeUploadAPI(), MemoryCheckpointStore()

    def always_damaged(op: str, *args: str) -> None:
        if op == "UploadPart" and args[2] == "2":
            api2.damage[2] = 999

    api2.fail = always_damaged
    with pytest.raises(
        CrcMismatchError, match=r"Part 2 of upload ID .*: OSS computed CRC-64 999 .* twice"
    ) as info:
        _uploader(api2, path, store2).run()
    assert (info.value.server_crc, info.value.part_number) == (999, 2)
    assert api2.ops("AbortMultipartUpload") == []  # not the final try: a retry sends it again


def test_object_crc_is_checked_by_head_when_complete_reports_none(tmp_path: Path) -> None:
    path, data = _file(tmp_path)
    api = FakeUploadAPI()
    api.complete_reports_crc = False
    result = _uploader(api, path, MemoryCheckpointStore()).run()
    assert result.crc64 == crc.crc64(data)
    assert api.ops("HeadObject")[-1] == ("HeadObject", KEY)  # the object's one check, through HEAD


def test_upload_vanished_during_parts_and_object_is_not_the_file(tmp_path: Path) -> None:
    path, _ = _file(tmp_path)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()

    def lifecycle_rule(op: str, *args: str) -> None:
        if op == "UploadPart" and args[2] == "3":
            api.uploads.pop(args[1], None)
            raise no_such_upload()

    api.fail = lifecycle_rule
    # part 3's hook removes the upload; the part in flight beside it (2 when it is still being sent,
    # else 4, or 5 once 4 finished first) may be the first to report it: the part named is whichever saw it
    with pytest.raises(UploadGoneError, match=r"disappeared during UploadPart [2345] and the object in OSS"):
        _uploader(api, path, store).run()
    assert store.text is None and api.ops("AbortMultipartUpload") == []


def test_replace_false_existing_object_fails_before_sending(tmp_path: Path) -> None:
    path, _ = _file(tmp_path)
    api = FakeUploadAPI()
    api.put_object(BUCKET, KEY, b"theirs")
    api.calls.clear()
    with pytest.raises(ObjectExistsError, match="already exists and replace=False: nothing was uploaded"):
        _uploader(api, path, MemoryCheckpointStore(), replace=False).run()
    assert [c[0] for c in api.calls] == ["HeadObject"]


def test_small_file_put_loses_the_race_with_forbid_overwrite(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 10)
    api = FakeUploadAPI()

    def writer(op: str, *args: str) -> None:
        if op == "PutObject":
            raise file_already_exists()

    api.fail = writer
    with pytest.raises(ObjectExistsError, match="refused to overwrite"):
        _uploader(api, path, None, replace=False).run()
    assert [c[0] for c in api.calls] == ["HeadObject", "PutObject"]


def test_pool_size_below_parallelism_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ResumableUploader(FakeUploadAPI(pool_size=2), BUCKET, KEY, "/x", config=TransferConfig(parallelism=8))
    assert "pool_size (2) is below the upload parallelism (8)" in caplog.text
