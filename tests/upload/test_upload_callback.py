"""
The upload engine with OSS's upload callback: the answer lands in the result, and however a run ends
(completed, 203, an answer lost, a retry of a completed upload) one object fires the callback once.
The loopback callback server counts the POSTs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.errors import CallbackFailedError, OssConnectionError
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, ResumableUploader, TransferConfig
from tests.callback_support import CallbackServer, callback_server
from tests.upload_support import BUCKET, KiB, entries, make_client, make_file

CONFIG = TransferConfig(part_size=100 * KiB, parallelism=2)


def _callback(cb: CallbackServer) -> UploadCallback:
    return UploadCallback(url=cb.url, body="object=${object}&size=${size}&crc64=${crc64}")


def _uploader(
    server: LocalOssServer,
    path: Path,
    key: str,
    cb: CallbackServer,
    store: MemoryCheckpointStore,
    **client: Any,
) -> ResumableUploader:
    return ResumableUploader(
        make_client(server, **client),
        BUCKET,
        key,
        path,
        config=CONFIG,
        checkpoint_store=store,
        callback=_callback(cb),
    )


def test_a_small_file_goes_up_as_one_part_so_a_lost_answer_never_fires_twice(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "small.bin", 10 * KiB)  # below multipart_threshold
    store = MemoryCheckpointStore()
    with callback_server(answer=b'{"ok": true, "rows": 3}') as cb:
        result = _uploader(oss_server, tmp_path / "small.bin", "small.bin", cb, store).run()
        assert result.callback_response == {"ok": True, "rows": 3} and cb.count == 1
        assert result.to_dict()["callback_response"] == {"ok": True, "rows": 3}
        # A multipart upload of one part, not a PutObject: repeating it cannot store and fire again.
        assert result.upload_id is not None and result.parts_total == 1
        assert entries(oss_server.request_log(), "PutObject") == []
        # The same with the Complete answer lost: the client's retry meets NoSuchUpload, proves the object.
        oss_server.add_fault("CompleteMultipartUpload", "drop_answer")
        again = _uploader(oss_server, tmp_path / "small.bin", "other.bin", cb, MemoryCheckpointStore()).run()
    assert again.callback_response is None and cb.count == 2  # one per object
    assert (
        oss_server.object_bytes(BUCKET, "small.bin") == oss_server.object_bytes(BUCKET, "other.bin") == data
    )


def test_an_empty_file_goes_up_in_one_putobject_with_its_callback(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    with callback_server(answer=b'{"ok": true}') as cb:
        result = _uploader(oss_server, tmp_path / "empty.bin", "empty.bin", cb, MemoryCheckpointStore()).run()
    assert result.upload_id is None and result.callback_response == {"ok": True} and cb.count == 1
    assert cb.posts[0]["body"] == b"object=empty.bin&size=0&crc64=0"


def test_a_retry_of_a_completed_upload_sends_nothing_and_fires_nothing(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    data = make_file(path, 350 * KiB)
    store = MemoryCheckpointStore()
    with callback_server() as cb:
        first = _uploader(oss_server, path, "big.bin", cb, store).run()
        assert first.callback_response == {"Status": "OK"} and cb.count == 1
        body = cb.posts[0]["body"]
        assert body == f"object=big.bin&size={len(data)}&crc64={crc64(data)}".encode()
        # A retried task whose checkpoint says completed: nothing is sent, so nothing is fired.
        again = _uploader(oss_server, path, "big.bin", cb, store).run()
    assert again.already_complete and again.callback_response is None
    assert cb.count == 1
    assert len(entries(oss_server.request_log(), "CompleteMultipartUpload")) == 1


def test_a_try_killed_by_a_lost_complete_answer_leaves_a_retry_that_fires_nothing(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    data = make_file(path, 350 * KiB)
    store = MemoryCheckpointStore()
    with callback_server() as cb:
        oss_server.add_fault("CompleteMultipartUpload", "drop_answer")
        with pytest.raises(OssConnectionError):  # no client retries: the try fails with the upload completed
            _uploader(oss_server, path, "big.bin", cb, store, max_retries=0).run()
        assert cb.count == 1
        retry = _uploader(oss_server, path, "big.bin", cb, store).run()
    assert retry.already_complete and retry.parts_sent == 0
    assert cb.count == 1  # the retry found the object complete and sent no second Complete
    assert len(entries(oss_server.request_log(), "CompleteMultipartUpload")) == 1
    assert oss_server.object_bytes(BUCKET, "big.bin") == data


def test_a_203_marks_the_upload_completed_so_a_retry_never_fires_again(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    data = make_file(path, 350 * KiB)
    store = MemoryCheckpointStore()
    with callback_server(status=502) as cb:
        with pytest.raises(CallbackFailedError, match="the object IS stored") as caught:
            _uploader(oss_server, path, "big.bin", cb, store).run()
        assert caught.value.crc64 == crc64(data) and cb.count == 1
        checkpoint = store.load()
        assert checkpoint is not None and checkpoint.completed is not None
        assert checkpoint.completed.crc64 == crc64(data)
        cb.status = 200  # the callback server is fixed: a retry still does not fire it again
        retry = _uploader(oss_server, path, "big.bin", cb, store).run()
    assert retry.already_complete and cb.count == 1
    assert oss_server.object_bytes(BUCKET, "big.bin") == data
