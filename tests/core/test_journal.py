"""
The append-only journal (core/journal.py) and its download binding (download/journal.py): what it
reads back is only what was written under the same binding; torn lines, garbage, another binding, a
link or a FIFO at its path, or a file too large yield nothing (never an error, never a hang).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_oss.core.journal import (
    MAX_JOURNAL_BYTES,
    Journal,
    binding_digest,
    read_journal,
    remove_journal,
)
from airflow_provider_oss.download.journal import journal_claims, journal_path_for, start_journal
from airflow_provider_oss.download.partfile import PartFile
from airflow_provider_oss.download.record import DownloadCheckpoint, ObjectIdentity

BINDING = binding_digest("work", 1)


def test_entries_written_are_read_back_under_the_same_binding_only(tmp_path: Path) -> None:
    path = str(tmp_path / "j")
    journal = Journal.start(path, BINDING, {1: 11, 3: 33})
    journal.append(2, 22)
    journal.append(3, 34)  # the last entry of a number wins
    journal.close()
    assert read_journal(path, BINDING) == {1: 11, 2: 22, 3: 34}
    assert read_journal(path, binding_digest("work", 2)) == {}
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    remove_journal(path)
    remove_journal(path)  # no error when there is none
    assert read_journal(path, BINDING) == {}


def test_a_torn_last_line_and_garbage_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal.start(str(path), BINDING, {})
    for number in (1, 2, 3):
        journal.append(number, number * 1000)
    journal.close()
    other = tmp_path / "other"
    Journal.start(str(other), binding_digest("other"), {4: 44}).close()
    header, *entries = path.read_bytes().splitlines()
    foreign = other.read_bytes().splitlines()[1]  # a valid line of another journal
    noise = [b"", b"1 2", b"x y z", "1 2 ³".encode(), b"\xff\xfe", b"5 " + b"9" * 25 + b" 1", foreign]
    path.write_bytes(b"\n".join([header, entries[0], *noise, entries[1]]) + b"\n" + entries[2][:-3])
    assert read_journal(str(path), BINDING) == {1: 1000, 2: 2000}


def test_a_link_a_fifo_or_an_oversized_file_at_the_path_reads_as_nothing(tmp_path: Path) -> None:
    real = tmp_path / "real"
    Journal.start(str(real), BINDING, {1: 1}).close()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert read_journal(str(link), BINDING) == {}
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_journal(str(fifo), BINDING) == {}  # returns at once: no writer is waited for
    big = tmp_path / "big"
    big.write_bytes(real.read_bytes() + b"\n" * MAX_JOURNAL_BYTES)
    assert read_journal(str(big), BINDING) == {}


def test_start_replaces_a_planted_link_without_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    path = tmp_path / "j"
    path.symlink_to(victim)
    journal = Journal.start(str(path), BINDING, {7: 70})
    journal.append(8, 80)
    journal.close()
    assert victim.read_bytes() == b"keep me"
    assert not path.is_symlink() and read_journal(str(path), BINDING) == {7: 70, 8: 80}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j", "victim"], "no temporary name left"


def _record(etag: str = "abc", part_size: int = 100 * 1024) -> DownloadCheckpoint:
    return DownloadCheckpoint("b", "k", "/d/x", part_size, ObjectIdentity(10 * part_size, etag, 5, None))


@pytest.mark.parametrize(
    "other",
    [
        _record(etag="another-version"),
        _record(part_size=200 * 1024),
        DownloadCheckpoint("b", "other-key", "/d/x", 100 * 1024, ObjectIdentity(1024000, "abc", 5, None)),
    ],
    ids=["object_version", "range_plan", "key"],
)
def test_a_download_journal_applies_only_to_its_object_version_plan_and_file(
    tmp_path: Path, other: DownloadCheckpoint
) -> None:
    partfile = PartFile(str(tmp_path / "x"))
    partfile.open()
    try:
        journal = start_journal(_record(), partfile)
        journal.append(4, 44)
        journal.append(11, 1)  # beyond the plan's 10 ranges
        journal.close()
        assert journal.path == journal_path_for(partfile.path) and journal.path.endswith(".ossjournal")
        assert journal_claims(_record(), partfile) == {4: 44}
        assert journal_claims(other, partfile) == {}
        os.link(partfile.path, tmp_path / "held")  # keeps the inode in use: the next file gets another
    finally:
        partfile.discard()
    replaced = PartFile(str(tmp_path / "x"))  # a new temporary file at the same name
    replaced.open()
    try:
        assert os.path.exists(journal.path), "the journal outlived its temporary file"
        assert journal_claims(_record(), replaced) == {}, "bound to the temporary file's device and inode"
    finally:
        replaced.discard()
