"""
A download's temporary file is never someone else's: a file another user planted at its name
(owned by them, writable by others, a hard link to another file, a FIFO) is never written,
never renamed onto the destination, and is left alone; names that do not fit, and destinations
that name a directory, fail with a clear :class:`DestinationError`.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from airflow_provider_oss.download import DestinationError, RangeFetchError, temp_path_for
from airflow_provider_oss.testing import LocalOssServer
from tests.download.support import PART, downloader, put, store_for

SIZE = 3 * PART + 17
#: A uid that is not this process's (the tests run as root here, so chown works).
OTHER_UID = 12345
PLANTED = b"planted by another user"


def plant(path: str, *, uid: int | None = OTHER_UID, mode: int = 0o666) -> None:
    with open(path, "wb") as f:
        f.write(PLANTED)
    os.chmod(path, mode)
    if uid is not None:
        os.chown(path, uid, -1)


def assert_own_destination(destination: Path, data: bytes) -> None:
    info = os.lstat(destination)
    assert destination.read_bytes() == data
    assert stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_nlink == 1
    assert info.st_mode & 0o022 == 0, oct(info.st_mode)


@pytest.mark.parametrize(
    ("uid", "mode"),
    [(OTHER_UID, 0o666), (OTHER_UID, 0o600), (None, 0o666), (None, 0o620)],
    ids=["other-user-0666", "other-user-0600", "own-0666", "own-group-writable"],
)
@pytest.mark.parametrize("resumable", [True, False], ids=["checkpoint", "no-checkpoint"])
def test_a_planted_temporary_file_is_left_alone_and_never_becomes_the_destination(
    oss_server: LocalOssServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    uid: int | None,
    mode: int,
    resumable: bool,
) -> None:
    data = put(oss_server, "obj", SIZE)
    destination = tmp_path / "out.bin"
    planted = temp_path_for(str(destination))
    plant(planted, uid=uid, mode=mode)
    before = os.lstat(planted)
    store = store_for(tmp_path, "obj", destination) if resumable else None
    with caplog.at_level(logging.WARNING):
        downloader(oss_server, "obj", destination, store).run()
    assert_own_destination(destination, data)
    assert not os.path.samestat(os.lstat(destination), before)
    after = os.lstat(planted)  # still there, untouched
    assert os.path.samestat(after, before) and Path(planted).read_bytes() == PLANTED
    assert after.st_mode == before.st_mode and after.st_uid == before.st_uid
    assert any(planted in r.getMessage() and "left alone" in r.getMessage() for r in caplog.records)


def test_a_planted_hard_link_never_gets_the_linked_file_overwritten(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "obj", SIZE)
    destination = tmp_path / "out.bin"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious bytes")
    victim.chmod(0o600)
    os.link(victim, temp_path_for(str(destination)))  # our own file, so every check but the link count passes
    downloader(oss_server, "obj", destination, store_for(tmp_path, "obj", destination)).run()
    assert_own_destination(destination, data)
    assert victim.read_bytes() == b"precious bytes" and os.stat(victim).st_nlink == 2


def test_a_retry_resumes_its_own_fresh_temporary_file_beside_a_planted_one(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """The fresh name is derived from the destination too, so the next try finds and resumes it."""
    data = put(oss_server, "obj", SIZE)
    destination = tmp_path / "out.bin"
    plant(temp_path_for(str(destination)))
    store = store_for(tmp_path, "obj", destination)
    oss_server.add_fault("GetObject", "reset", nth=3)
    with pytest.raises(RangeFetchError):
        downloader(
            oss_server, "obj", destination, store, client_kwargs={"max_retries": 0}, parallelism=1
        ).run()
    oss_server.clear_faults()
    planted = os.path.basename(temp_path_for(str(destination)))
    mine = [p for p in os.listdir(tmp_path) if p.endswith(".ossdownload") and p != planted]
    assert len(mine) == 1 and os.path.getsize(tmp_path / mine[0]) == SIZE
    result = downloader(oss_server, "obj", destination, store).run()
    assert_own_destination(destination, data)
    assert result.to_dict()["ranges_reused"] >= 1


def test_a_fifo_at_the_temporary_path_is_a_clear_destination_error(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "obj", SIZE)
    destination = tmp_path / "out.bin"
    os.mkfifo(temp_path_for(str(destination)))
    with pytest.raises(DestinationError, match="not a regular file") as caught:
        downloader(oss_server, "obj", destination, None).run()
    assert temp_path_for(str(destination)) in str(caught.value)
    assert not destination.exists()


def test_a_symlink_at_the_temporary_path_is_a_clear_destination_error(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "obj", SIZE)
    destination = tmp_path / "out.bin"
    os.symlink(tmp_path / "elsewhere", temp_path_for(str(destination)))
    with pytest.raises(DestinationError, match="symbolic link"):
        downloader(oss_server, "obj", destination, None).run()
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("name", ["数" * 85, "é" * 127, "a" * 255], ids=["85-cjk", "127-latin1", "255-ascii"])
def test_long_names_within_name_max_bytes_download(
    oss_server: LocalOssServer, tmp_path: Path, name: str
) -> None:
    data = put(oss_server, "obj", SIZE)
    destination = tmp_path / name
    temp = os.path.basename(temp_path_for(str(destination)))
    assert len(os.fsencode(temp)) <= 255
    downloader(oss_server, "obj", destination, store_for(tmp_path, "obj", destination)).run()
    assert destination.read_bytes() == data


def test_a_name_over_name_max_bytes_is_a_clear_destination_error(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "obj", SIZE)
    destination = tmp_path / ("数" * 86)  # 258 bytes of UTF-8
    with pytest.raises(DestinationError, match="258 bytes"):
        downloader(oss_server, "obj", destination, None).run()


@pytest.mark.parametrize("existing", [False, True], ids=["missing-dir", "existing-dir"])
def test_a_destination_ending_with_a_slash_is_a_clear_destination_error(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    put(oss_server, "obj", SIZE)
    monkeypatch.chdir(tmp_path)
    if existing:
        (tmp_path / "sub").mkdir()
    with pytest.raises(DestinationError, match="ends with"):
        downloader(oss_server, "obj", "sub/", None).run()  # type: ignore[arg-type]
    assert not (tmp_path / "sub").is_file()
