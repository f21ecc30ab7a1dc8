"""
Resuming: a new process continues the same upload ID and sends only the missing parts; stale
checkpoints start clean; an object completed by an orphaned try is recognised; concurrent tries.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    Checkpoint,
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
    MemoryCheckpointStore,
    PartUploadError,
    ResumableUploader,
    SourceFingerprint,
    TransferConfig,
    UploadResult,
    plan_parts,
)
from airflow_provider_oss.upload.object_match import options_digest
from tests.upload_support import (
    BUCKET,
    KiB,
    MiB,
    entries,
    last_seq,
    make_client,
    make_file,
    part_requests,
    parts_stored,
    since,
)

REPO = Path(__file__).resolve().parents[2]
PART = 256 * KiB


def uploader(
    server: LocalOssServer, path: Path, store: CheckpointStore | None, key: str, **kwargs: Any
) -> ResumableUploader:
    kwargs.setdefault("part_size", PART)
    kwargs.setdefault("parallelism", 2)
    client_kwargs = kwargs.pop("client_kwargs", {})
    tunables = {
        name: kwargs.pop(name) for name in list(kwargs) if name in TransferConfig.__dataclass_fields__
    }
    return ResumableUploader(
        make_client(server, **client_kwargs),
        BUCKET,
        key,
        path,
        config=TransferConfig(**tunables),
        checkpoint_store=store,
        **kwargs,
    )


def failed_first_run(
    server: LocalOssServer, path: Path, store: CheckpointStore, key: str, *, nth: int = 4, **kwargs: Any
) -> tuple[str, set[int]]:
    """Run an upload that a connection reset on the ``nth`` UploadPart kills; return its upload ID and stored parts."""
    server.add_fault("UploadPart", "reset", nth=nth)
    with pytest.raises(PartUploadError):
        uploader(server, path, store, key, client_kwargs={"max_retries": 0}, **kwargs).run()
    server.clear_faults()
    checkpoint = store.load()
    assert checkpoint is not None
    log = server.request_log()
    assert {e["upload_id"] for e in entries(log, "UploadPart")} == {checkpoint.upload_id}
    return checkpoint.upload_id, parts_stored(log)


def assert_clean_finish(server: LocalOssServer, key: str, data: bytes, result: UploadResult) -> None:
    assert server.object_bytes(BUCKET, key) == data
    assert result.crc64 == crc64.crc64(data)
    assert server.list_uploads(BUCKET) == []


def assert_marked_completed(store: CheckpointStore, result: UploadResult) -> None:
    """What a completed upload leaves in its store: its record, marked with the object's CRC-64."""
    record = store.load()
    assert record is not None and record.completed is not None
    assert (record.upload_id, record.completed.crc64, record.confirmed_parts) == (
        result.upload_id,
        result.crc64,
        {},
    )


# -- kill and retry -------------------------------------------------------------------------------


def test_connection_reset_then_new_process_resumes_the_same_upload(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 3 * MiB)
    checkpoint_dir = tmp_path / "checkpoints"
    store1 = FileCheckpointStore(checkpoint_dir, BUCKET, "big/file.bin", path)
    upload_id, stored = failed_first_run(oss_server, path, store1, "big/file.bin")
    assert 0 < len(stored) < 12
    mark = last_seq(oss_server)

    # a "new process": new client, new uploader, a new store object on the same directory
    store2 = FileCheckpointStore(str(checkpoint_dir) + "/", BUCKET, "big/file.bin", str(path))
    result = uploader(oss_server, path, store2, "big/file.bin").run()

    run2 = since(oss_server.request_log(), mark)
    assert entries(run2, "InitiateMultipartUpload") == []
    assert len(entries(run2, "ListParts")) == 1
    assert {e["upload_id"] for e in run2 if e["upload_id"]} == {upload_id}
    assert sorted(part_requests(run2)) == sorted(set(range(1, 13)) - stored)
    assert result.upload_id == upload_id and result.resumed
    assert (result.parts_reused, result.parts_sent) == (len(stored), 12 - len(stored))
    assert result.bytes_reused == len(stored) * PART
    assert_clean_finish(oss_server, "big/file.bin", data, result)
    assert_marked_completed(store2, result)
    assert len(os.listdir(checkpoint_dir)) == 1


