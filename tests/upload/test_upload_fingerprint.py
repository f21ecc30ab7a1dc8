"""The source fingerprint: size, mtime and sampled windows; what it notices and what it reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.upload.errors import SourceFileError
from airflow_provider_oss.upload.fingerprint import SAMPLE_WINDOW, SourceFingerprint, sample_windows


def write(path: Path, data: bytes, mtime_ns: int | None = None) -> None:
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def test_same_file_same_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    write(path, os.urandom(1_000_000))
    a = SourceFingerprint.of_file(path)
    b = SourceFingerprint.of_file(str(path))
    assert a == b
    assert a.size == 1_000_000
    assert a.mtime_ns == os.stat(path).st_mtime_ns
    assert a.differences(b) == []
    assert a.describe_differences(b) == "unchanged"


def test_windows_are_start_middle_end_for_big_files() -> None:
    size = 10 * SAMPLE_WINDOW
    assert sample_windows(size) == [
        (0, SAMPLE_WINDOW),
        (size // 2 - SAMPLE_WINDOW // 2, SAMPLE_WINDOW),
        (size - SAMPLE_WINDOW, SAMPLE_WINDOW),
    ]
    assert sample_windows(100) == [(0, 100)]
    assert sample_windows(0) == []


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_content_change_in_a_window_with_same_size_and_mtime_is_seen(tmp_path: Path, where: str) -> None:
    size = 2_000_000
    data = bytearray(os.urandom(size))
    path = tmp_path / "f.bin"
    write(path, bytes(data), mtime_ns=1_700_000_000_000_000_000)
    before = SourceFingerprint.of_file(path)
    offset = {"start": 10, "middle": size // 2, "end": size - 10}[where]
    data[offset] ^= 0xFF
    write(path, bytes(data), mtime_ns=1_700_000_000_000_000_000)
    after = SourceFingerprint.of_file(path)
    assert before.differences(after) == ["sampled content differs"]


def test_size_and_mtime_changes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    write(path, b"a" * 1000, mtime_ns=1_000_000_000)
    before = SourceFingerprint.of_file(path)
    write(path, b"a" * 1001, mtime_ns=2_000_000_000)
    changes = before.differences(SourceFingerprint.of_file(path))
    assert changes[0] == "size 1000 -> 1001 bytes"
    assert changes[1] == "mtime 1000000000 -> 2000000000 ns"
    assert "sampled content differs" in changes


def test_touch_alone_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    write(path, b"x" * 5000, mtime_ns=1_000_000_000)
    before = SourceFingerprint.of_file(path)
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    assert before.differences(SourceFingerprint.of_file(path)) == ["mtime 1000000000 -> 3000000000 ns"]


def test_round_trip_and_strict_parsing(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    write(path, b"hello")
    fp = SourceFingerprint.of_file(path)
    assert SourceFingerprint.from_dict(fp.to_dict()) == fp
    bad: Any
    for bad in (
        None,
        [],
        {"size": 1, "mtime_ns": 1},
        {**fp.to_dict(), "extra": 1},
        {**fp.to_dict(), "size": -1},
        {**fp.to_dict(), "size": True},
        {**fp.to_dict(), "mtime_ns": "1"},
        {**fp.to_dict(), "sample": "XYZ"},
        {**fp.to_dict(), "sample": fp.sample.upper()},
    ):
        with pytest.raises(ValueError):
            SourceFingerprint.from_dict(bad)


def test_missing_file_and_directory_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match="does not exist"):
        SourceFingerprint.of_file(tmp_path / "nope.bin")
    with pytest.raises(SourceFileError, match="not a regular file"):
        SourceFingerprint.of_file(tmp_path)


def test_terabyte_sparse_file_is_cheap(tmp_path: Path) -> None:
    path = tmp_path / "sparse.bin"
    with path.open("wb") as f:
        f.truncate(1 << 40)  # 1 TiB, sparse: only the three windows are read
    fp = SourceFingerprint.of_file(path)
    assert fp.size == 1 << 40
