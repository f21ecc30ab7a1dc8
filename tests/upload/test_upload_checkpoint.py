"""Checkpoint records and stores: strict parsing, atomic 0600 files, odd keys, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.upload.checkpoint import FORMAT_VERSION, Checkpoint
from airflow_provider_oss.upload.errors import CheckpointCorruptError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.stores import (
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
    MemoryCheckpointStore,
)

SAMPLE = "ab" * 32


def make_checkpoint(upload_id: str = "0004B9894A22E5B1888A1E29F823ABCD", **overrides: Any) -> Checkpoint:
    fields: dict[str, Any] = {
        "bucket": "test-bucket",
        "key": "dir/file.bin",
        "upload_id": upload_id,
        "part_size": 1024 * 1024,
        "file_size": 5_000_000,
        "fingerprint": SourceFingerprint(size=5_000_000, mtime_ns=1_700_000_000_123_456_789, sample=SAMPLE),
        "source_path": "/data/file.bin",
        "created_at": "2026-11-23T08:00:00+00:00",
        "options_digest": "cd" * 32,
    }
    fields.update(overrides)
    return Checkpoint(**fields)


class DictKV:
    """A minimal key-value store like Airflow's task_state_store (JSON values, retention kwarg)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.set_calls: list[dict[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))
        self.set_calls.append(kwargs)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


# -- the record -----------------------------------------------------------------------------------


def test_round_trip_through_json() -> None:
    cp = make_checkpoint(confirmed_parts={1: 0, 2: 2**64 - 1, 5: 12345})
    text = cp.to_json()
    assert Checkpoint.from_json(text) == cp
    data = json.loads(text)
    assert data["version"] == FORMAT_VERSION
    assert set(data) == {
        "version",
        "bucket",
        "key",
        "upload_id",
        "part_size",
        "file_size",
        "fingerprint",
        "source_path",
        "created_at",
        "options_digest",
        "confirmed_parts",
        "completed",
    }


def test_confirmed_parts_are_packed_compactly() -> None:
    every = {n: (n * 0x9E3779B97F4A7C15) % 2**64 for n in range(1, 10_001)}
    cp = make_checkpoint(confirmed_parts=every)
    text = cp.to_json()
    assert len(text) < 170_000  # 12 bytes a part, base64: the largest upload fits a 256 KiB record
    assert Checkpoint.from_json(text).confirmed_parts == every
    assert cp.with_confirmed({3: 7}).confirmed_parts == {3: 7}
    assert cp.confirmed_parts == every  # with_confirmed makes a new record


def test_a_version_1_record_still_reads() -> None:
    data = make_checkpoint().to_dict()
    del data["confirmed_parts"], data["completed"]
    data["version"] = 1
    cp = Checkpoint.from_dict(data)
    assert (cp.confirmed_parts, cp.version) == ({}, FORMAT_VERSION)
    data["confirmed_parts"] = ""
    with pytest.raises(CheckpointCorruptError, match="unknown field"):
        Checkpoint.from_dict(data)


@pytest.mark.parametrize("confirmed", [{0: 1}, {10_001: 1}, {1: -1}, {1: 2**64}])
def test_out_of_range_confirmed_parts_are_refused(confirmed: dict[int, int]) -> None:
    with pytest.raises(ValueError, match="out of range"):
        make_checkpoint(confirmed_parts=confirmed)


def test_record_has_no_credentials_or_endpoint() -> None:
    text = make_checkpoint().to_json().lower()
    for word in ("secret", "token", "password", "access_key", "endpoint", "http", "authorization"):
        assert word not in text


