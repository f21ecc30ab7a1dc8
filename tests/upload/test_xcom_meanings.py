"""
One meaning per XCom key (docs/XCOM_RESULTS.md): the page lists exactly the keys each result has,
and ``resumed`` / ``already_complete`` mean the same in every checkpoint mode and transfer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.copy.engine import ServerSideCopier
from airflow_provider_oss.download import temp_path_for
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    Checkpoint,
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
    PartUploadError,
    ResumableUploader,
    TransferConfig,
)
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.upload.distributed import start_plan, upload_range
from airflow_provider_oss.upload.folder import upload_folder
from airflow_provider_oss.upload.stores import MemoryCheckpointStore
from tests.download.support import downloader, put, store_for
from tests.download.test_download_engine import SIZE, failed_first_try
from tests.upload.test_upload_checkpoint import DictKV
from tests.upload_support import BUCKET, KiB, MiB, entries, last_seq, make_client, make_file, since

REPO = Path(__file__).resolve().parents[2]
PART = 256 * KiB
KEY = "meaning/file.bin"
MODES = ("file", "state_store", "discover")


def documented_keys(section: str) -> set[str]:
    """The keys the docs page lists in the tables of ``section`` (a heading's start)."""
    text = (REPO / "docs" / "XCOM_RESULTS.md").read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    keys: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            keys.update(re.findall(r"`([a-z_0-9]+)`", line.split("|")[1]))
    return keys


def shared_keys(transfer: str) -> set[str]:
    text = (REPO / "docs" / "XCOM_RESULTS.md").read_text()
    body = text.split("## Keys shared by several transfers", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for line in body.splitlines():
        cells = line.split("|")
        if line.startswith("| `") and transfer in cells[-2]:
            keys.add(cells[1].strip().strip("`"))
    return keys


def uploader(
    server: LocalOssServer, path: Path, store: CheckpointStore | None, **kw: Any
) -> ResumableUploader:
    client_kwargs = kw.pop("client_kwargs", {})
    return ResumableUploader(
        make_client(server, **client_kwargs),
        BUCKET,
        KEY,
        path,
        config=TransferConfig(part_size=PART, parallelism=2),
        checkpoint_store=store,
        **kw,
    )


class DropsTheMark:
    """A store whose try is killed right after CompleteMultipartUpload: the completed mark never lands."""

    keeps_record = True

    def __init__(self, inner: CheckpointStore) -> None:
        self.inner = inner

    def load(self) -> Checkpoint | None:
        return self.inner.load()

    def save(self, checkpoint: Checkpoint) -> None:
        if checkpoint.completed is None:
            self.inner.save(checkpoint)

    def delete(self) -> None:
        self.inner.delete()

    def describe(self) -> str:
        return self.inner.describe()


def store_of(
    mode: str, server: LocalOssServer, path: Path, tmp_path: Path, *, retry: bool
) -> CheckpointStore:
    if mode == "file":
        return FileCheckpointStore(tmp_path / "ckpt", BUCKET, KEY, path)
    if mode == "state_store":
        return KeyValueCheckpointStore(KV)
    return UploadDiscoveryStore(make_client(server), BUCKET, KEY, str(path), PART, retry=retry)


KV = DictKV()


@pytest.fixture(autouse=True)
def _fresh_kv() -> None:
    KV.data.clear()


def test_the_page_lists_exactly_the_keys_of_each_result(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 3 * PART)
    upload = uploader(oss_server, path, None).run().to_dict()
    assert set(upload) == shared_keys("upload") | documented_keys("Upload")

    put(oss_server, "meaning/dl.bin", SIZE)
    download = downloader(oss_server, "meaning/dl.bin", tmp_path / "dl.bin", None).run().to_dict()
    assert set(download) == shared_keys("download") | documented_keys("Download")

    copy = ServerSideCopier(make_client(oss_server), BUCKET, KEY, BUCKET, "meaning/copy.bin").run().to_dict()
    assert set(copy) == shared_keys("copy") | documented_keys("Copy")

    (tmp_path / "folder").mkdir()
    make_file(tmp_path / "folder" / "a.bin", 10)
    folder = upload_folder(make_client(oss_server), BUCKET, tmp_path / "folder", "meaning/").to_dict()
    assert set(folder) == documented_keys("Folder upload")

    client = make_client(oss_server)
    plan = start_plan(
        client, BUCKET, "meaning/dist.bin", path, store=MemoryCheckpointStore(), part_size=PART, ranges=1
    )
    (only,) = plan.part_ranges()
    assert set(upload_range(client, plan, only).to_dict()) == documented_keys("Distributed upload")


@pytest.mark.parametrize("mark", ["kept", "lost"])
@pytest.mark.parametrize("mode", MODES)
def test_a_kill_after_complete_reads_the_same_in_every_mode(
    oss_server: LocalOssServer, tmp_path: Path, mode: str, mark: str
) -> None:
    """The retry of a try killed after CompleteMultipartUpload (its mark saved or not) sends nothing."""
    path = tmp_path / "src.bin"
    make_file(path, 3 * MiB)
    first_store = store_of(mode, oss_server, path, tmp_path, retry=False)
    if mark == "lost" and first_store.keeps_record:
        first_store = DropsTheMark(first_store)
    uploader(oss_server, path, first_store).run()
    seq = last_seq(oss_server)

    result = uploader(oss_server, path, store_of(mode, oss_server, path, tmp_path, retry=True)).run()

    assert entries(since(oss_server.request_log(), seq), "UploadPart") == []
    xcom = result.to_dict()
    assert (xcom["resumed"], xcom["already_complete"], xcom["parts_sent"]) == (True, True, 0)


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_that_reuses_no_part_is_not_resumed_in_any_mode(
    oss_server: LocalOssServer, tmp_path: Path, mode: str
) -> None:
    """The first try was stopped before any part was stored: its upload is kept, with 0 parts."""
    path = tmp_path / "src.bin"
    make_file(path, 1 * MiB)
    oss_server.add_fault("UploadPart", "status", times=1000, status=503)
    with pytest.raises(PartUploadError):
        uploader(
            oss_server,
            path,
            store_of(mode, oss_server, path, tmp_path, retry=False),
            client_kwargs={"max_retries": 0},
        ).run()
    oss_server.clear_faults()
    (left,) = oss_server.list_uploads(BUCKET)
    assert left["parts"] == []

    result = uploader(oss_server, path, store_of(mode, oss_server, path, tmp_path, retry=True)).run()

    xcom = result.to_dict()
    assert (xcom["resumed"], xcom["already_complete"], xcom["parts_reused"]) == (False, False, 0)
    if mode == "discover":  # not adopted (no part proves whose it is): left, and said so
        assert xcom["uploads_left_in_progress"] == [left["upload_id"]]
        assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [left["upload_id"]]
    else:  # the record names it: continued under the same ID
        assert (xcom["upload_id"], xcom["uploads_left_in_progress"]) == (left["upload_id"], [])
        assert oss_server.list_uploads(BUCKET) == []


def test_a_download_that_reused_no_range_is_not_resumed(oss_server: LocalOssServer, tmp_path: Path) -> None:
    """An earlier try left a record, but none of its ranges holds its recorded bytes any more."""
    data = put(oss_server, "meaning/dl.bin", SIZE)
    destination = tmp_path / "dl.bin"
    store = store_for(tmp_path, "meaning/dl.bin", destination)
    record = failed_first_try(oss_server, "meaning/dl.bin", destination, store)
    temp = Path(temp_path_for(str(destination)))
    with temp.open("r+b") as f:
        for number in record.done:
            f.seek((number - 1) * record.part_size)
            f.write(b"\0" * 16)

    result = downloader(oss_server, "meaning/dl.bin", destination, store).run()

    assert destination.read_bytes() == data
    assert (result.ranges_reused, result.to_dict()["resumed"], result.already_complete) == (0, False, False)


def test_a_download_that_reused_ranges_is_resumed(oss_server: LocalOssServer, tmp_path: Path) -> None:
    put(oss_server, "meaning/dl.bin", SIZE)
    destination = tmp_path / "dl.bin"
    store = store_for(tmp_path, "meaning/dl.bin", destination)
    record = failed_first_try(oss_server, "meaning/dl.bin", destination, store)

    result = downloader(oss_server, "meaning/dl.bin", destination, store).run()

    assert (result.ranges_reused, result.to_dict()["resumed"]) == (len(record.done), True)
