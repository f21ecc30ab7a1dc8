"""
Kill and retry: a download process SIGKILLed at any moment (before the checkpoint's first save,
mid-way, near the end), in every checkpoint mode, then a new process continues. The local server's
request log proves that the retry fetches again at most ``parallelism`` of the ranges the killed
process had been sent (those in flight), thanks to the range journal beside the temporary file; a
journal that cannot be trusted (bytes altered since, torn or garbage lines, another object version)
costs a re-fetch, never a wrong byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.download import temp_path_for
from airflow_provider_oss.download.journal import journal_path_for
from airflow_provider_oss.testing import LocalOssServer
from tests.download.support import put
from tests.soak_download import (
    MODES,
    attempt_command,
    checkpoint_store,
    kill_when,
    run_attempt,
    served_ranges,
)
from tests.upload_support import BUCKET, KiB, last_seq

PART = 256 * KiB
RANGES = 32
PARALLELISM = 4
#: kill point -> (ranges the server has sent when the process is killed, checkpoint_save_interval)
POINTS = {"before_first_save": (4, 3600.0), "mid_way": (16, 0.3), "near_end": (26, 0.3)}


class Killed:
    """A download killed part-way: what it was, where, and what the server had sent it."""

    def __init__(self, server: LocalOssServer, tmp_path: Path, key: str, mode: str, seed: int) -> None:
        self.server = server
        self.key = key
        self.mode = mode
        self.data = put(server, key, RANGES * PART - 1000, seed=seed)
        self.destination = tmp_path / "out" / "object.bin"
        self.destination.parent.mkdir(exist_ok=True)
        self.checkpoints = tmp_path / "ckpt"
        self.temp = temp_path_for(str(self.destination))
        self.journal = journal_path_for(self.temp)
        self.first: set[int] = set()

    def command(self, save_interval: float = 2.0) -> list[str]:
        return attempt_command(
            self.server,
            self.key,
            self.destination,
            self.checkpoints,
            mode=self.mode,
            part_size=PART,
            parallelism=PARALLELISM,
            save_interval=save_interval,
            bucket=BUCKET,
        )

    def kill_after(self, served: int, save_interval: float) -> None:
        self.server.add_fault("GetObject", "delay", delay=0.05, times=100_000)
        mark = last_seq(self.server)
        try:
            alive = kill_when(
                self.command(save_interval), self.server, key=self.key, part_size=PART, served=served
            )
        finally:
            self.server.clear_faults()
        assert alive, "the download was still running when killed"
        self.first = set(served_ranges(self.server, self.key, PART, mark))
        assert served <= len(self.first) <= RANGES
        assert not self.destination.exists(), "a killed download never leaves a destination file"

    def recorded(self) -> set[int]:
        """The ranges the checkpoint (not the journal) lists."""
        record = checkpoint_store(self.mode, self.checkpoints, BUCKET, self.key, self.destination).load()
        assert record is not None, "the record is saved before the first range is fetched"
        return set(record.done)

    def journaled(self) -> list[int]:
        """The range numbers the journal lists (its lines after the header)."""
        lines = Path(self.journal).read_text().splitlines()[1:]
        return [int(line.split()[0]) for line in lines]

    def retry(self) -> tuple[dict[str, object], set[int]]:
        mark = last_seq(self.server)
        result = run_attempt(self.command(), self.server)
        assert "error" not in result, result
        return result, set(served_ranges(self.server, self.key, PART, mark))

    def check_finished(self, result: dict[str, object]) -> None:
        assert self.destination.read_bytes() == self.data
        assert result["crc64"] == str(crc64.crc64(self.data))
        assert not os.path.exists(self.temp) and not os.path.exists(self.journal)
        assert (
            checkpoint_store(self.mode, self.checkpoints, BUCKET, self.key, self.destination).load() is None
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_at_any_moment_then_the_retry_fetches_again_only_the_ranges_in_flight(
    oss_server: LocalOssServer, tmp_path: Path, mode: str, point: str
) -> None:
    served, save_interval = POINTS[point]
    killed = Killed(oss_server, tmp_path, f"killed/{mode}-{point}.bin", mode, seed=len(point))
    killed.kill_after(served, save_interval)
    recorded = killed.recorded()
    if point == "before_first_save":
        assert recorded == set(), "killed before the checkpoint's first save: only the journal knows"
    journaled = set(killed.journaled())
    assert len(killed.first - journaled) <= PARALLELISM, "every range but those in flight is journaled"

    result, again = killed.retry()

    fetched_again = again & killed.first
    assert len(fetched_again) <= PARALLELISM, f"fetched again: {sorted(fetched_again)}"
    assert again == set(range(1, RANGES + 1)) - (journaled | recorded), "the retry fetches just the rest"
    assert (result["ranges_fetched"], result["ranges_reused"]) == (len(again), RANGES - len(again))
    killed.check_finished(result)


def test_a_journaled_range_altered_on_disk_is_fetched_again(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    killed = Killed(oss_server, tmp_path, "hostile/altered.bin", "file", seed=21)
    killed.kill_after(12, 3600.0)
    journaled = killed.journaled()
    assert killed.recorded() == set() and len(journaled) >= 8
    victim = journaled[len(journaled) // 2]
    with open(killed.temp, "r+b") as temp:  # one bit of a range the journal vouches for
        temp.seek((victim - 1) * PART + 1234)
        byte = temp.read(1)
        temp.seek(-1, os.SEEK_CUR)
        temp.write(bytes([byte[0] ^ 0x01]))

    result, again = killed.retry()

    assert victim in again, "a journal entry is a claim: the range is read back and fetched again"
    assert again == set(range(1, RANGES + 1)) - (set(journaled) - {victim})
    killed.check_finished(result)


@pytest.mark.parametrize("damage", ["torn_last_line", "garbage", "garbage_lines", "empty"])
def test_a_torn_or_garbage_journal_costs_fetches_never_bytes(
    oss_server: LocalOssServer, tmp_path: Path, damage: str
) -> None:
    killed = Killed(oss_server, tmp_path, f"hostile/{damage}.bin", "state_store", seed=22)
    killed.kill_after(12, 3600.0)
    journaled = killed.journaled()
    text = Path(killed.journal).read_bytes()
    trusted = set(journaled)
    if damage == "torn_last_line":  # a crash while the kernel wrote the last entry
        Path(killed.journal).write_bytes(text[:-7])
        trusted = set(journaled[:-1])
    elif damage == "garbage":
        Path(killed.journal).write_bytes(os.urandom(len(text)))
        trusted = set()
    elif damage == "garbage_lines":  # entries with a wrong check, a forged number, a non-ASCII digit
        header, _, body = text.partition(b"\n")
        lines = body.splitlines()
        forged = [b"%d %s 1" % (n, line.split()[1]) for n, line in zip(range(20, 33), lines, strict=False)]
        noise = [b"\xff\xfe\x00", "²7 1 1".encode(), b"-1 5 5", b"1 2", b" ".join([b"9" * 30] * 3)]
        Path(killed.journal).write_bytes(b"\n".join([header, *forged, *noise, *lines]) + b"\n")
    else:
        Path(killed.journal).write_bytes(b"")
        trusted = set()

    result, again = killed.retry()

    assert again == set(range(1, RANGES + 1)) - trusted
    killed.check_finished(result)


def test_a_journal_of_another_object_version_is_not_applied(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    key = "hostile/version.bin"
    old = Killed(oss_server, tmp_path, key, "discover", seed=23)
    old.kill_after(12, 3600.0)
    old_journal = Path(old.journal).read_bytes()
    old_ranges = old.journaled()
    new = Killed(oss_server, tmp_path, key, "discover", seed=24)  # same key and size, other bytes
    new.kill_after(4, 3600.0)  # starts over (another version), its own journal
    # The old version's journal put back, over a temporary file that holds the old bytes of those
    # ranges: every entry would read back with its CRC-64, yet they are not this version's bytes.
    Path(new.journal).write_bytes(old_journal)
    with open(new.temp, "r+b") as temp:
        for number in old_ranges:
            temp.seek((number - 1) * PART)
            temp.write(old.data[(number - 1) * PART : number * PART])

    result, again = new.retry()

    assert set(old_ranges) <= again, "no range is reused on another version's journal"
    new.check_finished(result)