def test_created_at_defaults_to_now_utc() -> None:
    cp = Checkpoint(
        bucket="b-1",
        key="k",
        upload_id="U1",
        part_size=102400,
        file_size=1,
        fingerprint=SourceFingerprint(1, 1, SAMPLE),
        source_path="/x",
    )
    assert cp.created_at.endswith("+00:00")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=5), "unknown format version 5"),
        (lambda d: d.pop("version"), "unknown format version None"),
        (lambda d: d.update(version="1"), "unknown format version"),
        (lambda d: d.pop("upload_id"), "missing field"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.update(upload_id=""), "upload_id"),
        (lambda d: d.update(upload_id="has space"), "upload_id"),
        (lambda d: d.update(upload_id=42), "upload_id"),
        (lambda d: d.update(part_size=1000), "part_size"),
        (lambda d: d.update(part_size=6 * 1024**3), "part_size"),
        (lambda d: d.update(part_size=True), "part_size"),
        (lambda d: d.update(file_size=-5), "file_size"),
        (lambda d: d.update(bucket=""), "bucket"),
        (lambda d: d.update(key=None), "key"),
        (lambda d: d.update(fingerprint={"size": 1}), "fingerprint"),
        (lambda d: d.update(file_size=4), "fingerprint.size differs"),
        (lambda d: d.update(created_at="yesterday"), "created_at"),
        (lambda d: d.update(created_at="2026-11-23T08:00:00"), "time zone"),
        (lambda d: d.update(options_digest="xyz"), "options_digest"),
        (lambda d: d.pop("confirmed_parts"), "missing field"),
        (lambda d: d.update(confirmed_parts="not base64!"), "not base64"),
        (lambda d: d.update(confirmed_parts="AAAA"), "whole"),
        (lambda d: d.update(confirmed_parts=[1, 2]), "must be a string"),
        (lambda d: d.update(confirmed_parts="AgAAAAAAAAAAAAAAAQAAAAAAAAAAAAAA"), "out of order"),
    ],
)
def test_invalid_records_raise_checkpoint_corrupt(mutate: Any, message: str) -> None:
    data = make_checkpoint().to_dict()
    mutate(data)
    with pytest.raises(CheckpointCorruptError, match=message):
        Checkpoint.from_dict(data)


@pytest.mark.parametrize("text", ["", "{", "not json", "[]", "null", "42", '"str"', "\udcff"])
def test_garbage_is_corrupt(text: str) -> None:
    with pytest.raises(CheckpointCorruptError):
        Checkpoint.from_json(text)


def test_corrupt_record_salvages_the_upload_to_abort() -> None:
    data = make_checkpoint(upload_id="UPLOAD-1").to_dict()
    data["version"] = 99
    with pytest.raises(CheckpointCorruptError) as info:
        Checkpoint.from_dict(data)
    assert info.value.salvage == {"bucket": "test-bucket", "key": "dir/file.bin", "upload_id": "UPLOAD-1"}
    data["upload_id"] = "bad id\n"
    with pytest.raises(CheckpointCorruptError) as info:
        Checkpoint.from_dict(data)
    assert info.value.salvage == {}


# -- file store -----------------------------------------------------------------------------------


def test_file_store_round_trip_mode_and_location(tmp_path: Path) -> None:
    directory = tmp_path / "ckpt"
    store = FileCheckpointStore(directory, "test-bucket", "dir/file.bin", tmp_path / "src.bin")
    assert isinstance(store, CheckpointStore)
    assert store.load() is None
    store.delete()  # nothing to delete: no error
    cp = make_checkpoint()
    store.save(cp)
    assert store.load() == cp
    assert stat.S_IMODE(os.stat(directory).st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert os.listdir(directory) == [store.name]  # no temp file left behind
    assert len(store.name) == 64 + len(".json")
    assert str(directory) in store.describe()
    store.delete()
    assert store.load() is None
    assert os.listdir(directory) == []


def test_trailing_slash_or_not_is_the_same_directory(tmp_path: Path) -> None:
    a = FileCheckpointStore(str(tmp_path / "ck"), "b-1", "k", "/src")
    b = FileCheckpointStore(str(tmp_path / "ck") + "/", "b-1", "k", "/src")
    assert a.path == b.path
    b.save(make_checkpoint())
    assert a.load() == make_checkpoint()
    assert os.listdir(tmp_path) == ["ck"]  # nothing written next to the directory


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "a/b\n\u00e9", "/abs/key", "..", "x" * 1000, "\u4e2d\u6587/\U0001f600"]
)
def test_odd_keys_stay_inside_the_directory(tmp_path: Path, key: str) -> None:
    directory = tmp_path / "ckpt"
    store = FileCheckpointStore(directory, "test-bucket", key, "/data/file.bin")
    assert os.path.dirname(store.path) == str(directory)
    store.save(make_checkpoint(key=key))
    assert os.listdir(directory) == [store.name]
    assert store.load() is not None
    assert store.load().key == key  # type: ignore[union-attr]


