"""
A folder upload never sends a byte from outside the folder: files and directories swapped for
symbolic links between the scan and the upload (small files in one PutObject, big ones in parts)
fail alone, named in the summary; the server's files and its request log show that not one byte
of the outside file reached it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import ResumableUploader, TransferConfig, folder_open
from airflow_provider_oss.upload.errors import SourceFileError
from airflow_provider_oss.upload.folder import FolderUploadConfig, FolderUploader
from airflow_provider_oss.upload.folder_open import FolderFileOpener
from airflow_provider_oss.upload.folder_scan import scan_folder
from tests.upload_support import BUCKET, KiB, files_holding, make_client, make_file

THRESHOLD = 256 * KiB
#: Marks every byte of the outside files: found nowhere on the server, or the test fails.
SECRET = b"OUTSIDE-THE-FOLDER-SECRET:"


def secret_bytes(size: int) -> bytes:
    return (SECRET * (size // len(SECRET) + 1))[:size]


@pytest.fixture(params=["dir_fd", "lstat"], autouse=True)
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: the walk by ``dir_fd`` (POSIX) and the ``lstat`` fallback (no ``dir_fd``: Windows)."""
    monkeypatch.setattr(folder_open, "_WALKS_BY_FD", request.param == "dir_fd")
    return str(request.param)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalOssServer]:
    """A server whose files are in a directory the test can search for the secret."""
    with LocalOssServer(buckets=(BUCKET,), root_dir=str(tmp_path / "server")) as running:
        yield running


def secret_on_server(tmp_path: Path) -> list[str]:
    """The server's files (objects, parts in progress) holding any of the outside bytes."""
    return files_holding(tmp_path / "server", SECRET)


def sent_for(server: LocalOssServer, key: str) -> list[dict[str, object]]:
    """The requests that carried bytes for ``key`` (PutObject, UploadPart)."""
    return [
        e
        for e in server.request_log()
        if e["key"] == key and e["op"] in ("PutObject", "UploadPart") and e.get("bytes_received")
    ]


def upload(server: LocalOssServer, src: Path, swap: object, **scan: object) -> object:
    listing = scan_folder(src, **scan)  # type: ignore[arg-type]
    swap_fn = swap
    assert callable(swap_fn)
    swap_fn()
    cfg = FolderUploadConfig(concurrency=2, transfer=TransferConfig(part_size=THRESHOLD, parallelism=2))
    client = make_client(server, pool_size=cfg.pool_size, max_retries=0)
    return FolderUploader(client, BUCKET, listing, config=cfg).run()


@pytest.mark.parametrize("size", [10 * KiB, 3 * THRESHOLD + 5], ids=["small", "big-multipart"])
def test_a_file_swapped_for_a_link_to_an_outside_file_sends_nothing_of_it(
    server: LocalOssServer, tmp_path: Path, size: int
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    kept = make_file(src / "a.bin", 1000)
    make_file(src / "swapped.bin", size, seed=2)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(secret_bytes(size))

    def swap() -> None:
        (src / "swapped.bin").unlink()
        (src / "swapped.bin").symlink_to(outside)

    summary = upload(server, src, swap)
    assert [path for path, _ in summary.failures] == ["swapped.bin"]  # type: ignore[attr-defined]
    assert "symbolic link" in summary.failures[0][1]  # type: ignore[attr-defined]
    assert sent_for(server, "swapped.bin") == []
    assert secret_on_server(tmp_path) == []
    assert server.object_bytes(BUCKET, "a.bin") == kept


@pytest.mark.parametrize("size", [10 * KiB, 3 * THRESHOLD + 5], ids=["small", "big-multipart"])
def test_a_directory_swapped_for_a_link_to_an_outside_directory_sends_nothing_of_it(
    server: LocalOssServer, tmp_path: Path, size: int
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    kept = make_file(src / "a.bin", 1000)
    make_file(src / "sub" / "data.bin", size, seed=2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.bin").write_bytes(secret_bytes(size))

    def swap() -> None:
        shutil.rmtree(src / "sub")
        (src / "sub").symlink_to(outside, target_is_directory=True)

    summary = upload(server, src, swap)
    assert [path for path, _ in summary.failures] == ["sub/data.bin"]  # type: ignore[attr-defined]
    assert "symbolic link" in summary.failures[0][1]  # type: ignore[attr-defined]
    assert sent_for(server, "sub/data.bin") == []
    assert secret_on_server(tmp_path) == []
    assert server.object_bytes(BUCKET, "a.bin") == kept


def test_hard_links_inside_the_folder_are_files_of_the_folder(server: LocalOssServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = make_file(src / "a.bin", 3 * THRESHOLD + 1)
    os.link(src / "a.bin", src / "b.bin")
    summary = upload(server, src, lambda: None)
    assert summary.ok  # type: ignore[attr-defined]
    assert server.object_bytes(BUCKET, "a.bin") == data
    assert server.object_bytes(BUCKET, "b.bin") == data


def test_followed_links_inside_the_folder_still_upload_and_a_retargeted_one_fails(
    server: LocalOssServer, tmp_path: Path
) -> None:
    """With follow_symlinks=True the upload opens the target's own path inside the folder, never the link."""
    src = tmp_path / "src"
    (src / "real").mkdir(parents=True)
    data = make_file(src / "real" / "a.bin", 3 * THRESHOLD + 1)
    make_file(src / "real" / "b.bin", 100, seed=3)
    (src / "alias").symlink_to(src / "real", target_is_directory=True)
    (src / "b-link.bin").symlink_to(src / "real" / "b.bin")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(secret_bytes(100))

    def swap() -> None:  # the followed link now leads outside the folder
        (src / "b-link.bin").unlink()
        (src / "b-link.bin").symlink_to(outside)

    summary = upload(server, src, swap, follow_symlinks=True)
    assert [path for path, _ in summary.failures] == ["b-link.bin"]  # type: ignore[attr-defined]
    assert "symbolic link" in summary.failures[0][1]  # type: ignore[attr-defined]
    assert server.object_bytes(BUCKET, "alias/a.bin") == data
    assert server.object_bytes(BUCKET, "real/a.bin") == data
    assert secret_on_server(tmp_path) == []


def test_the_documented_opener_snippet_uploads_the_folder_and_refuses_a_swapped_file(
    server: LocalOssServer, tmp_path: Path
) -> None:
    """The snippet of docs/FOLDER_UPLOADS.md ("The same opener serves..."), run as written."""
    folder = tmp_path / "src"
    folder.mkdir()
    data = make_file(folder / "big.bin", 3 * THRESHOLD)
    make_file(folder / "swapped.bin", 3 * THRESHOLD, seed=2)
    (tmp_path / "outside.bin").write_bytes(secret_bytes(3 * THRESHOLD))
    client, bucket = make_client(server), BUCKET
    scan = scan_folder(folder)
    (folder / "swapped.bin").unlink()
    (folder / "swapped.bin").symlink_to(tmp_path / "outside.bin")
    uploaded = []
    for file in scan.files:
        opener = FolderFileOpener(scan, file)  # opens inside the folder, no link followed
        try:
            ResumableUploader(client, bucket, "mirror/" + file.relpath, file.path, source_opener=opener).run()
        except SourceFileError as err:
            assert file.relpath == "swapped.bin" and "symbolic link" in str(err)
        else:
            uploaded.append(file.relpath)
    assert uploaded == ["big.bin"]
    assert server.object_bytes(BUCKET, "mirror/big.bin") == data
    assert sent_for(server, "mirror/swapped.bin") == []
    assert secret_on_server(tmp_path) == []
