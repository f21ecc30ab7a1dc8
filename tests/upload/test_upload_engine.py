"""ResumableUploader against the local OSS server: fresh uploads, small files, CRC checks, failures."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.errors import CrcMismatchError, OssConnectionError, OssNotFoundError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    Checkpoint,
    FileCheckpointStore,
    MemoryCheckpointStore,
    ObjectExistsError,
    PartUploadError,
    ProgressEvent,
    ResumableUploader,
    SourceChangedError,
    SourceFileError,
    TransferConfig,
    client_config_for_upload,
    recommended_pool_size,
)
from tests.upload_support import (
    BUCKET,
    KiB,
    MiB,
    entries,
    make_client,
    make_file,
    part_requests,
    parts_stored,
)

#: The engine settings of most tests here: 256 KiB parts, the other settings their defaults.
PARTS_256K = TransferConfig(part_size=256 * KiB)


def make_uploader(
    server: LocalOssServer,
    key: str,
    path: Path | str,
    *,
    client: OssClient | None = None,
    config: TransferConfig = PARTS_256K,
    **options: Any,
) -> ResumableUploader:
    """
    The engine that uploads ``path`` to ``key`` in the test bucket of ``server``.

    :param client: the client to use (a new one of ``server`` when None).
    :param config: the engine settings (256 KiB parts when not given).
    :param options: the engine's other arguments (``checkpoint_store``, ``progress_callback``...).
    """
    return ResumableUploader(client or make_client(server), BUCKET, key, path, config=config, **options)


class RecordingStore(MemoryCheckpointStore):
    """A memory store that notes which requests the server had seen when the checkpoint was saved."""

    def __init__(self, server: LocalOssServer) -> None:
        super().__init__()
        self.server = server
        self.ops_at_save: list[list[str]] = []
        self.stored_at_save: list[dict[int, int]] = []
        self.confirmed_at_save: list[dict[int, int]] = []
        self.deletes = 0

    def save(self, checkpoint: Checkpoint) -> None:
        log = self.server.request_log()
        self.ops_at_save.append([e["op"] for e in log])
        self.stored_at_save.append(
            {
                p["part_number"]: p["crc64"]
                for upload in self.server.list_uploads(BUCKET)
                for p in upload["parts"]
            }
        )
        self.confirmed_at_save.append(dict(checkpoint.confirmed_parts))
        super().save(checkpoint)

    def delete(self) -> None:
        self.deletes += 1
        super().delete()


def test_fresh_upload_stores_the_exact_bytes_and_crc(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = make_file(tmp_path / "src.bin", 3 * MiB + 12345)
    store = RecordingStore(oss_server)
    events: list[ProgressEvent] = []
    uploader = make_uploader(
        oss_server,
        "dir/fresh.bin",
        tmp_path / "src.bin",
        config=TransferConfig(part_size=512 * KiB, parallelism=3),
        checkpoint_store=store,
        object_options=ObjectOptions(content_type="application/x-test", metadata={"Owner": "alice"}),
        progress_callback=events.append,
    )
    result = uploader.run()

    assert oss_server.object_bytes(BUCKET, "dir/fresh.bin") == data
    assert result.crc64 == crc64.crc64(data)
    assert (result.size, result.parts_total, result.parts_sent, result.parts_reused) == (len(data), 7, 7, 0)
    assert (result.bytes_sent, result.bytes_reused, result.resumed) == (len(data), 0, False)
    assert result.upload_id and not result.already_complete
    log = oss_server.request_log()
    assert len(entries(log, "InitiateMultipartUpload")) == 1
    assert entries(log, "ListParts") == []  # a fresh upload has nothing to list
    # one HEAD before starting (is the key already this file?), answered 404: nothing read
    assert [e["op"] for e in log][:2] == ["HeadObject", "InitiateMultipartUpload"]
    assert sorted(part_requests(log)) == list(range(1, 8))
    assert {e["upload_id"] for e in entries(log, "UploadPart")} == {result.upload_id}
    # the checkpoint was saved after InitiateMultipartUpload and before any part, then updated with
    # parts OSS had acknowledged (each confirmed with the CRC-64 that OSS computed), never completion
    assert (
        store.ops_at_save[0] == ["HeadObject", "InitiateMultipartUpload"] and store.confirmed_at_save[0] == {}
    )
    assert len(store.ops_at_save) > 1, "7 parts make batches of 1: the checkpoint is updated"
    for stored, confirmed in zip(store.stored_at_save, store.confirmed_at_save, strict=True):
        assert confirmed.items() <= stored.items()
    # every save but the last came before completion; the last marks the record completed
    assert all("CompleteMultipartUpload" not in ops for ops in store.ops_at_save[:-1])
    assert store.ops_at_save[-1][-1] == "CompleteMultipartUpload"
    record = Checkpoint.from_json(store.text or "")
    assert record.completed is not None and record.completed.crc64 == crc64.crc64(data)
    assert record.upload_id == result.upload_id and record.confirmed_parts == {}
    assert oss_server.list_uploads(BUCKET) == []
    info = make_client(oss_server).head_object(BUCKET, "dir/fresh.bin")
    assert info.content_type == "application/x-test"
    assert info.metadata.get("owner") == "alice"
    assert info.crc64 == crc64.crc64(data)
    # one event per part, ending at 100 %
    assert sorted(e.part_number for e in events if e.part_number) == list(range(1, 8))
    assert events[-1].percent == 100.0 and events[-1].bytes_done == len(data)
    json.dumps(result.to_dict())  # JSON-safe for XCom


def test_file_checkpoint_is_marked_completed_after_success(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "src.bin", MiB)
    store = FileCheckpointStore(tmp_path / "ckpt", BUCKET, "k.bin", tmp_path / "src.bin")
    make_uploader(oss_server, "k.bin", tmp_path / "src.bin", checkpoint_store=store).run()
    record = store.load()
    assert record is not None and record.completed is not None
    assert len(os.listdir(tmp_path / "ckpt")) == 1  # the marked record, no temporary file left


def test_file_checkpoint_is_removed_after_success_without_a_completed_retention(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "src.bin", MiB)
    store = FileCheckpointStore(tmp_path / "ckpt", BUCKET, "k.bin", tmp_path / "src.bin")
    make_uploader(
        oss_server,
        "k.bin",
        tmp_path / "src.bin",
        config=TransferConfig(part_size=256 * KiB, completed_retention=0),
        checkpoint_store=store,
    ).run()
    assert store.load() is None
    assert os.listdir(tmp_path / "ckpt") == []


def test_empty_file_becomes_an_empty_object(oss_server: LocalOssServer, tmp_path: Path) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    result = make_uploader(
        oss_server, "empty.bin", tmp_path / "empty.bin", config=TransferConfig(multipart_threshold=0)
    ).run()
    assert oss_server.object_bytes(BUCKET, "empty.bin") == b""
    assert (result.size, result.upload_id, result.parts_sent, result.crc64) == (0, None, 1, 0)
    log = oss_server.request_log()
    assert len(entries(log, "PutObject")) == 1
    assert entries(log, "InitiateMultipartUpload") == []


def test_small_file_goes_up_in_one_put_object(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = make_file(tmp_path / "small.bin", 50_000)
    store = MemoryCheckpointStore()
    result = make_uploader(
        oss_server,
        "small.bin",
        tmp_path / "small.bin",
        config=TransferConfig(part_size=100 * KiB),
        checkpoint_store=store,
        object_options=ObjectOptions(content_type="text/plain"),
    ).run()
    assert oss_server.object_bytes(BUCKET, "small.bin") == data
    assert result.crc64 == crc64.crc64(data)
    assert result.upload_id is None
    log = oss_server.request_log()
    assert [e["op"] for e in log] == ["PutObject"]
    assert store.saves == 0
    assert make_client(oss_server).head_object(BUCKET, "small.bin").content_type == "text/plain"


def test_file_at_the_threshold_uses_multipart(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = make_file(tmp_path / "f.bin", 200 * KiB)
    result = make_uploader(
        oss_server,
        "f.bin",
        tmp_path / "f.bin",
        config=TransferConfig(part_size=100 * KiB, multipart_threshold=200 * KiB),
    ).run()
    assert result.parts_total == 2
    assert oss_server.object_bytes(BUCKET, "f.bin") == data


def test_bad_crc_on_one_part_is_sent_again(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = make_file(tmp_path / "f.bin", MiB)
    oss_server.add_fault("UploadPart", "bad_crc", part_number=3)
    result = make_uploader(
        oss_server, "crc.bin", tmp_path / "f.bin", config=TransferConfig(part_size=256 * KiB, parallelism=2)
    ).run()
    assert oss_server.object_bytes(BUCKET, "crc.bin") == data
    assert result.crc64 == crc64.crc64(data)
    assert sorted(part_requests(oss_server.request_log())) == [1, 2, 3, 3, 4]


def test_bad_crc_twice_raises_and_completes_nothing(oss_server: LocalOssServer, tmp_path: Path) -> None:
    make_file(tmp_path / "f.bin", MiB)
    oss_server.add_fault("UploadPart", "bad_crc", part_number=2, times=2)
    store = MemoryCheckpointStore()
    uploader = make_uploader(
        oss_server,
        "crc2.bin",
        tmp_path / "f.bin",
        config=TransferConfig(part_size=256 * KiB, parallelism=2),
        checkpoint_store=store,
    )
    with pytest.raises(CrcMismatchError, match=r"Part 2 of upload ID .* twice") as info:
        uploader.run()
    assert info.value.part_number == 2
    log = oss_server.request_log()
    assert entries(log, "CompleteMultipartUpload") == []
    with pytest.raises(OssNotFoundError):
        make_client(oss_server).head_object(BUCKET, "crc2.bin")
    # kept for a retry: the upload and its checkpoint
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [store.load().upload_id]  # type: ignore[union-attr]


def test_bad_crc_on_complete_is_never_a_silent_success(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = make_file(tmp_path / "f.bin", MiB)
    oss_server.add_fault("CompleteMultipartUpload", "bad_crc")
    store = MemoryCheckpointStore()

    def uploader() -> ResumableUploader:
        return make_uploader(oss_server, "c.bin", tmp_path / "f.bin", checkpoint_store=store)

    with pytest.raises(CrcMismatchError, match="combined CRC-64"):
        uploader().run()
    assert store.load() is not None
    # the retry checks the object in OSS against the file before doing anything else
    result = uploader().run()
    assert result.already_complete and result.parts_sent == 0
    assert result.crc64 == crc64.crc64(data)
    assert store.load() is None


def test_file_changed_during_upload_is_never_completed(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 2 * MiB)
    store = MemoryCheckpointStore()

    def rewrite(event: ProgressEvent) -> None:
        if event.parts_done == 3:
            with path.open("r+b") as f:  # same size, new bytes: the mtime changes
                f.write(b"changed!")

    with pytest.raises(SourceChangedError, match="changed while it was being uploaded") as info:
        make_uploader(
            oss_server,
            "moving.bin",
            path,
            config=TransferConfig(part_size=256 * KiB, parallelism=2),
            checkpoint_store=store,
            progress_callback=rewrite,
        ).run()
    assert info.value.upload_id is not None
    assert entries(oss_server.request_log(), "CompleteMultipartUpload") == []
    with pytest.raises(OssNotFoundError):
        make_client(oss_server).head_object(BUCKET, "moving.bin")
    # fail fast: it stopped well before the 8th part
    assert len(part_requests(oss_server.request_log())) < 8
    # the next try sees the changed file, aborts the stale upload and starts clean
    stale_id = store.load().upload_id  # type: ignore[union-attr]
    result = make_uploader(oss_server, "moving.bin", path, checkpoint_store=store).run()
    assert oss_server.object_bytes(BUCKET, "moving.bin") == path.read_bytes()
    assert result.upload_id != stale_id and not result.resumed
    assert entries(oss_server.request_log(), "AbortMultipartUpload", upload_id=stale_id)
    assert oss_server.list_uploads(BUCKET) == []


def test_file_that_shrinks_during_upload_is_never_completed(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 2 * MiB)

    def shrink(event: ProgressEvent) -> None:
        if event.parts_done == 1:
            os.truncate(path, MiB)

    with pytest.raises(SourceChangedError):
        make_uploader(
            oss_server,
            "shrink.bin",
            path,
            config=TransferConfig(part_size=256 * KiB, parallelism=1),
            checkpoint_store=MemoryCheckpointStore(),
            progress_callback=shrink,
        ).run()
    assert entries(oss_server.request_log(), "CompleteMultipartUpload") == []


def test_replace_false_refuses_an_existing_object_before_uploading(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", MiB)
    client = make_client(oss_server)
    client.put_object(BUCKET, "exists.bin", b"old")
    with pytest.raises(ObjectExistsError, match="already exists and replace=False"):
        make_uploader(oss_server, "exists.bin", tmp_path / "f.bin", client=client, replace=False).run()
    assert entries(oss_server.request_log(), "InitiateMultipartUpload") == []
    assert oss_server.object_bytes(BUCKET, "exists.bin") == b"old"
    # a new key is fine with replace=False
    make_uploader(oss_server, "new.bin", tmp_path / "f.bin", client=client, replace=False).run()


def test_replace_false_loses_the_race_to_a_writer_during_the_upload(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """The key is free when the upload starts and written by someone else before it completes."""
    make_file(tmp_path / "f.bin", MiB)
    client = make_client(oss_server)
    store = MemoryCheckpointStore()

    def intruder(event: ProgressEvent) -> None:
        if event.part_number == 2:
            client.put_object(BUCKET, "race.bin", b"theirs")

    with pytest.raises(ObjectExistsError, match="created by someone else while this file was being uploaded"):
        make_uploader(
            oss_server,
            "race.bin",
            tmp_path / "f.bin",
            client=client,
            config=TransferConfig(part_size=256 * KiB, parallelism=1),
            replace=False,
            checkpoint_store=store,
            progress_callback=intruder,
        ).run()
    assert oss_server.object_bytes(BUCKET, "race.bin") == b"theirs"  # OSS refused to overwrite it
    [complete] = entries(oss_server.request_log(), "CompleteMultipartUpload")
    assert complete["error_code"] == "FileAlreadyExists"
    assert oss_server.list_uploads(BUCKET) == []  # the upload that can never complete was aborted
    assert store.load() is None


def test_replace_false_accepts_a_writer_that_stored_this_very_file(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "f.bin", MiB)
    client = make_client(oss_server)

    def twin(event: ProgressEvent) -> None:
        if event.part_number == 2:
            client.put_object(BUCKET, "twin.bin", data)

    result = make_uploader(
        oss_server,
        "twin.bin",
        tmp_path / "f.bin",
        client=client,
        config=TransferConfig(part_size=256 * KiB, parallelism=1),
        replace=False,
        checkpoint_store=MemoryCheckpointStore(),
        progress_callback=twin,
    ).run()
    assert result.crc64 == crc64.crc64(data)
    assert oss_server.object_bytes(BUCKET, "twin.bin") == data
    assert oss_server.list_uploads(BUCKET) == []


def test_replace_false_single_put_is_atomic(oss_server: LocalOssServer, tmp_path: Path) -> None:
    make_file(tmp_path / "small.bin", 1000)
    client = make_client(oss_server)
    uploader = ResumableUploader(client, BUCKET, "small.bin", tmp_path / "small.bin", replace=False)
    client.put_object(BUCKET, "small.bin", b"theirs")
    # the early HEAD check ran before that write: skip it, as if the write came just after it
    uploader.recovery.enforce_no_replace = lambda *args: None  # type: ignore[method-assign]
    with pytest.raises(ObjectExistsError, match="refused to overwrite"):
        uploader.run()
    assert oss_server.object_bytes(BUCKET, "small.bin") == b"theirs"


def part_failure_setup(oss_server: LocalOssServer, tmp_path: Path) -> tuple[Path, bytes]:
    data = make_file(tmp_path / "f.bin", 5 * MiB)
    oss_server.add_fault("UploadPart", "status", nth=3, status=403, code="AccessDenied")
    return tmp_path / "f.bin", data


def test_part_error_fails_fast_with_context_and_keeps_the_upload(
    oss_server: LocalOssServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, _ = part_failure_setup(oss_server, tmp_path)
    store = FileCheckpointStore(tmp_path / "ckpt", BUCKET, "fail.bin", path)
    with caplog.at_level(logging.INFO), pytest.raises(PartUploadError) as info:
        make_uploader(
            oss_server,
            "fail.bin",
            path,
            config=TransferConfig(part_size=256 * KiB, parallelism=2),
            checkpoint_store=store,
        ).run()
    upload_id = store.load().upload_id  # type: ignore[union-attr]
    message = str(info.value)
    assert f"upload ID {upload_id}" in message and "of 20" in message and "AccessDenied" in message
    assert info.value.upload_id == upload_id
    assert info.value.part_number in range(1, 21)
    assert len(part_requests(oss_server.request_log())) <= 6  # no new parts after the failure
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [upload_id]
    assert entries(oss_server.request_log(), "AbortMultipartUpload") == []
    assert f"Upload ID {upload_id}" in caplog.text and "lifecycle rule" in caplog.text


def test_abort_on_failure_aborts_and_drops_the_checkpoint(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path, _ = part_failure_setup(oss_server, tmp_path)
    store = MemoryCheckpointStore()
    with pytest.raises(PartUploadError):
        make_uploader(
            oss_server,
            "fail.bin",
            path,
            config=TransferConfig(part_size=256 * KiB, parallelism=2),
            checkpoint_store=store,
            abort_on_failure=True,
        ).run()
    assert oss_server.list_uploads(BUCKET) == []
    assert len(entries(oss_server.request_log(), "AbortMultipartUpload")) == 1
    assert store.text is None


def test_without_a_checkpoint_store_a_failed_upload_is_aborted(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path, _ = part_failure_setup(oss_server, tmp_path)
    with pytest.raises(PartUploadError):
        make_uploader(oss_server, "fail.bin", path).run()
    assert oss_server.list_uploads(BUCKET) == []


def test_connection_errors_after_client_retries_keep_their_cause(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", MiB)
    oss_server.add_fault("UploadPart", "reset", nth=1, times=10)
    with pytest.raises(PartUploadError) as info:
        make_uploader(
            oss_server,
            "reset.bin",
            tmp_path / "f.bin",
            client=make_client(oss_server, max_retries=1),
            config=TransferConfig(part_size=256 * KiB, parallelism=1),
            checkpoint_store=MemoryCheckpointStore(),
        ).run()
    assert isinstance(info.value.__cause__, OssConnectionError)
    # the engine adds no retry storm: 1 part x (1 try + 1 client retry), then it stops
    assert len(part_requests(oss_server.request_log())) == 2


class FullDiskStore(MemoryCheckpointStore):
    def save(self, checkpoint: Checkpoint) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_checkpoint_save_aborts_the_new_upload(oss_server: LocalOssServer, tmp_path: Path) -> None:
    make_file(tmp_path / "f.bin", MiB)
    with pytest.raises(OSError, match="upload was aborted, nothing was sent") as info:
        make_uploader(oss_server, "k.bin", tmp_path / "f.bin", checkpoint_store=FullDiskStore()).run()
    assert info.value.errno == errno.ENOSPC
    log = oss_server.request_log()
    assert part_requests(log) == []
    assert len(entries(log, "AbortMultipartUpload")) == 1
    assert oss_server.list_uploads(BUCKET) == []


def test_unreadable_checkpoint_location_fails_before_uploading(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", MiB)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the checkpoint directory should be")
    store = FileCheckpointStore(blocker, BUCKET, "k.bin", tmp_path / "f.bin")
    with pytest.raises(OSError, match="check the checkpoint directory"):
        make_uploader(oss_server, "k.bin", tmp_path / "f.bin", checkpoint_store=store).run()
    assert oss_server.request_log() == []


def test_secrets_never_reach_logs_checkpoints_or_errors(
    oss_server: LocalOssServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_file(tmp_path / "f.bin", MiB)
    store = FileCheckpointStore(tmp_path / "ckpt", BUCKET, "s.bin", tmp_path / "f.bin")
    oss_server.add_fault("UploadPart", "status", nth=2, status=500, times=50)
    with caplog.at_level(logging.DEBUG), pytest.raises(PartUploadError) as info:
        make_uploader(
            oss_server,
            "s.bin",
            tmp_path / "f.bin",
            client=make_client(oss_server, max_retries=0),
            checkpoint_store=store,
        ).run()
    secret = oss_server.access_key_secret
    record = Path(store.path).read_text()
    assert secret not in caplog.text
    assert secret not in record
    assert secret not in str(info.value) and secret not in repr(info.value.__cause__)
    assert oss_server.endpoint not in record


def test_missing_source_file_is_a_clear_error(oss_server: LocalOssServer, tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match="does not exist"):
        ResumableUploader(make_client(oss_server), BUCKET, "k", tmp_path / "missing.bin").run()
    assert oss_server.request_log() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"part_size": 1000}, "minimum part size"),
        ({"parallelism": 0}, "parallelism"),
        ({"multipart_threshold": -1}, "multipart_threshold"),
        ({"multipart_threshold": 6 * 1024**3}, "5 GiB"),
        ({"traffic_limit": 10}, "traffic_limit"),
    ],
)
def test_invalid_arguments(oss_server: LocalOssServer, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResumableUploader(make_client(oss_server), BUCKET, "k", "/x", config=TransferConfig(**kwargs))


def test_pool_size_helper_and_warning(oss_server: LocalOssServer, caplog: pytest.LogCaptureFixture) -> None:
    config = ClientConfig(
        region=oss_server.region, endpoint=oss_server.endpoint, addressing_style="path", pool_size=2
    )
    assert client_config_for_upload(config, 8).pool_size == recommended_pool_size(8) == 9
    assert client_config_for_upload(config, 1) is config
    with caplog.at_level(logging.WARNING):
        make_uploader(
            oss_server,
            "k",
            "/x",
            client=make_client(oss_server, pool_size=2),
            config=TransferConfig(parallelism=8),
        )
    assert "pool_size (2) is below the upload parallelism (8)" in caplog.text


def test_progress_is_logged_at_a_bounded_cadence(
    oss_server: LocalOssServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_file(tmp_path / "f.bin", 4 * MiB)
    logger = logging.getLogger("test.upload.cadence")
    with caplog.at_level(logging.INFO, logger=logger.name):
        make_uploader(
            oss_server, "p.bin", tmp_path / "f.bin", config=TransferConfig(part_size=100 * KiB), logger=logger
        ).run()
    progress_lines = [
        r for r in caplog.records if r.name == logger.name and r.getMessage().startswith("Upload oss://")
    ]
    assert 1 <= len(progress_lines) <= 12  # 41 parts: about one line per 10 %, not one per part


def test_parts_stored_match_the_plan(oss_server: LocalOssServer, tmp_path: Path) -> None:
    data = make_file(tmp_path / "f.bin", 1_000_000)
    make_uploader(
        oss_server, "plan.bin", tmp_path / "f.bin", config=TransferConfig(part_size=300 * KiB, parallelism=4)
    ).run()
    log = oss_server.request_log()
    assert parts_stored(log) == {1, 2, 3, 4}
    sizes = {e["part_number"]: e["bytes_received"] for e in entries(log, "UploadPart")}
    assert sizes == {1: 300 * KiB, 2: 300 * KiB, 3: 300 * KiB, 4: 1_000_000 - 900 * KiB}
    assert oss_server.object_bytes(BUCKET, "plan.bin") == data


def test_interruption_never_aborts_even_with_abort_on_failure(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 2 * MiB)
    store = MemoryCheckpointStore()

    def interrupt(event: ProgressEvent) -> None:
        if event.parts_done == 2:
            raise KeyboardInterrupt  # like Airflow's AirflowTaskTerminated / AirflowTaskTimeout (BaseException)

    with pytest.raises(KeyboardInterrupt):
        make_uploader(
            oss_server,
            "int.bin",
            tmp_path / "f.bin",
            config=TransferConfig(part_size=256 * KiB, parallelism=2),
            checkpoint_store=store,
            abort_on_failure=True,
            progress_callback=interrupt,
        ).run()
    checkpoint = store.load()
    assert checkpoint is not None
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [checkpoint.upload_id]
    assert entries(oss_server.request_log(), "AbortMultipartUpload") == []
    # and the next run resumes it
    result = make_uploader(oss_server, "int.bin", tmp_path / "f.bin", checkpoint_store=store).run()
    assert result.upload_id == checkpoint.upload_id and result.parts_reused >= 2
    assert oss_server.object_bytes(BUCKET, "int.bin") == (tmp_path / "f.bin").read_bytes()


def test_file_replaced_by_another_file_during_upload(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = make_file(path, 2 * MiB)

    def replace_file(event: ProgressEvent) -> None:
        if event.parts_done == 2:
            other = tmp_path / "other.bin"
            other.write_bytes(data)  # same bytes, but another file now has the name
            os.utime(other, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))
            os.replace(other, path)

    with pytest.raises(SourceChangedError, match="the path now names another file"):
        make_uploader(
            oss_server,
            "swap.bin",
            path,
            config=TransferConfig(part_size=256 * KiB, parallelism=2),
            checkpoint_store=MemoryCheckpointStore(),
            progress_callback=replace_file,
        ).run()
    assert entries(oss_server.request_log(), "CompleteMultipartUpload") == []