def test_name_depends_on_bucket_key_and_source(tmp_path: Path) -> None:
    names = {
        FileCheckpointStore(tmp_path, b, k, s).name
        for b, k, s in [
            ("b-1", "k", "/s"),
            ("b-2", "k", "/s"),
            ("b-1", "k2", "/s"),
            ("b-1", "k", "/t"),
            ("b-1", "k/", "s"),
        ]
    }
    assert len(names) == 5


def test_corrupt_file_raises_corrupt_error(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path, "test-bucket", "k", "/src")
    Path(store.path).write_text("{not json")
    with pytest.raises(CheckpointCorruptError, match="not valid JSON"):
        store.load()
    Path(store.path).write_bytes(b"\xff\xfe")
    with pytest.raises(CheckpointCorruptError, match="UTF-8"):
        store.load()
    Path(store.path).write_text(" " * (300 * 1024))
    with pytest.raises(CheckpointCorruptError, match="larger"):
        store.load()
    half = make_checkpoint().to_json()[:40]
    Path(store.path).write_text(half)
    with pytest.raises(CheckpointCorruptError):
        store.load()


def test_symlinked_record_is_refused(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "ck", "test-bucket", "k", "/src")
    os.makedirs(store.directory)
    target = tmp_path / "elsewhere.json"
    target.write_text(make_checkpoint().to_json())
    os.symlink(target, store.path)
    with pytest.raises(CheckpointCorruptError, match="symbolic link"):
        store.load()


def test_existing_directory_mode_is_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, 0o750)  # noqa: S103  # a group-shared volume: must stay as it is
    FileCheckpointStore(directory, "b-1", "k", "/s").save(make_checkpoint())
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750


def test_stale_temp_files_of_a_killed_writer_are_cleaned(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path, "b-1", "k", "/s")
    temp = tmp_path / f".{store.name}.123.deadbeef.tmp"
    temp.write_text("{partial")
    os.utime(temp, (1, 1))
    fresh = tmp_path / f".{store.name}.124.cafebabe.tmp"
    fresh.write_text("{in progress")
    store.save(make_checkpoint())
    assert not temp.exists()
    assert fresh.exists()  # may belong to a live writer


def _writer(directory: str, worker: int, rounds: int) -> None:
    store = FileCheckpointStore(directory, "test-bucket", "dir/file.bin", "/data/file.bin")
    for i in range(rounds):
        store.save(make_checkpoint(upload_id=f"W{worker}-R{i}"))


