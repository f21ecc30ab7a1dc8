"""
A try killed right after renaming its verified file onto the destination, before deleting its
checkpoint: the retry recognises the finished file (the checkpoint's object CRC-64 read back from the
destination, HeadObject confirming the object is unchanged) and finishes without a GET; a destination
that is not that file, or an object that changed, is downloaded again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.download import DownloadCheckpointStore, temp_path_for
from airflow_provider_oss.download.partfile import PartFile
from airflow_provider_oss.testing import LocalOssServer
from tests.download.support import PART, downloader, put, ranges_of, store_for
from tests.upload_support import entries, last_seq, since

REPO = Path(__file__).resolve().parents[2]
SIZE = 8 * PART + 777  # 9 ranges

KILL_AFTER_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.download import ResumableDownloader, file_store
    from airflow_provider_oss.download.partfile import PartFile
    from airflow_provider_oss.upload import TransferConfig

    rename = PartFile.commit

    def rename_then_die(self):
        rename(self)  # the verified file is now the destination; the checkpoint is not yet deleted
        print("RENAMED", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    PartFile.commit = rename_then_die
    endpoint, region, access_key_id, destination, checkpoint_dir, key, part = sys.argv[1:8]
    credentials = Credentials(access_key_id, os.environ["OSS_TEST_SECRET"])
    config = ClientConfig(region=region, endpoint=endpoint, addressing_style="path", pool_size=2)
    ResumableDownloader(
        OssClient(credentials, config), "test-bucket", key, destination,
        config=TransferConfig(part_size=int(part), parallelism=2),
        checkpoint_store=file_store(checkpoint_dir, "test-bucket", key, destination),
    ).run()
    print("DOWNLOAD FINISHED")
    """
)


class _Killed(BaseException):
    """Stands for a SIGKILL right after the rename (a BaseException: the engine keeps its checkpoint)."""


def _die_after_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    rename = PartFile.commit

    def rename_then_die(self: PartFile) -> None:
        rename(self)
        raise _Killed

    monkeypatch.setattr(PartFile, "commit", rename_then_die)


def _first_try_killed_after_rename(
    server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> tuple[bytes, Path, DownloadCheckpointStore]:
    data = put(server, key, SIZE, seed=5)
    destination = tmp_path / "out.bin"
    store = store_for(tmp_path, key, destination)
    with monkeypatch.context() as patch:
        _die_after_rename(patch)
        with pytest.raises(_Killed):
            downloader(server, key, destination, store).run()
    record = store.load()
    assert record is not None and len(record.done) == 9, "the checkpoint outlived the rename"
    assert destination.read_bytes() == data and not os.path.exists(temp_path_for(str(destination)))
    return data, destination, store


def test_sigkill_right_after_the_rename_then_the_retry_gets_nothing(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    key = "finished/killed.bin"
    data = put(oss_server, key, SIZE, seed=3)
    destination = tmp_path / "out" / "killed.bin"
    destination.parent.mkdir()
    script = tmp_path / "kill_after_rename.py"
    script.write_text(KILL_AFTER_RENAME)
    env = {**os.environ, "OSS_TEST_SECRET": oss_server.access_key_secret, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), oss_server.endpoint, oss_server.region, oss_server.access_key_id]
    process = subprocess.run(
        [*args, str(destination), str(tmp_path / "ckpt"), key, str(PART)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode(errors="replace")
    assert b"RENAMED" in process.stdout and b"DOWNLOAD FINISHED" not in process.stdout
    store = store_for(tmp_path, key, destination)
    record = store.load()
    assert record is not None and len(record.done) == 9, "killed between the rename and the checkpoint delete"
    assert destination.read_bytes() == data

    mark = last_seq(oss_server)
    result = downloader(oss_server, key, destination, store).run()

    retry = since(oss_server.request_log(), mark)
    assert [e["op"] for e in retry] == ["HeadObject"], "no GET of the object's bytes, one HEAD"
    assert result.already_complete and result.to_dict()["already_complete"] is True
    assert (result.ranges_fetched, result.bytes_fetched, result.ranges_total) == (0, 0, 9)
    assert destination.read_bytes() == data and result.crc64 == crc64.crc64(data)
    assert store.load() is None, "the retry deletes the checkpoint the killed try left"
    assert not os.path.exists(temp_path_for(str(destination)))


def test_a_finished_download_killed_before_its_checkpoint_delete_is_recognised(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, destination, store = _first_try_killed_after_rename(oss_server, tmp_path, monkeypatch, "f/a.bin")
    mark = last_seq(oss_server)
    result = downloader(oss_server, "f/a.bin", destination, store).run()
    assert not entries(since(oss_server.request_log(), mark), "GetObject")
    assert result.already_complete and destination.read_bytes() == data
    assert store.load() is None


def test_a_destination_replaced_by_another_file_of_the_same_size_is_downloaded_again(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, destination, store = _first_try_killed_after_rename(oss_server, tmp_path, monkeypatch, "f/b.bin")
    impostor = bytearray(data)
    impostor[SIZE // 2] ^= 0x01  # same size, one bit apart
    destination.write_bytes(bytes(impostor))
    mark = last_seq(oss_server)
    result = downloader(oss_server, "f/b.bin", destination, store).run()
    assert not result.already_complete and result.ranges_fetched == 9
    assert len(ranges_of(since(oss_server.request_log(), mark))) == 9, "every range fetched again"
    assert destination.read_bytes() == data and store.load() is None


def test_a_destination_of_another_size_is_downloaded_again(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, destination, store = _first_try_killed_after_rename(oss_server, tmp_path, monkeypatch, "f/c.bin")
    destination.write_bytes(data + b"x")
    result = downloader(oss_server, "f/c.bin", destination, store).run()
    assert not result.already_complete and result.ranges_fetched == 9
    assert destination.read_bytes() == data


def test_a_symlink_at_the_destination_is_not_accepted(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, destination, store = _first_try_killed_after_rename(oss_server, tmp_path, monkeypatch, "f/d.bin")
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(data)
    destination.unlink()
    destination.symlink_to(elsewhere)
    result = downloader(oss_server, "f/d.bin", destination, store).run()
    assert not result.already_complete and result.ranges_fetched == 9
    assert not destination.is_symlink() and destination.read_bytes() == data


def test_an_object_changed_on_the_server_is_downloaded_again(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, destination, store = _first_try_killed_after_rename(oss_server, tmp_path, monkeypatch, "f/e.bin")
    new = put(oss_server, "f/e.bin", SIZE, seed=99)  # same size, other bytes
    mark = last_seq(oss_server)
    result = downloader(oss_server, "f/e.bin", destination, store).run()
    assert not result.already_complete and result.ranges_fetched == 9
    assert len(ranges_of(since(oss_server.request_log(), mark))) == 9
    assert destination.read_bytes() == new and result.crc64 == crc64.crc64(new)
    assert store.load() is None
