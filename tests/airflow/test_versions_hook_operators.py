"""
Object versions through the hook and the operators, against the local server with versioning
enabled: ``version_id`` on reads, downloads (every ranged GET of that version) and deletes,
``source_version_id`` on copies (single CopyObject and UploadPartCopy), and bad arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_oss.copy.errors import CopySourceMissingError
from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.copy import OssCopyObjectOperator
from airflow_provider_oss.operators.delete import OssDeleteObjectsOperator
from airflow_provider_oss.operators.download import OssDownloadOperator
from airflow_provider_oss.testing import LocalOssServer

B = "test-bucket"
PART = 100 * 1024


@pytest.fixture
def hook(oss_server: LocalOssServer, oss_connection_env: str) -> OssHook:
    hook = OssHook(oss_connection_env)
    hook.get_client().put_bucket_versioning(B, "Enabled")
    return hook


def _versions(hook: OssHook, key: str) -> list[str]:
    """The version ids of ``key``, newest first."""
    return [v.version_id for v in hook.get_client().list_object_versions(B, prefix=key) if v.key == key]


def test_hook_reads_heads_and_deletes_a_named_version(hook: OssHook, oss_server: LocalOssServer) -> None:
    hook.load_bytes(b"first", "k")
    hook.load_bytes(b"second!", "k")
    newest, oldest = _versions(hook, "k")
    assert hook.read_bytes("k", version_id=oldest) == b"first"
    assert hook.read_bytes("oss://test-bucket/k") == b"second!"
    assert hook.head_object("k", version_id=oldest).size == 5
    with pytest.raises(OssNotFoundError) as missing:
        hook.read_bytes("k", version_id="CAEQMTIzNDU2")
    assert missing.value.code == "NoSuchVersion"
    hook.delete_object("k", version_id=newest)  # for good: the older version is current again
    assert oss_server.object_bytes(B, "k") == b"first"
    assert _versions(hook, "k") == [oldest]


@pytest.mark.parametrize("size", [10, 3 * PART + 7])  # one GET; ranged GETs
def test_download_operator_fetches_the_named_version(
    hook: OssHook, oss_server: LocalOssServer, tmp_path: Path, size: int
) -> None:
    old = os.urandom(size)
    hook.load_bytes(old, "big")
    hook.load_bytes(os.urandom(size), "big")  # same size, other bytes: a GET without versionId differs
    oldest = _versions(hook, "big")[-1]
    target = tmp_path / "old.bin"
    result = OssDownloadOperator(
        task_id="get",
        key="big",
        local_path=str(target),
        version_id=oldest,
        part_size=PART,
        multipart_threshold=PART,
        checkpoint="discover",
    ).execute({})
    assert target.read_bytes() == old and result["size"] == size
    gets = [e for e in oss_server.request_log() if e["op"] == "GetObject"]
    assert all(e["status"] in (200, 206) for e in gets) and len(gets) == (1 if size < PART else 4)


@pytest.mark.parametrize("size", [10, 3 * PART + 7])  # CopyObject; UploadPartCopy
def test_copy_operator_copies_the_source_version(
    hook: OssHook, oss_server: LocalOssServer, tmp_path: Path, size: int
) -> None:
    old = os.urandom(size)
    hook.load_bytes(old, "src")
    hook.load_bytes(b"newer", "src")
    oldest = _versions(hook, "src")[-1]
    result = OssCopyObjectOperator(
        task_id="copy",
        source_key="src",
        dest_key="dst",
        source_version_id=oldest,
        part_size=PART,
        multipart_threshold=PART,
        checkpoint="file",
        checkpoint_dir=str(tmp_path),
    ).execute({})
    assert oss_server.object_bytes(B, "dst") == old
    assert result["method"] == ("CopyObject" if size < PART else "UploadPartCopy")
    with pytest.raises(CopySourceMissingError, match="version 'CAEQNzc3'"):
        hook.resumable_copy("src", "dst", source_version_id="CAEQNzc3")
    assert hook.copy_object("src", "again", source_version_id=oldest).etag
    assert oss_server.object_bytes(B, "again") == old


def test_restoring_an_earlier_version_onto_its_own_key(hook: OssHook, oss_server: LocalOssServer) -> None:
    hook.load_bytes(b"good", "cfg")
    hook.load_bytes(b"broken", "cfg")
    good = _versions(hook, "cfg")[-1]
    hook.resumable_copy("cfg", "cfg", source_version_id=good)
    assert oss_server.object_bytes(B, "cfg") == b"good"
    assert len(_versions(hook, "cfg")) == 3


def test_delete_operator_deletes_one_version_for_good(hook: OssHook, oss_server: LocalOssServer) -> None:
    hook.load_bytes(b"v1", "d")
    hook.load_bytes(b"v2", "d")
    newest, oldest = _versions(hook, "d")
    result = OssDeleteObjectsOperator(task_id="del", keys="d", version_id=newest).execute({})
    assert result == {"bucket": B, "count": 1, "dry_run": False}
    assert _versions(hook, "d") == [oldest] and oss_server.object_bytes(B, "d") == b"v1"
    OssDeleteObjectsOperator(task_id="del", keys="d").execute({})  # no version: a delete marker
    entries = list(hook.get_client().list_object_versions(B, prefix="d"))
    assert [(e.delete_marker, e.version_id == oldest) for e in entries] == [(True, False), (False, True)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keys": ["a", "b"], "version_id": "v"}, "version_id names a version of one object"),
        ({"prefix": "p/", "version_id": "v"}, "version_id names a version of one object"),
        ({"keys": "a", "version_id": ""}, "version_id must be a non-empty string"),
    ],
)
def test_delete_operator_refuses_version_id_without_one_key(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OssDeleteObjectsOperator(task_id="t", **kwargs)  # type: ignore[arg-type]


def test_download_and_copy_operators_refuse_a_non_string_version() -> None:
    with pytest.raises(ValueError, match="version_id must be a string or None"):
        OssDownloadOperator(task_id="t", key="k", local_path="/tmp/x", version_id=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="source_version_id must be a string or None"):
        OssCopyObjectOperator(task_id="t", source_key="a", dest_key="b", source_version_id=3)  # type: ignore[arg-type]