def test_concurrent_writers_in_two_processes_leave_a_valid_record(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    processes = [ctx.Process(target=_writer, args=(str(tmp_path), w, 60)) for w in range(2)]
    for p in processes:
        p.start()
    store = FileCheckpointStore(tmp_path, "test-bucket", "dir/file.bin", "/data/file.bin")
    reads = 0
    while any(p.is_alive() for p in processes):
        cp = store.load()  # never a torn record: each read is one writer's complete record
        if cp is not None:
            assert cp.upload_id.startswith("W")
            reads += 1
    for p in processes:
        p.join(30)
        assert p.exitcode == 0
    final = store.load()
    assert final is not None
    assert final.upload_id in {"W0-R59", "W1-R59"}
    assert os.listdir(tmp_path) == [store.name]


def test_concurrent_writers_in_threads_leave_a_valid_record(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_writer, args=(str(tmp_path), w, 100)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = FileCheckpointStore(tmp_path, "test-bucket", "dir/file.bin", "/data/file.bin").load()
    assert final is not None
    assert final.upload_id.endswith("-R99")
    assert len(os.listdir(tmp_path)) == 1


# -- key-value and memory stores ------------------------------------------------------------------


def test_key_value_store_keeps_a_json_object_with_set_kwargs() -> None:
    kv = DictKV()
    store = KeyValueCheckpointStore(kv, set_kwargs={"retention": "never"})
    assert store.load() is None
    cp = make_checkpoint()
    store.save(cp)
    assert isinstance(kv.data["oss_resumable_upload"], dict)
    assert kv.set_calls == [{"retention": "never"}]
    assert store.load() == cp
    assert "oss_resumable_upload" in store.describe()
    store.delete()
    assert kv.data == {}
    assert store.load() is None


def test_key_value_store_accepts_a_json_string_and_rejects_garbage() -> None:
    kv = DictKV()
    store = KeyValueCheckpointStore(kv, key="custom", description="Airflow task_state_store key 'custom'")
    kv.data["custom"] = make_checkpoint().to_json()
    assert store.load() == make_checkpoint()
    assert store.describe() == "Airflow task_state_store key 'custom'"
    for garbage in ("{", 42, ["x"], {"version": 1}):
        kv.data["custom"] = garbage
        with pytest.raises(CheckpointCorruptError):
            store.load()


def test_key_value_store_needs_get_set_delete() -> None:
    with pytest.raises(TypeError, match="get/set/delete"):
        KeyValueCheckpointStore(object())


def test_memory_store() -> None:
    store = MemoryCheckpointStore()
    assert store.load() is None
    store.save(make_checkpoint())
    assert store.load() == make_checkpoint()
    assert store.saves == 1
    store.text = "{corrupt"
    with pytest.raises(CheckpointCorruptError):
        store.load()
    store.delete()
    assert store.load() is None


# -- the completed mark ---------------------------------------------------------------------------


def _mark(**overrides: object) -> dict[str, object]:
    mark: dict[str, object] = {
        "crc64": str(2**64 - 1),
        "etag": "5B3C1A2E053D763E1B002CC607C5A0FE",
        "at": "2026-11-30T10:00:00+00:00",
        "until": "2026-12-07T10:00:00+00:00",
    }
    mark.update(overrides)
    return mark


def test_a_version_2_record_still_reads() -> None:
    data = make_checkpoint(confirmed_parts={1: 5}).to_dict()
    del data["completed"]
    data["version"] = 2
    cp = Checkpoint.from_dict(data)
    assert (cp.confirmed_parts, cp.completed, cp.version) == ({1: 5}, None, FORMAT_VERSION)


def test_a_completed_mark_round_trips_and_expires() -> None:
    from datetime import datetime, timezone

    from airflow_provider_oss.upload.checkpoint import CompletedMark

    mark = CompletedMark.from_dict(_mark())
    cp = make_checkpoint().with_completed(mark)
    back = Checkpoint.from_json(cp.to_json())
    assert back.completed == mark
    assert back.completed is not None and back.completed.crc64 == 2**64 - 1
    assert json.loads(cp.to_json())["completed"]["crc64"] == str(2**64 - 1)  # a string, as in XCom
    assert not mark.expired(datetime(2026, 12, 7, 9, 59, tzinfo=timezone.utc))
    assert mark.expired(datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    "mark",
    [
        _mark(crc64=str(2**64)),
        _mark(crc64=12345),
        _mark(crc64="-1"),
        _mark(crc64="\u0661\u0662"),
        _mark(etag="two words"),
        _mark(at="yesterday"),
        _mark(until="2026-12-07T10:00:00"),
        _mark(extra="x"),
        {"crc64": "1"},
        "completed",
    ],
    ids=[
        "crc-over-64-bits",
        "crc-int",
        "crc-negative",
        "crc-arabic-digits",
        "etag-space",
        "at-not-a-time",
        "until-without-zone",
        "extra-field",
        "missing-fields",
        "not-an-object",
    ],
)
def test_a_malformed_completed_mark_makes_the_record_corrupt(mark: object) -> None:
    data = json.loads(make_checkpoint().to_json())
    data["completed"] = mark
    with pytest.raises(CheckpointCorruptError, match="completed"):
        Checkpoint.from_dict(data)


def test_deeply_nested_json_is_a_corrupt_checkpoint_not_a_recursion_error() -> None:
    with pytest.raises(CheckpointCorruptError, match="nested"):
        Checkpoint.from_json("[" * 100_000 + "]" * 100_000)
