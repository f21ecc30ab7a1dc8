"""
Every ``OssFileSystem`` method raises Python's errors for OSS's (``fs/errors.py``'s one table), as
fsspec and code written for it expect, while keeping OSS's code and request ID; and the exclusive
writes (``pipe_file(mode="create")``, ``open(path, "xb")``) never overwrite an object.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import OssAuthError, OssNotFoundError, OssPreconditionError
from airflow_provider_oss.fs.errors import OssFileNotFoundError
from airflow_provider_oss.fs.filesystem import OssFileSystem
from airflow_provider_oss.testing import LocalOssServer
from tests.upload_support import make_client

BUCKET = "test-bucket"


def _ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


@pytest.fixture
def fs(oss_client: OssClient) -> OssFileSystem:
    return OssFileSystem(oss_client, block_size=128 * 1024)


def test_missing_key_is_file_not_found_and_keeps_oss_details(fs: OssFileSystem) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        fs.cat_file(f"{BUCKET}/missing.txt")
    assert isinstance(caught.value, OssNotFoundError)
    assert caught.value.code == "NoSuchKey" and caught.value.request_id
    assert "oss://test-bucket/missing.txt" in str(caught.value)
    with pytest.raises(FileNotFoundError):
        fs.info("no-such-bucket/x")
    with pytest.raises(FileNotFoundError):
        fs.cp_file(f"{BUCKET}/missing.txt", f"{BUCKET}/copy.txt")
    assert fs.exists("no-such-bucket/x") is False


def test_translated_error_survives_pickling(fs: OssFileSystem) -> None:
    with pytest.raises(OssFileNotFoundError) as caught:
        fs.cat_file(f"{BUCKET}/missing.txt")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301  # our own bytes
    assert type(copy) is OssFileNotFoundError
    assert (copy.code, copy.request_id, str(copy)) == (
        caught.value.code,
        caught.value.request_id,
        str(caught.value),
    )


def test_wrong_secret_is_permission_error(oss_server: LocalOssServer, fs: OssFileSystem) -> None:
    wrong = Credentials(oss_server.credentials.access_key_id, "not-the-secret")
    with make_client(oss_server, credentials=wrong) as client:
        wrong_fs = OssFileSystem(client)
        with pytest.raises(PermissionError) as caught:
            wrong_fs.pipe_file(f"{BUCKET}/k.txt", b"x")
        assert isinstance(caught.value, OssAuthError) and caught.value.code == "SignatureDoesNotMatch"
        with pytest.raises(PermissionError):
            wrong_fs.exists(f"{BUCKET}/k.txt")  # never "does not exist" for a wrong secret
    assert fs.exists(f"{BUCKET}/k.txt") is False  # nothing was written


def test_recursive_copy_skips_directory_entries(fs: OssFileSystem, oss_server: LocalOssServer) -> None:
    fs.pipe({f"{BUCKET}/src/a.txt": b"a", f"{BUCKET}/src/sub/b.txt": b"b", f"{BUCKET}/src/sub/": b""})
    fs.copy(f"{BUCKET}/src", f"{BUCKET}/dst", recursive=True)
    assert oss_server.object_bytes(BUCKET, "dst/a.txt") == b"a"
    assert oss_server.object_bytes(BUCKET, "dst/sub/b.txt") == b"b"
    with pytest.raises(FileNotFoundError):
        fs.copy(f"{BUCKET}/src", f"{BUCKET}/dst2", recursive=True, on_error="raise")


def test_pipe_create_refuses_an_existing_object(fs: OssFileSystem, oss_server: LocalOssServer) -> None:
    fs.pipe_file(f"{BUCKET}/k.txt", b"first")
    with pytest.raises(FileExistsError) as caught:
        fs.pipe_file(f"{BUCKET}/k.txt", b"second", mode="create")
    assert isinstance(caught.value, OssPreconditionError) and caught.value.code == "FileAlreadyExists"
    assert oss_server.object_bytes(BUCKET, "k.txt") == b"first"
    fs.pipe_file(f"{BUCKET}/new.txt", b"new", mode="create")
    assert oss_server.object_bytes(BUCKET, "new.txt") == b"new"
    with pytest.raises(ValueError, match="'overwrite' or 'create'"):
        fs.pipe_file(f"{BUCKET}/k.txt", b"x", mode="append")


def test_open_xb_refuses_an_existing_object_at_open(fs: OssFileSystem, oss_server: LocalOssServer) -> None:
    fs.pipe_file(f"{BUCKET}/k.txt", b"first")
    oss_server.clear_request_log()
    with pytest.raises(FileExistsError, match=r"oss://test-bucket/k\.txt already exists"):
        fs.open(f"{BUCKET}/k.txt", "xb")
    assert not _ops(oss_server, "PutObject")
    assert oss_server.object_bytes(BUCKET, "k.txt") == b"first"
    with fs.open(f"{BUCKET}/fresh.txt", "xb") as f:
        f.write(b"fresh")
    assert oss_server.object_bytes(BUCKET, "fresh.txt") == b"fresh"


@pytest.mark.parametrize("size", [1000, 300 * 1024], ids=["single-put", "multipart"])
def test_open_xb_never_overwrites_a_second_writer(
    fs: OssFileSystem, oss_server: LocalOssServer, size: int
) -> None:
    """Another writer creates the object between open and close: OSS refuses the commit atomically."""
    path = f"{BUCKET}/race.bin"
    f = fs.open(path, "xb")
    f.write(os.urandom(size))
    fs.pipe_file(path, b"the other writer")
    with pytest.raises(FileExistsError):
        f.close()
    assert oss_server.object_bytes(BUCKET, "race.bin") == b"the other writer"
    assert oss_server.list_uploads(BUCKET) == []  # a refused multipart upload is aborted
