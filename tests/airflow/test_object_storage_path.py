"""
``ObjectStoragePath("oss://...", conn_id=...)`` through the provider's registered ``oss`` filesystem,
against the local OSS server over real HTTP: read, write (single and multipart), list, glob, copy,
delete, and what a hostile world does (missing keys, a missing bucket, a failed multipart write).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from airflow_provider_oss.core.errors import OssAuthError, OssClientError, OssNotFoundError
from airflow_provider_oss.fs.filesystem import OssFileSystem
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"


def _ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


pytestmark = pytest.mark.usefixtures("fresh_object_stores")


@pytest.fixture
def root(oss_server: LocalOssServer, oss_connection_env: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(f"oss://{BUCKET}/", conn_id=oss_connection_env)


def test_scheme_is_registered_with_our_filesystem(root: Any) -> None:
    assert isinstance(root.fs, OssFileSystem)


def test_write_read_list_delete(root: Any, oss_server: LocalOssServer) -> None:
    path = root / "data" / "day=1" / "a.csv"
    path.write_text("id,v\n1,2\n")
    assert oss_server.object_bytes(BUCKET, "data/day=1/a.csv") == b"id,v\n1,2\n"
    assert _ops(oss_server, "PutObject") and not _ops(oss_server, "InitiateMultipartUpload")
    assert path.read_text() == "id,v\n1,2\n"
    assert path.exists() and path.is_file()
    (root / "data" / "b.bin").write_bytes(b"\x00\x01")
    data = root / "data"
    assert data.is_dir() and not data.is_file()
    assert sorted(p.name for p in data.iterdir()) == ["b.bin", "day=1"]
    assert [p.path for p in root.glob("data/**/*.csv")] == [f"{BUCKET}/data/day=1/a.csv"]
    assert path.stat()["size"] == 9
    path.unlink()
    assert not path.exists()
    assert oss_server.object_bytes(BUCKET, "data/b.bin") == b"\x00\x01"
    data.rmdir()  # OSS has no directories: a no-op
    (root / "new" / "dir").mkdir(parents=True)
    assert not (root / "new").exists()


def test_ranged_reads_fetch_only_the_blocks_read(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    from airflow.sdk import ObjectStoragePath

    payload = os.urandom(1024 * 1024)
    oss_server_put(oss_server, "big.bin", payload)
    path = ObjectStoragePath(f"oss://{BUCKET}/big.bin", conn_id=oss_connection_env)
    path.fs.blocksize = 128 * 1024
    oss_server.clear_request_log()
    with path.open("rb", block_size=128 * 1024, cache_type="none") as f:
        f.seek(500_000)
        assert f.read(1000) == payload[500_000:501_000]
    gets = _ops(oss_server, "GetObject")
    assert len(gets) == 1 and gets[0]["range"] == "bytes=500000-500999"
    assert path.fs.cat_file(str(path), start=-10) == payload[-10:]
    assert path.read_bytes() == payload


def test_large_write_is_a_crc_checked_multipart_upload(root: Any, oss_server: LocalOssServer) -> None:
    payload = os.urandom(700 * 1024)
    path = root / "multi.bin"
    with path.open("wb", block_size=256 * 1024) as f:
        for start in range(0, len(payload), 100_000):
            f.write(payload[start : start + 100_000])
    assert oss_server.object_bytes(BUCKET, "multi.bin") == payload
    assert len(_ops(oss_server, "UploadPart")) >= 3
    assert len(_ops(oss_server, "CompleteMultipartUpload")) == 1
    assert oss_server.list_uploads(BUCKET) == []


def test_failed_multipart_write_is_aborted(root: Any, oss_server: LocalOssServer) -> None:
    oss_server.add_fault("UploadPart", "status", status=403, nth=2, times=100)
    path = root / "broken.bin"
    with pytest.raises(OssAuthError), path.open("wb", block_size=128 * 1024) as f:
        for _ in range(6):
            f.write(os.urandom(100 * 1024))
    assert len(_ops(oss_server, "InitiateMultipartUpload")) == 1
    assert len(_ops(oss_server, "AbortMultipartUpload")) == 1
    assert oss_server.list_uploads(BUCKET) == []  # no parts left behind
    assert not path.exists()


def test_exception_inside_a_write_leaves_no_object(root: Any, oss_server: LocalOssServer) -> None:
    path = root / "half.bin"
    with pytest.raises(RuntimeError, match="producer died"), path.open("wb", block_size=128 * 1024) as f:
        f.write(os.urandom(300 * 1024))  # one part already sent
        raise RuntimeError("producer died")
    assert not path.exists()
    assert oss_server.list_uploads(BUCKET) == []
    with pytest.raises(RuntimeError), (root / "small.bin").open("wb") as f:
        f.write(b"first half")
        raise RuntimeError("producer died")
    assert not (root / "small.bin").exists()


def test_copy_is_server_side_and_rm_recursive_batches(root: Any, oss_server: LocalOssServer) -> None:
    src = root / "src.txt"
    src.write_text("copy me")
    oss_server.clear_request_log()
    src.fs.copy(str(src), f"{BUCKET}/dst/copied.txt")
    assert [e["op"] for e in oss_server.request_log()].count("CopyObject") == 1
    assert oss_server.object_bytes(BUCKET, "dst/copied.txt") == b"copy me"
    for i in range(5):
        (root / "tree" / f"{i}.txt").write_text(str(i))
    oss_server.clear_request_log()
    root.fs.rm(f"{BUCKET}/tree", recursive=True)
    assert len(_ops(oss_server, "DeleteMultipleObjects")) == 1
    assert not (root / "tree").exists()
    assert (root / "src.txt").exists()


def test_hostile_paths(root: Any, oss_server: LocalOssServer) -> None:
    from airflow.sdk import ObjectStoragePath

    missing = root / "nope.txt"
    with pytest.raises(FileNotFoundError, match=r"oss://test-bucket/nope\.txt does not exist"):
        missing.read_bytes()
    with pytest.raises((FileNotFoundError, NotADirectoryError)):
        list((root / "nope").iterdir())
    with pytest.raises(FileNotFoundError):
        root.fs.ls(f"{BUCKET}/nope")
    with pytest.raises(OssNotFoundError, match="NoSuchBucket"):
        ObjectStoragePath("oss://no-such-bucket/x", conn_id="oss_default").read_bytes()
    assert ObjectStoragePath("oss://no-such-bucket/x", conn_id="oss_default").exists() is False
    assert missing.exists() is False
    with pytest.raises(NotImplementedError, match="Appending"):
        (root / "a.txt").open("ab")
    with pytest.raises(OssClientError, match="block_size must be an int of at least 102400"):
        OssFileSystem(root.fs.client, block_size=1024)


def test_wrong_secret_fails_with_the_oss_error(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from airflow.sdk import ObjectStoragePath

    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    path = ObjectStoragePath(f"oss://{BUCKET}/k.txt", conn_id=oss_connection_env)
    with pytest.raises(OssAuthError, match="SignatureDoesNotMatch"):
        path.write_text("x")
    with pytest.raises(OssAuthError, match="SignatureDoesNotMatch"):
        path.exists()  # never "does not exist" for a wrong secret


def test_storage_options_are_checked(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    from airflow_provider_oss.fs.oss import get_fs

    assert get_fs(oss_connection_env, {"block_size": 200 * 1024}).blocksize == 200 * 1024
    with pytest.raises(ValueError, match=r"Unknown storage option\(s\) \['anon'\]"):
        get_fs(oss_connection_env, {"anon": True})


def oss_server_put(server: LocalOssServer, key: str, data: bytes) -> None:
    from airflow_provider_oss.hooks.oss import OssHook

    OssHook().load_bytes(data, key)
    assert server.stored_crc64(BUCKET, key)
