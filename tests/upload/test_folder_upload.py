"""
The folder upload engine (scan + FolderUploader) against the local OSS server: the bytes that land,
keys, skipping by size and CRC-64 (proven by the request log), glob and recursion, and what a
hostile world does (a second writer, a file changing or vanishing, links leaving the folder,
loops, FIFOs, names OSS cannot take, a missing bucket).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig
from airflow_provider_oss.upload.folder import FolderUploadConfig, FolderUploader
from airflow_provider_oss.upload.folder_result import FolderUploadError, FolderUploadSummary
from airflow_provider_oss.upload.folder_scan import FolderScanError, check_prefix, join_key, scan_folder
from airflow_provider_oss.upload.stores import FileCheckpointStore
from tests.upload_support import BUCKET, KiB, entries, last_seq, make_client, make_file, since

THRESHOLD = 256 * KiB


def config(**kwargs: Any) -> FolderUploadConfig:
    kwargs.setdefault("concurrency", 4)
    transfer = kwargs.pop("transfer", TransferConfig(part_size=THRESHOLD, parallelism=2))
    return FolderUploadConfig(transfer=transfer, **kwargs)


def upload(
    server: LocalOssServer,
    folder: Path,
    prefix: str = "",
    *,
    bucket: str = BUCKET,
    cfg: Any = None,
    **scan: Any,
) -> FolderUploadSummary:
    cfg = cfg or config()
    listing = scan_folder(folder, prefix, **scan)
    client = make_client(server, pool_size=cfg.pool_size, max_retries=0)
    return FolderUploader(client, bucket, listing, prefix=check_prefix(prefix), config=cfg).run()


def tree(root: Path, files: dict[str, int], seed: int = 1) -> dict[str, bytes]:
    """Create ``files`` (relative path -> size) under ``root``; return relative path -> bytes."""
    out = {}
    for i, (rel, size) in enumerate(sorted(files.items())):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        out[rel] = make_file(path, size, seed=seed + i)
    return out


def puts(log: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in entries(log, "PutObject")]


# -- keys, bytes, summary ---------------------------------------------------------------------------


def test_every_file_lands_under_the_prefix_with_its_bytes(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = tree(
        tmp_path / "src",
        {"a.csv": 10, "b.bin": 0, "sub/c.csv": 70 * KiB, "sub/deeper/d.txt": 5, "big.bin": 3 * THRESHOLD + 7},
    )
    summary = upload(oss_server, tmp_path / "src", "out//")
    assert summary.ok
    for rel, content in data.items():
        assert oss_server.object_bytes(BUCKET, f"out/{rel}") == content
        assert oss_server.stored_crc64(BUCKET, f"out/{rel}") == crc64.crc64(content)
    result = summary.to_dict()
    assert (result["files"], result["uploaded"], result["skipped"], result["failed"]) == (5, 5, 0, 0)
    assert result["bytes_sent"] == result["bytes_total"] == sum(len(v) for v in data.values())
    assert result["keys"] == sorted(f"out/{rel}" for rel in data)
    assert result["keys_truncated"] is False
    log = oss_server.request_log()
    assert sorted(puts(log)) == sorted(f"out/{rel}" for rel in data if rel != "big.bin")
    assert len(entries(log, "UploadPart", key="out/big.bin")) == 4  # the big one went in parts
    assert oss_server.list_uploads(BUCKET) == []


@pytest.mark.parametrize(
    ("prefix", "rel", "key"),
    [
        ("", "a/b.txt", "a/b.txt"),
        ("p", "x", "p/x"),
        ("p/", "x", "p/x"),
        ("p///", "x", "p/x"),
        ("a/b", "c/d", "a/b/c/d"),
    ],
)
def test_key_mapping_never_doubles_a_slash(prefix: str, rel: str, key: str) -> None:
    assert join_key(check_prefix(prefix), rel) == key


@pytest.mark.parametrize("prefix", ["/abs/", "a//b/", "bad\x01/"])
def test_bad_prefixes_are_refused_clearly(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        check_prefix(prefix)


def test_the_summary_stays_bounded(oss_server: LocalOssServer, tmp_path: Path) -> None:
    tree(tmp_path / "src", {f"f{i:02}.txt": 3 for i in range(12)})
    summary = upload(oss_server, tmp_path / "src", cfg=config(max_keys=5))
    result = summary.to_dict()
    assert result["uploaded"] == 12
    assert result["keys"] == [f"f{i:02}.txt" for i in range(5)] and result["keys_truncated"] is True
    assert len(result["uploaded_keys"]) == 5


# -- skipping ---------------------------------------------------------------------------------------


def test_a_second_run_skips_matching_files_without_any_put(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 100, "sub/b.txt": 50 * KiB, "big.bin": 2 * THRESHOLD + 1})
    assert upload(oss_server, src, "p").ok
    mark = last_seq(oss_server)
    (src / "new.txt").write_bytes(b"fresh")
    summary = upload(oss_server, src, "p")
    run2 = since(oss_server.request_log(), mark)
    assert puts(run2) == ["p/new.txt"]
    # one listing; a HEAD for each file whose object has its size (not for the new one); no part sent
    assert sorted(e["op"] for e in run2) == ["HeadObject"] * 3 + ["ListObjectsV2", "PutObject"]
    assert sorted(e["key"] for e in entries(run2, "HeadObject")) == ["p/a.txt", "p/big.bin", "p/sub/b.txt"]
    result = summary.to_dict()
    assert (result["uploaded"], result["skipped"], result["bytes_sent"]) == (1, 3, 5)
    assert result["bytes_skipped"] == sum(len(v) for v in data.values())
    assert result["keys"] == ["p/a.txt", "p/big.bin", "p/new.txt", "p/sub/b.txt"]
    assert result["uploaded_keys"] == ["p/new.txt"]


def test_an_object_changed_by_a_second_writer_is_uploaded_again(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 1000, "big.bin": 2 * THRESHOLD})
    assert upload(oss_server, src).ok
    client = make_client(oss_server)
    client.put_object(BUCKET, "a.txt", b"x" * 1000)  # same size, other bytes: the listing cannot tell
    client.put_object(BUCKET, "big.bin", b"y" * (2 * THRESHOLD))
    mark = last_seq(oss_server)
    summary = upload(oss_server, src)
    assert summary.to_dict()["uploaded"] == 2
    run2 = since(oss_server.request_log(), mark)
    assert puts(run2) == ["a.txt"] and entries(run2, "CompleteMultipartUpload", key="big.bin")
    for rel, content in data.items():
        assert oss_server.object_bytes(BUCKET, rel) == content


def test_skip_unchanged_false_sends_everything_again(oss_server: LocalOssServer, tmp_path: Path) -> None:
    tree(tmp_path / "src", {"a.txt": 10, "b.txt": 20})
    upload(oss_server, tmp_path / "src")
    mark = last_seq(oss_server)
    assert upload(oss_server, tmp_path / "src", cfg=config(skip_unchanged=False)).to_dict()["uploaded"] == 2
    run2 = since(oss_server.request_log(), mark)
    assert sorted(puts(run2)) == ["a.txt", "b.txt"] and not entries(run2, "HeadObject")


def test_replace_false_leaves_a_different_object_alone_and_fails_that_file(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = tree(tmp_path / "src", {"a.txt": 10, "b.txt": 20})
    make_client(oss_server).put_object(BUCKET, "a.txt", b"theirs")
    summary = upload(oss_server, tmp_path / "src", cfg=config(replace=False))
    assert not summary.ok
    assert oss_server.object_bytes(BUCKET, "a.txt") == b"theirs"
    assert oss_server.object_bytes(BUCKET, "b.txt") == data["b.txt"]
    [failure] = summary.to_dict()["failures"]
    assert failure["path"] == "a.txt" and "replace=False" in failure["error"]


# -- selection --------------------------------------------------------------------------------------


def test_pattern_and_recursion_select_the_files(oss_server: LocalOssServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tree(src, {"a.csv": 1, "b.txt": 1, "sub/c.csv": 1, "sub/x/d.csv": 1, ".hidden.csv": 1, ".git/e.csv": 1})

    def keys(**scan: Any) -> list[str]:
        return [f.key for f in scan_folder(src, **scan).files]

    assert keys() == ["a.csv", "b.txt", "sub/c.csv", "sub/x/d.csv"]
    assert keys(pattern="*.csv") == ["a.csv", "sub/c.csv", "sub/x/d.csv"]
    assert keys(pattern="*.csv", recursive=False) == ["a.csv"]
    assert keys(pattern="sub/*.csv") == ["sub/c.csv"]
    assert keys(pattern="sub/**/*.csv") == ["sub/c.csv", "sub/x/d.csv"]
    assert keys(pattern="*.csv", include_hidden=True) == [
        ".git/e.csv",
        ".hidden.csv",
        "a.csv",
        "sub/c.csv",
        "sub/x/d.csv",
    ]
    summary = upload(oss_server, src, "in", pattern="*.csv", recursive=False)
    assert summary.to_dict()["keys"] == ["in/a.csv"]
    assert puts(oss_server.request_log()) == ["in/a.csv"]


def test_an_empty_folder_uploads_nothing_and_succeeds(oss_server: LocalOssServer, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    summary = upload(oss_server, tmp_path / "empty", "p")
    assert summary.ok and summary.to_dict()["files"] == 0
    assert oss_server.request_log() == []


def test_a_missing_folder_or_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FolderScanError, match="does not exist"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(FolderScanError, match="not a directory"):
        scan_folder(tmp_path / "f")


# -- links, special files, bad names ----------------------------------------------------------------


def test_symlinks_are_not_followed_by_default_and_are_named(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 5})
    (tmp_path / "secret.txt").write_bytes(b"outside")
    (src / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (src / "inside.txt").symlink_to(src / "a.txt")
    summary = upload(oss_server, src)
    assert summary.ok
    result = summary.to_dict()
    assert result["keys"] == ["a.txt"] and oss_server.object_bytes(BUCKET, "a.txt") == data["a.txt"]
    assert {e["path"] for e in result["ignored_entries"]} == {"escape.txt", "inside.txt"}
    assert all("follow_symlinks=False" in e["reason"] for e in result["ignored_entries"])


def test_followed_links_stay_inside_the_folder_and_loops_are_refused(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 5, "sub/b.txt": 6})
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(b"do not upload")
    (src / "escape.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (src / "escape_dir").symlink_to(tmp_path / "outside")
    (src / "sub" / "loop").symlink_to(src)
    (src / "alias.txt").symlink_to(src / "a.txt")
    (src / "broken").symlink_to(src / "nothing-here")
    summary = upload(oss_server, src, follow_symlinks=True)
    assert not summary.ok
    reasons = dict(summary.failures)
    assert "outside the folder" in reasons["escape.txt"] and "outside the folder" in reasons["escape_dir"]
    assert "loop" in reasons["sub/loop"] and "broken" in reasons["broken"]
    assert oss_server.object_bytes(BUCKET, "alias.txt") == data["a.txt"]
    assert oss_server.object_bytes(BUCKET, "sub/b.txt") == data["sub/b.txt"]
    stored = {e["key"] for e in oss_server.request_log() if e["op"] == "PutObject"}
    assert stored == {"a.txt", "alias.txt", "sub/b.txt"}  # nothing from outside
    error = summary.error()
    assert isinstance(error, FolderUploadError) and "escape.txt" in str(error) and "sub/loop" in str(error)


def test_fifos_are_ignored_never_opened(oss_server: LocalOssServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tree(src, {"a.txt": 5})
    os.mkfifo(src / "pipe")
    summary = upload(oss_server, src)
    assert summary.ok and summary.to_dict()["keys"] == ["a.txt"]
    assert summary.to_dict()["ignored_entries"][0]["path"] == "pipe"


def test_names_oss_cannot_take_are_refused_and_the_rest_uploaded(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"ok.txt": 5})
    with open(os.path.join(os.fsencode(src), b"bad-\xff.txt"), "wb") as f:
        f.write(b"latin-1 name")
    (src / ("L" * 200)).mkdir()
    (src / ("L" * 200) / ("x" * 200)).write_bytes(b"deep")
    summary = upload(oss_server, src, "p" * 700)
    reasons = dict(summary.failures)
    assert "not valid UTF-8" in reasons["bad-\\xff.txt"]
    assert "over OSS's 1023" in reasons[f"{'L' * 200}/{'x' * 200}"]
    assert summary.to_dict()["keys"] == ["p" * 700 + "/ok.txt"]
    assert oss_server.object_bytes(BUCKET, "p" * 700 + "/ok.txt") == data["ok.txt"]


# -- files that change or vanish ----------------------------------------------------------------------


def test_a_file_removed_after_the_scan_fails_alone(oss_server: LocalOssServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 5, "gone.txt": 6, "z.txt": 7})
    listing = scan_folder(src)
    (src / "gone.txt").unlink()
    summary = FolderUploader(make_client(oss_server), BUCKET, listing, config=config()).run()
    assert [p for p, _ in summary.failures] == ["gone.txt"]
    assert "No such file" in summary.failures[0][1]
    assert oss_server.object_bytes(BUCKET, "a.txt") == data["a.txt"]
    assert oss_server.object_bytes(BUCKET, "z.txt") == data["z.txt"]
    with pytest.raises(FolderUploadError, match=r"1 of 3 file\(s\).*gone.txt") as raised:
        raise summary.error()
    assert raised.value.summary["failed"] == 1


def test_a_small_file_changing_while_read_is_not_sent(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 5, "moving.txt": 4000})
    real_readv = os.readv

    def readv_then_append(fd: int, buffers: Any) -> int:
        n = real_readv(fd, buffers)
        if os.path.samestat(os.fstat(fd), os.stat(src / "moving.txt")) and n:
            with open(src / "moving.txt", "ab") as f:  # a writer appends during the read
                f.write(b"more")
        return n

    monkeypatch.setattr(os, "readv", readv_then_append)
    summary = upload(oss_server, src)
    assert [p for p, _ in summary.failures] == ["moving.txt"]
    assert "changed while it was read" in summary.failures[0][1]
    assert puts(oss_server.request_log()) == ["a.txt"]
    assert oss_server.object_bytes(BUCKET, "a.txt") == data["a.txt"]


def test_a_missing_bucket_fails_at_the_listing_before_any_file(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    tree(tmp_path / "src", {f"f{i}.txt": 3 for i in range(6)})
    with pytest.raises(OssNotFoundError, match="NoSuchBucket"):
        upload(oss_server, tmp_path / "src", bucket="no-such-bucket")
    assert [e["op"] for e in oss_server.request_log()] == ["ListObjectsV2"]


def test_an_error_that_fails_every_file_stops_new_files_from_starting(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    tree(tmp_path / "src", {f"f{i}.txt": 3 for i in range(6)})
    cfg = config(concurrency=1, skip_unchanged=False)  # no listing: the first PUT meets the missing bucket
    summary = upload(oss_server, tmp_path / "src", bucket="no-such-bucket", cfg=cfg)
    result = summary.to_dict()
    assert (result["failed"], result["not_attempted"], result["uploaded"]) == (1, 5, 0)
    assert "NoSuchBucket" in result["failures"][0]["error"]
    assert [e["op"] for e in oss_server.request_log()] == ["PutObject"]  # one request, then it stopped
    assert "not attempted" in str(summary.error())


def test_big_files_use_their_checkpoint_store(oss_server: LocalOssServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    data = tree(src, {"big1.bin": 3 * THRESHOLD, "big2.bin": 2 * THRESHOLD + 5, "small.txt": 9})
    ckpt = tmp_path / "ckpt"
    listing = scan_folder(src, "p")
    stores: list[str] = []

    def store_for(file: Any) -> FileCheckpointStore:
        stores.append(file.relpath)
        return FileCheckpointStore(ckpt, BUCKET, file.key, file.path)

    cfg = config()
    client = make_client(oss_server, pool_size=cfg.pool_size)
    summary = FolderUploader(client, BUCKET, listing, prefix="p/", config=cfg, store_for=store_for).run()
    assert summary.ok and sorted(stores) == ["big1.bin", "big2.bin"]
    for rel, content in data.items():
        assert oss_server.object_bytes(BUCKET, f"p/{rel}") == content
    for rel in ("big1.bin", "big2.bin"):  # each leaves its completed mark
        record = FileCheckpointStore(ckpt, BUCKET, f"p/{rel}", src / rel).load()
        assert record is not None and record.completed is not None


def test_objects_of_another_size_are_replaced_without_a_head(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = tree(tmp_path / "src", {"a.txt": 10, "b.txt": 20})
    make_client(oss_server).put_object(BUCKET, "a.txt", b"old, longer than ten bytes")
    summary = upload(oss_server, tmp_path / "src")
    assert summary.to_dict()["uploaded"] == 2
    log = oss_server.request_log()
    assert entries(log, "HeadObject") == [] and len(entries(log, "ListObjectsV2")) == 1
    assert oss_server.object_bytes(BUCKET, "a.txt") == data["a.txt"]


def test_a_crowded_prefix_falls_back_to_one_head_per_file(
    oss_server: LocalOssServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tree(tmp_path / "src", {"a.txt": 10, "b.txt": 20})
    client = make_client(oss_server)
    for i in range(12):
        client.put_object(BUCKET, f"p/other{i:02}", b"")
    client.put_object(BUCKET, "p/a.txt", data["a.txt"])
    listing = scan_folder(tmp_path / "src", "p")
    uploader = FolderUploader(client, BUCKET, listing, prefix="p/", config=config())
    monkeypatch.setattr(FolderUploader, "LISTING_LIMIT_MIN", 5)
    oss_server.clear_request_log()
    summary = uploader.run()
    assert (summary.count("skipped"), summary.count("uploaded")) == (1, 1)
    log = oss_server.request_log()
    assert sorted(e["key"] for e in entries(log, "HeadObject")) == ["p/a.txt", "p/b.txt"]
    assert puts(log) == ["p/b.txt"]


def test_an_interrupted_run_starts_no_new_file(oss_server: LocalOssServer, tmp_path: Path) -> None:
    tree(tmp_path / "src", {f"f{i:02}.txt": 3 for i in range(20)})
    listing = scan_folder(tmp_path / "src")
    uploader = FolderUploader(make_client(oss_server), BUCKET, listing, config=config(concurrency=2))
    calls = 0
    real_one = uploader._one

    def one_then_killed(file: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt  # what a signal handler raising in a worker looks like
        return real_one(file)

    uploader._one = one_then_killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        uploader.run()
    assert len(puts(oss_server.request_log())) <= 4  # the files already in flight, no new ones


def test_an_unreadable_file_fails_alone_naming_it(tmp_path: Path) -> None:
    """Permission denied on one file (as root, the check runs with the effective uid of ``nobody``)."""
    with LocalOssServer.spawn(buckets=(BUCKET,)) as server:  # its own process: unaffected by seteuid
        src = Path(tempfile.mkdtemp(prefix="oss-folder-unreadable-"))  # traversable by nobody
        try:
            src.chmod(0o755)
            data = tree(src, {"a.txt": 5, "locked.txt": 6, "z.txt": 7})
            for path in src.iterdir():
                path.chmod(0o644)
            (src / "locked.txt").chmod(0o000)
            client = make_client(server)
            listing = scan_folder(src)
            as_root = os.geteuid() == 0
            if as_root:
                os.seteuid(65534)  # root reads any file: drop to nobody for the upload
            try:
                summary = FolderUploader(client, BUCKET, listing, config=config()).run()
            finally:
                if as_root:
                    os.seteuid(0)
            assert [p for p, _ in summary.failures] == ["locked.txt"]
            assert "Permission denied" in summary.failures[0][1]
            assert server.object_bytes(BUCKET, "a.txt") == data["a.txt"]
            assert server.object_bytes(BUCKET, "z.txt") == data["z.txt"]
            assert sorted(puts(server.request_log())) == ["a.txt", "z.txt"]
        finally:
            shutil.rmtree(src)


def test_a_file_swapped_for_a_link_after_the_scan_is_not_followed(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    data = tree(src, {"a.txt": 5, "swapped.txt": 6})
    (tmp_path / "secret.txt").write_bytes(b"outside")
    listing = scan_folder(src)
    (src / "swapped.txt").unlink()
    (src / "swapped.txt").symlink_to(tmp_path / "secret.txt")
    summary = FolderUploader(make_client(oss_server), BUCKET, listing, config=config()).run()
    assert [p for p, _ in summary.failures] == ["swapped.txt"]
    assert "became a symbolic link" in summary.failures[0][1]
    assert puts(oss_server.request_log()) == ["a.txt"]
    assert oss_server.object_bytes(BUCKET, "a.txt") == data["a.txt"]
