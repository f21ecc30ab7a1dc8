"""
The resumable download against the local server: bytes and CRC-64, parallel ranges with If-Match,
one GET for small objects, resuming from a checkpoint, and what a hostile world does (an object
changed between or during tries, corrupt or cut ranges, damaged temporary files and checkpoints,
unwritable destinations, 404/403, a second downloader).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.errors import CrcMismatchError, OssAuthError, OssNotFoundError
from airflow_provider_oss.download import (
    DestinationError,
    DownloadCheckpoint,
    DownloadCheckpointStore,
    DownloadInProgressError,
    ObjectChangedError,
    RangeFetchError,
    temp_path_for,
)
from airflow_provider_oss.download.partfile import PartFile
from airflow_provider_oss.download.store import STATE_STORE_KEY
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import FileCheckpointStore, KeyValueCheckpointStore, MemoryCheckpointStore
from tests.download.support import PART, downloader, put, ranges_of, store_for
from tests.upload_support import BUCKET, KiB, entries, last_seq, make_client, since

SIZE = 10 * PART + 777  # 11 ranges


def leftovers(directory: Path, destination: Path) -> list[str]:
    """Files in ``directory`` other than the destination (temporary files, checkpoints)."""
    return sorted(name for name in os.listdir(directory) if name != destination.name)


def failed_first_try(
    server: LocalOssServer, key: str, destination: Path, store: DownloadCheckpointStore, nth: int = 5
) -> DownloadCheckpoint:
    """A try that a reset of its ``nth`` range (no retries) stops; return the checkpoint it left."""
    server.add_fault("GetObject", "reset", nth=nth)
    with pytest.raises(RangeFetchError):
        downloader(server, key, destination, store, client_kwargs={"max_retries": 0}, parallelism=1).run()
    server.clear_faults()
    record = store.load()
    assert record is not None and 0 < len(record.done) < 11
    assert os.path.getsize(temp_path_for(str(destination))) == SIZE
    assert not destination.exists()
    return record


# -- the happy paths ------------------------------------------------------------------------------


def test_parallel_ranged_download_is_byte_exact_and_crc_verified(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/big.bin", SIZE)
    destination = tmp_path / "big.bin"
    store = store_for(tmp_path, "dl/big.bin", destination)
    result = downloader(oss_server, "dl/big.bin", destination, store, parallelism=4).run()

    assert destination.read_bytes() == data
    assert result.crc64 == crc64.crc64(data) == oss_server.stored_crc64(BUCKET, "dl/big.bin")
    assert (result.ranges_total, result.ranges_fetched, result.ranges_reused, result.resumed) == (
        11,
        11,
        0,
        False,
    )
    assert result.to_dict()["crc64"] == str(crc64.crc64(data))
    log = oss_server.request_log()
    assert len(entries(log, "HeadObject")) == 1
    spans = sorted(ranges_of(log))
    assert spans == [(i * PART, min(SIZE, (i + 1) * PART) - 1) for i in range(11)]
    assert leftovers(tmp_path, destination) == ["ckpt"] and os.listdir(tmp_path / "ckpt") == []


def test_if_match_is_sent_on_every_range(oss_server: LocalOssServer, tmp_path: Path) -> None:
    put(oss_server, "dl/if-match.bin", 3 * PART)
    etag = make_client(oss_server).head_object(BUCKET, "dl/if-match.bin").etag
    # A stale ETag in the request must be refused by the server: prove the header is what guards us.
    client = make_client(oss_server)
    with pytest.raises(Exception, match="PreconditionFailed"):
        client.transport.send(
            "GET", BUCKET, "dl/if-match.bin", headers={"If-Match": '"0000"'}, op="GetObject"
        )
    result = downloader(oss_server, "dl/if-match.bin", tmp_path / "f", None).run()
    assert result.etag == etag


def test_small_object_goes_in_one_get(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = put(oss_server, "dl/small.bin", 50 * KiB)
    mark = last_seq(oss_server)
    destination = tmp_path / "small.bin"
    result = downloader(
        oss_server, "dl/small.bin", destination, store_for(tmp_path, "dl/small.bin", destination)
    ).run()
    run = since(oss_server.request_log(), mark)
    assert [e["op"] for e in run] == ["HeadObject", "GetObject"]
    assert destination.read_bytes() == data and result.ranges_total == 1
    assert not (tmp_path / "ckpt").exists(), "a single GET keeps no checkpoint"


def test_empty_object(oss_server: LocalOssServer, tmp_path: Path) -> None:
    make_client(oss_server).put_object(BUCKET, "dl/empty", b"")
    destination = tmp_path / "empty"
    result = downloader(oss_server, "dl/empty", destination, None).run()
    assert destination.read_bytes() == b"" and result.crc64 == 0 and result.ranges_total == 0


def test_existing_destination_is_replaced_only_when_verified(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/replace.bin", SIZE)
    destination = tmp_path / "replace.bin"
    destination.write_bytes(b"old contents")
    oss_server.add_fault("GetObject", "corrupt", nth=3)
    with pytest.raises(CrcMismatchError):
        downloader(
            oss_server, "dl/replace.bin", destination, store_for(tmp_path, "dl/replace.bin", destination)
        ).run()
    assert destination.read_bytes() == b"old contents"
    downloader(
        oss_server, "dl/replace.bin", destination, store_for(tmp_path, "dl/replace.bin", destination)
    ).run()
    assert destination.read_bytes() == data


# -- resuming ---------------------------------------------------------------------------------------


class DictStateStore:
    """The shape of Airflow 3.3's ``task_state_store``: JSON values under keys."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return json.loads(json.dumps(self.values[key])) if key in self.values else default

    def set(self, key: str, value: object, **kwargs: object) -> None:
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