KILL_SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.upload import FileCheckpointStore, ResumableUploader, TransferConfig

    logging.basicConfig(level=logging.INFO)
    endpoint, region, access_key_id, source, checkpoint_dir, key = sys.argv[1:7]
    credentials = Credentials(access_key_id, os.environ["OSS_TEST_SECRET"])
    config = ClientConfig(region=region, endpoint=endpoint, addressing_style="path", pool_size=4)
    store = FileCheckpointStore(checkpoint_dir, "test-bucket", key, source)
    ResumableUploader(
        OssClient(credentials, config), "test-bucket", key, source,
        config=TransferConfig(part_size=1024 * 1024, parallelism=2), checkpoint_store=store,
    ).run()
    print("UPLOAD FINISHED")
    """
)


def test_sigkill_mid_upload_then_resume_sends_only_missing_parts(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 30 * MiB, seed=7)
    checkpoint_dir = tmp_path / "ckpt"
    script = tmp_path / "upload_script.py"
    script.write_text(KILL_SCRIPT)
    key = "killed/upload.bin"
    oss_server.add_fault("UploadPart", "delay", delay=0.15, times=10_000)
    env = {**os.environ, "OSS_TEST_SECRET": oss_server.access_key_secret, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), oss_server.endpoint, oss_server.region, oss_server.access_key_id]
    process = subprocess.Popen(
        [*args, str(path), str(checkpoint_dir), key],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(parts_stored(oss_server.request_log())) < 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the upload subprocess made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        out, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert b"UPLOAD FINISHED" not in out
    assert oss_server.access_key_secret.encode() not in err
    time.sleep(0.5)  # let the server finish the requests that were in flight at the kill
    oss_server.clear_faults()

    store = FileCheckpointStore(checkpoint_dir, BUCKET, key, path)
    checkpoint = store.load()
    assert checkpoint is not None  # saved before the first part
    [upload] = oss_server.list_uploads(BUCKET)
    in_oss = {p["part_number"]: p["crc64"] for p in upload["parts"]}
    # the kill lost at most the confirmations since the last save; the saved ones are all true
    assert checkpoint.confirmed_parts.items() <= in_oss.items()
    mark = last_seq(oss_server)
    result = ResumableUploader(
        make_client(oss_server),
        BUCKET,
        key,
        path,
        config=TransferConfig(part_size=MiB, parallelism=4),
        checkpoint_store=store,
    ).run()

    log = oss_server.request_log()
    run2 = since(log, mark)
    listed_at = entries(run2, "ListParts")[0]["seq"]
    stored_before = parts_stored([e for e in log if e["seq"] < listed_at])
    assert len(stored_before) >= 5
    sent = part_requests(run2)
    assert entries(run2, "InitiateMultipartUpload") == []
    assert {e["upload_id"] for e in run2 if e["upload_id"]} == {checkpoint.upload_id}
    assert set(sent).isdisjoint(stored_before)  # no part stored before the kill is sent again
    assert sorted(sent) == sorted(set(range(1, 31)) - stored_before)
    assert result.parts_reused == len(stored_before) and result.resumed
    assert_clean_finish(oss_server, key, data, result)
    assert_marked_completed(store, result)


# -- stale checkpoints ----------------------------------------------------------------------------


def test_changed_source_aborts_the_old_upload_and_starts_clean(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    make_file(path, 2 * MiB)
    store = FileCheckpointStore(tmp_path / "ck", BUCKET, "k.bin", path)
    old_id, _ = failed_first_run(oss_server, path, store, "k.bin")
    data = make_file(path, 2 * MiB + 5, seed=99)
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, store, "k.bin").run()
    run2 = since(oss_server.request_log(), mark)
    assert [e["upload_id"] for e in entries(run2, "AbortMultipartUpload")] == [old_id]
    assert len(entries(run2, "InitiateMultipartUpload")) == 1
    assert entries(run2, "ListParts") == []
    assert result.upload_id != old_id and not result.resumed and result.parts_reused == 0
    assert_clean_finish(oss_server, "k.bin", data, result)


def test_expired_upload_starts_clean(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 2 * MiB)
    store = MemoryCheckpointStore()
    old_id, _ = failed_first_run(oss_server, path, store, "k.bin")
    oss_server.expire_upload(BUCKET, old_id)  # as a lifecycle rule would
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, store, "k.bin").run()
    run2 = since(oss_server.request_log(), mark)
    assert entries(run2, "ListParts")[0]["error_code"] == "NoSuchUpload"
    assert len(entries(run2, "InitiateMultipartUpload")) == 1
    assert sorted(part_requests(run2)) == list(range(1, 9))
    assert result.upload_id != old_id and not result.resumed
    assert_clean_finish(oss_server, "k.bin", data, result)


def test_upload_expiring_on_list_parts_fault_starts_clean(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, MiB)
    store = MemoryCheckpointStore()
    old_id, _ = failed_first_run(oss_server, path, store, "k.bin", nth=2)
    oss_server.add_fault("ListParts", "expire_upload")
    result = uploader(oss_server, path, store, "k.bin").run()
    assert result.upload_id != old_id
    assert_clean_finish(oss_server, "k.bin", data, result)


def _damage(store: FileCheckpointStore, how: str) -> None:
    if how == "version 99":
        record = json.loads(Path(store.path).read_text())
        record["version"] = 99
        Path(store.path).write_text(json.dumps(record))
    elif how == "truncated":
        text = Path(store.path).read_text()
        Path(store.path).write_text(text[: len(text) // 2])
    elif how == "deeply nested":
        Path(store.path).write_text("[" * 50_000 + "]" * 50_000)
    else:
        Path(store.path).write_text(how)


@pytest.mark.parametrize(
    "damage", ["{not json", "", '{"version": 1}', "[1, 2]", "version 99", "truncated", "deeply nested"]
)
def test_a_damaged_checkpoint_continues_the_upload_that_holds_this_file(
    oss_server: LocalOssServer, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, MiB)
    store = FileCheckpointStore(tmp_path / "ck", BUCKET, "k.bin", path)
    old_id, stored = failed_first_run(oss_server, path, store, "k.bin", nth=3)
    # another writer's upload of the same key, with other bytes in its part: never adopted, never aborted
    client = make_client(oss_server)
    foreign = client.initiate_multipart_upload(BUCKET, "k.bin")
    client.upload_part(BUCKET, "k.bin", foreign, 1, os.urandom(256 * KiB))
    _damage(store, damage)
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, store, "k.bin").run()
    run2 = since(oss_server.request_log(), mark)
    assert result.upload_id == old_id and result.resumed  # the work already stored is kept
    assert sorted(part_requests(run2)) == sorted(set(range(1, 5)) - stored)
    assert result.parts_reused == len(stored) >= 1
    assert entries(run2, "AbortMultipartUpload") == []
    assert oss_server.object_bytes(BUCKET, "k.bin") == data
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [foreign]
    assert_marked_completed(store, result)


def test_a_damaged_checkpoint_without_a_matching_upload_starts_clean_and_aborts_nothing(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, MiB)
    store = FileCheckpointStore(tmp_path / "ck", BUCKET, "k.bin", path)
    old_id, _ = failed_first_run(oss_server, path, store, "k.bin", nth=2)
    data = make_file(path, MiB, seed=7)  # the file changed too: the old upload's part is other bytes
    _damage(store, "truncated")
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, store, "k.bin").run()
    run2 = since(oss_server.request_log(), mark)
    assert result.upload_id != old_id and not result.resumed
    assert entries(run2, "AbortMultipartUpload") == []  # not provably this task's: left alone
    assert oss_server.object_bytes(BUCKET, "k.bin") == data
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [old_id]


def test_changed_part_size_starts_clean(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 2 * MiB)
    store = MemoryCheckpointStore()
    old_id, _ = failed_first_run(oss_server, path, store, "k.bin")
    result = uploader(oss_server, path, store, "k.bin", part_size=512 * KiB).run()
    assert result.upload_id != old_id and result.parts_total == 4
    assert [e["upload_id"] for e in entries(oss_server.request_log(), "AbortMultipartUpload")] == [old_id]
    assert_clean_finish(oss_server, "k.bin", data, result)


def test_changed_object_options_start_clean(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 2 * MiB)
    store = MemoryCheckpointStore()
    old_id, _ = failed_first_run(
        oss_server, path, store, "k.bin", object_options=ObjectOptions(content_type="text/plain")
    )
    result = uploader(
        oss_server, path, store, "k.bin", object_options=ObjectOptions(content_type="application/json")
    ).run()
    assert result.upload_id != old_id
    assert_clean_finish(oss_server, "k.bin", data, result)
    assert make_client(oss_server).head_object(BUCKET, "k.bin").content_type == "application/json"


def test_checkpoint_for_another_key_is_left_alone_and_replaced(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, MiB)
    kv: dict[str, Any] = {}

    class KV:
        def get(self, key: str, default: Any = None) -> Any:
            return kv.get(key, default)

        def set(self, key: str, value: Any) -> None:
            kv[key] = json.loads(json.dumps(value))

        def delete(self, key: str) -> None:
            kv.pop(key, None)

    store = KeyValueCheckpointStore(KV())
    old_id, _ = failed_first_run(oss_server, path, store, "old-key.bin", nth=2)
    result = uploader(oss_server, path, store, "new-key.bin").run()
    # a record naming another key proves nothing about whose upload that is: it is never aborted
    assert entries(oss_server.request_log(), "AbortMultipartUpload") == []
    assert [(u["key"], u["upload_id"]) for u in oss_server.list_uploads(BUCKET)] == [("old-key.bin", old_id)]
    assert oss_server.object_bytes(BUCKET, "new-key.bin") == data
    assert_marked_completed(store, result)


# -- an earlier try completed the object ----------------------------------------------------------


class SnapshotStore(MemoryCheckpointStore):
    """Remembers the last saved record even after delete (to replay an orphaned try's checkpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: str | None = None

    def save(self, checkpoint: Checkpoint) -> None:
        super().save(checkpoint)
        if checkpoint.completed is None:  # what a try killed right after completing leaves behind
            self.saved = checkpoint.to_json()


@pytest.mark.parametrize("replace", [True, False])
def test_object_completed_by_an_orphaned_try_is_not_uploaded_again(
    oss_server: LocalOssServer, tmp_path: Path, replace: bool
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 2 * MiB)
    snapshot = SnapshotStore()
    first = uploader(oss_server, path, snapshot, "done.bin").run()
    # the orphan completed, but its checkpoint survived (killed before deleting it)
    stale = MemoryCheckpointStore(snapshot.saved)
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, stale, "done.bin", replace=replace).run()
    run2 = since(oss_server.request_log(), mark)
    for op in ("UploadPart", "InitiateMultipartUpload", "PutObject", "CompleteMultipartUpload"):
        assert entries(run2, op) == []
    assert result.already_complete and result.resumed
    assert (result.parts_sent, result.bytes_sent) == (0, 0)
    assert result.upload_id == first.upload_id
    assert result.crc64 == crc64.crc64(data) and result.etag == first.etag
    assert stale.load() is None
    assert oss_server.object_bytes(BUCKET, "done.bin") == data


