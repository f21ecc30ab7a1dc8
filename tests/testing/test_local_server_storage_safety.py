"""
The local server's storage never deletes what it did not write (``--data-dir``), and a multipart
completion interrupted by a crash (SIGKILL) is finished by the restarted server: the object
appears whole, or the upload is untouched.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer, storefiles
from airflow_provider_oss.testing.cli import main
from airflow_provider_oss.testing.rawclient import RawClient, parse_xml

B = "test-bucket"
PART = 100 * 1024


def _complete_body(parts: list[tuple[int, str]]) -> bytes:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def _start_upload(client: RawClient, key: str, pieces: list[bytes]) -> tuple[str, list[tuple[int, str]]]:
    upload_id = parse_xml(client.request("POST", B, key, [("uploads", "")])).findtext("UploadId") or ""
    etags = []
    for number, piece in enumerate(pieces, 1):
        answer = client.request(
            "PUT", B, key, [("partNumber", str(number)), ("uploadId", upload_id)], data=piece
        )
        assert answer.status_code == 200
        etags.append((number, answer.headers["ETag"]))
    return upload_id, etags


def test_a_foreign_non_empty_directory_is_refused_and_untouched(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "thesis.tex").write_text("years of work")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a local OSS server root"):
        LocalOssServer(root_dir=str(tmp_path)).start()
    assert (tmp_path / "tmp" / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "tmp"]
    assert main(["--data-dir", str(tmp_path), "--port", "0"]) == 1
    assert (tmp_path / "tmp" / "thesis.tex").read_text() == "years of work"


def test_a_server_root_is_reused_and_only_its_scratch_files_are_cleaned(tmp_path: Path) -> None:
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        client.request("PUT", B, "k", data=b"kept")
    assert (tmp_path / storefiles.MARKER).is_file()
    scratch = tmp_path / storefiles.SCRATCH
    (scratch / "0123456789abcdef").write_bytes(b"half a body from a killed run")
    (scratch / "user-file").write_text("not the server's")
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        assert client.request("GET", B, "k").content == b"kept"
    assert sorted(p.name for p in scratch.iterdir()) == ["user-file"]


def test_a_root_of_an_older_server_is_adopted_without_deleting_foreign_files(tmp_path: Path) -> None:
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        client.request("PUT", B, "k", data=b"old root")
    (tmp_path / storefiles.MARKER).unlink()
    os.rename(tmp_path / storefiles.SCRATCH, tmp_path / "tmp")
    (tmp_path / "tmp" / "fedcba9876543210").write_bytes(b"old scratch")
    (tmp_path / "tmp" / "keep.me").write_text("foreign")
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        assert client.request("GET", B, "k").content == b"old root"
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == ["keep.me"]


def test_deleting_a_bucket_leaves_files_it_did_not_write(tmp_path: Path) -> None:
    with (
        LocalOssServer(root_dir=str(tmp_path), buckets=("doomed-bucket",)) as server,
        RawClient(server) as client,
    ):
        foreign = tmp_path / "buckets" / "doomed-bucket" / "README.txt"
        foreign.write_text("someone else's")
        client.request("PUT", "doomed-bucket", "k", data=b"x")
        client.request("DELETE", "doomed-bucket", "k")
        assert client.request("DELETE", "doomed-bucket").status_code == 204
        assert client.request("HEAD", "doomed-bucket").status_code == 404
        assert foreign.read_text() == "someone else's"
        assert sorted(p.name for p in foreign.parent.iterdir()) == ["README.txt"]


class _Crash(BaseException):
    """Stands for SIGKILL inside the server: nothing after it runs."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_completion_interrupted_after_moving_one_part_is_finished_on_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = [os.urandom(PART), os.urandom(PART), b"tail"]
    real_apply = storefiles.apply_completion

    def crash_after_first_move(root: str, journal: dict[str, Any], write_json: Any) -> None:
        source, target = journal["moves"][0]
        os.makedirs(os.path.dirname(os.path.join(root, target)), exist_ok=True)
        os.replace(os.path.join(root, source), os.path.join(root, target))
        raise _Crash

    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        upload_id, etags = _start_upload(client, "big.bin", pieces)
        monkeypatch.setattr(storefiles, "apply_completion", crash_after_first_move)
        with pytest.raises(Exception):  # noqa: B017  # the connection dies with the "crash"
            client.request("POST", B, "big.bin", [("uploadId", upload_id)], data=_complete_body(etags))
        monkeypatch.setattr(storefiles, "apply_completion", real_apply)
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        assert client.request("GET", B, "big.bin").content == b"".join(pieces)
        assert server.list_uploads(B) == []
        assert not list((tmp_path / "buckets" / B / "uploads").iterdir())


def _kill_during_completions(root: Path, delay: float) -> dict[str, tuple[str, list[tuple[int, str]], bytes]]:
    """Start uploads, then SIGKILL the server ``delay`` seconds into a burst of completions."""
    server = LocalOssServer.spawn(root_dir=str(root))
    started: dict[str, tuple[str, list[tuple[int, str]], bytes]] = {}
    try:
        with RawClient(server) as client:
            for index in range(6):
                pieces = [os.urandom(PART) for _ in range(4)]
                key = f"k{index}"
                upload_id, etags = _start_upload(client, key, pieces)
                started[key] = (upload_id, etags, b"".join(pieces))

        def complete_all() -> None:
            with RawClient(server) as client:
                for key, (upload_id, etags, _) in started.items():
                    try:
                        client.request("POST", B, key, [("uploadId", upload_id)], data=_complete_body(etags))
                    except Exception:  # the server was killed under us
                        return

        worker = threading.Thread(target=complete_all)
        worker.start()
        time.sleep(delay)
        assert server._process is not None
        os.kill(server._process.pid, signal.SIGKILL)
        worker.join(30)
    finally:
        server.stop()
    return started


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05])
def test_sigkill_during_completions_leaves_each_object_whole_or_its_upload_intact(
    tmp_path: Path, delay: float
) -> None:
    started = _kill_during_completions(tmp_path, delay)
    with LocalOssServer(root_dir=str(tmp_path)) as server, RawClient(server) as client:
        open_uploads = {u["upload_id"]: u for u in server.list_uploads(B)}
        for key, (upload_id, etags, data) in started.items():
            got = client.request("GET", B, key)
            if got.status_code == 200:
                assert got.content == data
                assert upload_id not in open_uploads
                continue
            assert upload_id in open_uploads, f"{key}: neither an object nor an upload"
            assert [p["size"] for p in open_uploads[upload_id]["parts"]] == [PART] * 4
            done = client.request("POST", B, key, [("uploadId", upload_id)], data=_complete_body(etags))
            assert done.status_code == 200, done.text
            assert client.request("GET", B, key).content == data