@pytest.mark.parametrize("kind", ["file", "key_value", "memory"])
def test_a_new_downloader_continues_with_the_missing_ranges_only(
    kind: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/resume.bin", SIZE, seed=3)
    destination = tmp_path / "out" / "resume.bin"
    destination.parent.mkdir()
    kv = DictStateStore()
    memory = MemoryCheckpointStore()

    def store() -> DownloadCheckpointStore:  # a new store object per try, as a new process makes
        if kind == "file":
            return store_for(tmp_path, "dl/resume.bin", destination)
        if kind == "key_value":
            return DownloadCheckpointStore(KeyValueCheckpointStore(kv, key=STATE_STORE_KEY))
        return DownloadCheckpointStore(memory)

    record = failed_first_try(oss_server, "dl/resume.bin", destination, store())
    mark = last_seq(oss_server)
    result = downloader(oss_server, "dl/resume.bin", destination, store()).run()

    fetched = {first // PART + 1 for first, _ in ranges_of(since(oss_server.request_log(), mark))}
    assert fetched == set(range(1, 12)) - set(record.done)
    assert (result.resumed, result.ranges_reused, result.ranges_fetched) == (
        True,
        len(record.done),
        len(fetched),
    )
    assert result.bytes_reused + result.bytes_fetched == SIZE
    assert destination.read_bytes() == data
    assert store().load() is None, "a finished download deletes its checkpoint"
    assert leftovers(destination.parent, destination) == []


def test_a_range_cut_part_way_continues_from_the_byte_received(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/cut.bin", SIZE)
    oss_server.add_fault("GetObject", "reset", nth=2, after_bytes=50_000)
    destination = tmp_path / "cut.bin"
    downloader(oss_server, "dl/cut.bin", destination, None, parallelism=1).run()
    assert destination.read_bytes() == data
    gets = entries(oss_server.request_log(), "GetObject")
    cut = next(e for e in gets if e["fault"] == "reset")
    assert cut["range"] == f"bytes={PART}-{2 * PART - 1}"
    asked = [e["range"] for e in gets]
    assert f"bytes={PART + 50_000}-{2 * PART - 1}" in asked, "only the rest of range 2 was asked for again"
    assert len(asked) == 12


# -- the object changes ---------------------------------------------------------------------------


def test_object_changed_between_tries_starts_over(oss_server: LocalOssServer, tmp_path: Path) -> None:
    put(oss_server, "dl/changed.bin", SIZE, seed=1)
    destination = tmp_path / "changed.bin"
    failed_first_try(
        oss_server, "dl/changed.bin", destination, store_for(tmp_path, "dl/changed.bin", destination)
    )
    new = put(oss_server, "dl/changed.bin", SIZE, seed=2)  # same size, new bytes and ETag
    mark = last_seq(oss_server)
    result = downloader(
        oss_server, "dl/changed.bin", destination, store_for(tmp_path, "dl/changed.bin", destination)
    ).run()
    assert destination.read_bytes() == new
    assert (result.resumed, result.ranges_fetched) == (False, 11)
    assert len(ranges_of(since(oss_server.request_log(), mark))) == 11


def test_object_changed_during_the_download_fails_clearly_and_keeps_nothing(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "dl/moving.bin", SIZE, seed=1)
    destination = tmp_path / "moving.bin"
    store = store_for(tmp_path, "dl/moving.bin", destination)
    oss_server.add_fault(
        "GetObject", "delay", nth=3, delay=1.0
    )  # range 3 waits; the object changes meanwhile

    def overwrite() -> None:
        deadline = time.monotonic() + 10
        while len(ranges_of(oss_server.request_log())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        put(oss_server, "dl/moving.bin", SIZE, seed=9)

    writer = threading.Thread(target=overwrite)
    writer.start()
    with pytest.raises(ObjectChangedError, match="changed during the download") as caught:
        downloader(oss_server, "dl/moving.bin", destination, store, parallelism=1).run()
    writer.join()
    assert "next try downloads the new object" in str(caught.value)
    assert any(
        e["error_code"] == "PreconditionFailed" for e in entries(oss_server.request_log(), "GetObject")
    )
    assert not destination.exists() and leftovers(tmp_path, destination) == ["ckpt"]
    assert store.load() is None
    new = downloader(oss_server, "dl/moving.bin", destination, store).run()
    assert (
        destination.read_bytes() == oss_server.object_bytes(BUCKET, "dl/moving.bin")
        and new.ranges_fetched == 11
    )


def test_object_deleted_during_the_download_is_a_change(oss_server: LocalOssServer, tmp_path: Path) -> None:
    put(oss_server, "dl/gone.bin", SIZE)
    oss_server.add_fault("GetObject", "delay", nth=2, delay=1.0)
    client = make_client(oss_server)

    def delete() -> None:
        deadline = time.monotonic() + 10
        while not ranges_of(oss_server.request_log()) and time.monotonic() < deadline:
            time.sleep(0.01)
        client.delete_object(BUCKET, "dl/gone.bin")

    thread = threading.Thread(target=delete)
    thread.start()
    with pytest.raises(ObjectChangedError, match="deleted"):
        downloader(oss_server, "dl/gone.bin", tmp_path / "gone.bin", None, parallelism=1).run()
    thread.join()
    assert os.listdir(tmp_path) == []


# -- corrupt data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "action"), [("GetObject", "corrupt"), ("HeadObject", "bad_crc")])
def test_corrupt_bytes_or_a_wrong_object_crc_never_make_a_file(
    op: str, action: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/corrupt.bin", SIZE)
    destination = tmp_path / "corrupt.bin"
    store = store_for(tmp_path, "dl/corrupt.bin", destination)
    oss_server.add_fault(op, action, nth=1 if op == "HeadObject" else 4)
    with pytest.raises(CrcMismatchError, match="CRC-64 mismatch") as caught:
        downloader(oss_server, "dl/corrupt.bin", destination, store).run()
    assert caught.value.server_crc != caught.value.local_crc
    assert not destination.exists() and leftovers(tmp_path, destination) == ["ckpt"] and store.load() is None
    result = downloader(oss_server, "dl/corrupt.bin", destination, store).run()
    assert destination.read_bytes() == data and not result.resumed


def test_truncated_temporary_file_starts_over(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = put(oss_server, "dl/trunc.bin", SIZE)
    destination = tmp_path / "trunc.bin"
    failed_first_try(
        oss_server, "dl/trunc.bin", destination, store_for(tmp_path, "dl/trunc.bin", destination)
    )
    os.truncate(temp_path_for(str(destination)), 2 * PART + 5)
    result = downloader(
        oss_server, "dl/trunc.bin", destination, store_for(tmp_path, "dl/trunc.bin", destination)
    ).run()
    assert destination.read_bytes() == data
    assert (result.resumed, result.ranges_fetched) == (False, 11)


def test_damaged_bytes_in_a_written_range_are_fetched_again(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/damaged.bin", SIZE)
    destination = tmp_path / "damaged.bin"
    record = failed_first_try(
        oss_server, "dl/damaged.bin", destination, store_for(tmp_path, "dl/damaged.bin", destination)
    )
    victim = min(record.done)
    with open(temp_path_for(str(destination)), "r+b") as f:  # a half-written range: zeros where bytes were
        f.seek((victim - 1) * PART + 100)
        f.write(b"\0" * 1000)
    mark = last_seq(oss_server)
    result = downloader(
        oss_server, "dl/damaged.bin", destination, store_for(tmp_path, "dl/damaged.bin", destination)
    ).run()
    fetched = {first // PART + 1 for first, _ in ranges_of(since(oss_server.request_log(), mark))}
    assert victim in fetched and fetched == set(range(1, 12)) - set(record.done) | {victim}
    assert result.ranges_reused == len(record.done) - 1
    assert destination.read_bytes() == data


@pytest.mark.parametrize(
    "damage",
    [
        "not json",
        "truncated",
        "an upload's record",
        "range beyond the plan",
        "extra field",
        "done not base64",
        "wrong crc type",
        "deeply nested",
    ],
)
def test_a_malformed_checkpoint_starts_over_and_never_makes_a_wrong_file(
    damage: str, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/malformed.bin", SIZE)
    destination = tmp_path / "malformed.bin"
    store = store_for(tmp_path, "dl/malformed.bin", destination)
    failed_first_try(oss_server, "dl/malformed.bin", destination, store)
    backend = store.backend
    assert isinstance(backend, FileCheckpointStore)
    text = backend.read_text()
    assert text is not None
    record = json.loads(text)
    if damage == "not json":
        text = "{nonsense"
    elif damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "an upload's record":
        text = json.dumps({"version": 3, "bucket": BUCKET, "key": "dl/malformed.bin", "upload_id": "X"})
    elif damage == "range beyond the plan":
        from airflow_provider_oss.upload.checkpoint import encode_confirmed

        text = json.dumps({**record, "done": encode_confirmed({1: 1, 500: 2})})
    elif damage == "extra field":
        text = json.dumps({**record, "surprise": 1})
    elif damage == "done not base64":
        text = json.dumps({**record, "done": "!!!"})
    elif damage == "wrong crc type":
        text = json.dumps({**record, "object": {**record["object"], "crc64": 12}})
    else:
        text = "[" * 100_000 + "]" * 100_000
    backend.write_text(text)
    result = downloader(oss_server, "dl/malformed.bin", destination, store).run()
    assert destination.read_bytes() == data
    assert not result.resumed and result.ranges_fetched == 11


def test_upload_and_download_records_of_one_path_and_key_do_not_collide(tmp_path: Path) -> None:
    upload = FileCheckpointStore(tmp_path / "ckpt", BUCKET, "k", tmp_path / "f")
    download = store_for(tmp_path, "k", tmp_path / "f").backend
    assert isinstance(download, FileCheckpointStore)
    assert upload.path != download.path and os.path.dirname(upload.path) == os.path.dirname(download.path)


# -- the destination ------------------------------------------------------------------------------


def test_missing_destination_directory_fails_before_any_request(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "dl/x.bin", 1000)
    mark = last_seq(oss_server)
    with pytest.raises(DestinationError, match="does not exist"):
        downloader(oss_server, "dl/x.bin", tmp_path / "nope" / "x.bin", None).run()
    with pytest.raises(DestinationError, match="is a directory"):
        downloader(oss_server, "dl/x.bin", tmp_path, None).run()
    assert since(oss_server.request_log(), mark) == []


NOT_WRITABLE_SCRIPT = """
import json, os, sys
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.download import DestinationError, ResumableDownloader
args = json.loads(sys.argv[1])
client = OssClient(Credentials(args["ak"], os.environ["SECRET"]), ClientConfig(
    region=args["region"], endpoint=args["endpoint"], addressing_style="path"))
if os.geteuid() == 0:
    os.setgid(65534); os.setuid(65534)
try:
    ResumableDownloader(client, "test-bucket", "dl/x.bin", args["destination"]).run()
except DestinationError as err:
    print("DestinationError:", err)
    sys.exit(3)
print("downloaded")
"""


def test_a_destination_directory_that_is_not_writable_fails_clearly(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    import subprocess
    import sys
    import tempfile

    put(oss_server, "dl/x.bin", 1000)
    base = Path(tempfile.mkdtemp(prefix="oss-dl-readonly-"))
    try:
        base.chmod(0o755)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        args = {
            "ak": oss_server.access_key_id,
            "region": oss_server.region,
            "endpoint": oss_server.endpoint,
            "destination": str(locked / "x.bin"),
        }
        repo = Path(__file__).resolve().parents[2]
        env = {**os.environ, "SECRET": oss_server.access_key_secret, "PYTHONPATH": str(repo)}
        proc = subprocess.run(
            [sys.executable, "-c", NOT_WRITABLE_SCRIPT, json.dumps(args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "is not writable by this process" in proc.stdout
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)
        import shutil

        shutil.rmtree(base)


# -- OSS errors -------------------------------------------------------------------------------------


def test_missing_object_is_a_clear_404_and_leaves_nothing(oss_server: LocalOssServer, tmp_path: Path) -> None:
    with pytest.raises(OssNotFoundError) as caught:
        downloader(
            oss_server,
            "dl/absent.bin",
            tmp_path / "absent.bin",
            store_for(tmp_path, "dl/absent.bin", tmp_path / "absent.bin"),
        ).run()
    assert caught.value.status == 404
    assert os.listdir(tmp_path) == []


def test_wrong_secret_is_an_auth_error_not_a_missing_object(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.download import ResumableDownloader

    put(oss_server, "dl/secret.bin", 1000)
    client = OssClient(Credentials(oss_server.access_key_id, "wrong-secret"), make_client(oss_server).config)
    with pytest.raises(OssAuthError) as caught:
        ResumableDownloader(client, BUCKET, "dl/secret.bin", tmp_path / "s.bin").run()
    assert caught.value.status == 403 and "wrong-secret" not in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_access_denied_on_a_range_keeps_its_type_and_the_checkpoint(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "dl/denied.bin", SIZE)
    destination = tmp_path / "denied.bin"
    store = store_for(tmp_path, "dl/denied.bin", destination)
    oss_server.add_fault("GetObject", "status", status=403, nth=4)
    with pytest.raises(OssAuthError, match="AccessDenied"):
        downloader(oss_server, "dl/denied.bin", destination, store, parallelism=1).run()
    record = store.load()
    assert record is not None and set(record.done) == {1, 2, 3}


# -- a second downloader ----------------------------------------------------------------------------


def test_a_second_downloader_to_the_same_destination_is_refused(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = put(oss_server, "dl/two.bin", SIZE)
    destination = tmp_path / "two.bin"
    holder = PartFile(str(destination))
    holder.open()
    try:
        with pytest.raises(DownloadInProgressError, match="Another process is downloading"):
            downloader(
                oss_server, "dl/two.bin", destination, store_for(tmp_path, "dl/two.bin", destination)
            ).run()
    finally:
        holder.close()
    # Two downloads at once: one finishes, the other is refused; the file is right.
    oss_server.add_fault("GetObject", "delay", delay=0.05, times=1000)
    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(
                downloader(
                    oss_server, "dl/two.bin", destination, store_for(tmp_path, "dl/two.bin", destination)
                ).run()
            )
        except DownloadInProgressError as err:
            outcomes.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["DownloadInProgressError", "DownloadResult"]
    assert destination.read_bytes() == data
    assert leftovers(tmp_path, destination) == ["ckpt"]


def test_without_a_checkpoint_store_a_failed_download_leaves_no_temporary_file(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "dl/nostore.bin", SIZE)
    oss_server.add_fault("GetObject", "reset", nth=3)
    with pytest.raises(RangeFetchError, match="Range 3"):
        downloader(
            oss_server,
            "dl/nostore.bin",
            tmp_path / "n.bin",
            None,
            client_kwargs={"max_retries": 0},
            parallelism=1,
        ).run()
    assert os.listdir(tmp_path) == []


def test_an_object_rewritten_smaller_than_the_threshold_drops_the_old_record(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    put(oss_server, "dl/shrunk.bin", SIZE)
    destination = tmp_path / "shrunk.bin"
    store = store_for(tmp_path, "dl/shrunk.bin", destination)
    failed_first_try(oss_server, "dl/shrunk.bin", destination, store)
    small = put(oss_server, "dl/shrunk.bin", 1000, seed=4)
    result = downloader(oss_server, "dl/shrunk.bin", destination, store).run()
    assert destination.read_bytes() == small and result.ranges_total == 1
    assert store.load() is None and leftovers(tmp_path, destination) == ["ckpt"]