def test_stale_checkpoint_with_a_different_object_uploads_again(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 2 * MiB)
    snapshot = SnapshotStore()
    uploader(oss_server, path, snapshot, "done.bin").run()
    make_client(oss_server).put_object(BUCKET, "done.bin", b"x" * len(data))  # same size, other bytes
    result = uploader(oss_server, path, MemoryCheckpointStore(snapshot.saved), "done.bin").run()
    assert not result.already_complete and result.parts_sent == 8
    assert_clean_finish(oss_server, "done.bin", data, result)


# -- concurrent tries -----------------------------------------------------------------------------


def test_two_tries_running_at_once_on_the_same_checkpoint(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 4 * MiB)
    checkpoint_dir = tmp_path / "ck"
    store = FileCheckpointStore(checkpoint_dir, BUCKET, "race.bin", path)
    upload_id, _ = failed_first_run(oss_server, path, store, "race.bin", nth=3)
    oss_server.add_fault("UploadPart", "delay", delay=0.02, times=10_000)  # make the tries overlap
    results: list[UploadResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(
                uploader(
                    oss_server,
                    path,
                    FileCheckpointStore(checkpoint_dir, BUCKET, "race.bin", path),
                    "race.bin",
                ).run()
            )
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 2
    assert {r.upload_id for r in results} == {upload_id}
    log = oss_server.request_log()
    assert len(entries(log, "InitiateMultipartUpload")) == 1  # nobody re-uploaded from scratch
    assert len([e for e in entries(log, "CompleteMultipartUpload") if e["status"] == 200]) == 1
    assert all(r.crc64 == crc64.crc64(data) for r in results)
    assert oss_server.object_bytes(BUCKET, "race.bin") == data
    assert oss_server.list_uploads(BUCKET) == []
    # the try that completed marked the record; the other one, meeting the finished object, may have
    # dropped it: either way no record of an upload in progress is left behind
    record = FileCheckpointStore(checkpoint_dir, BUCKET, "race.bin", path).load()
    assert record is None or (record.completed is not None and record.upload_id == upload_id)
    assert len(os.listdir(checkpoint_dir)) == (0 if record is None else 1)


# -- which parts are reused -----------------------------------------------------------------------


def test_non_contiguous_parts_are_reused_and_bad_ones_resent(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 10 * PART + 1000)  # 11 parts
    client = make_client(oss_server)
    plan = plan_parts(len(data), PART)
    upload_id = client.initiate_multipart_upload(BUCKET, "holes.bin")
    for number in (1, 3, 5):
        part = plan.part(number)
        client.upload_part(BUCKET, "holes.bin", upload_id, number, data[part.offset : part.end])
    client.upload_part(BUCKET, "holes.bin", upload_id, 7, b"\0" * PART)  # right size, wrong bytes
    client.upload_part(BUCKET, "holes.bin", upload_id, 8, data[plan.part(8).offset :][: PART - 1])  # short
    store = MemoryCheckpointStore()
    store.save(
        Checkpoint(
            bucket=BUCKET,
            key="holes.bin",
            upload_id=upload_id,
            part_size=PART,
            file_size=len(data),
            fingerprint=SourceFingerprint.of_file(path),
            source_path=str(path),
            options_digest=options_digest(None),
        )
    )
    mark = last_seq(oss_server)
    result = uploader(oss_server, path, store, "holes.bin", parallelism=3).run()
    run = since(oss_server.request_log(), mark)
    assert sorted(part_requests(run)) == [2, 4, 6, 7, 8, 9, 10, 11]
    assert (result.parts_reused, result.parts_sent, result.upload_id) == (3, 8, upload_id)
    assert result.bytes_reused == 3 * PART
    assert_clean_finish(oss_server, "holes.bin", data, result)


def test_resume_through_a_key_value_store_like_task_state_store(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 2 * MiB)
    values: dict[str, Any] = {}
    retention: list[Any] = []

    class TaskStateStore:
        def get(self, key: str, default: Any = None) -> Any:
            return json.loads(json.dumps(values[key])) if key in values else default

        def set(self, key: str, value: Any, *, retention: Any = None) -> None:
            values[key] = value
            retention_calls.append(retention)

        def delete(self, key: str) -> None:
            values.pop(key, None)

    retention_calls = retention
    store = KeyValueCheckpointStore(TaskStateStore(), set_kwargs={"retention": "NEVER_EXPIRE"})
    upload_id, stored = failed_first_run(oss_server, path, store, "kv.bin")
    assert isinstance(values["oss_resumable_upload"], dict)
    result = uploader(oss_server, path, store, "kv.bin").run()
    assert result.upload_id == upload_id and result.parts_reused == len(stored)
    # every save of the upload in progress, the confirmations too, never expires; the completed mark
    # is kept for its retention (7 days by default), then Airflow drops it
    assert retention and set(retention[:-1]) == {"NEVER_EXPIRE"}
    assert timedelta(days=6, hours=23) < retention[-1] <= timedelta(days=7)
    assert_clean_finish(oss_server, "kv.bin", data, result)
    assert_marked_completed(store, result)
