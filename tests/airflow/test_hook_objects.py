"""
OssHook's S3Hook-shaped object methods against the local OSS server over real HTTP: what lands on
the server, oss:// URLs, globs, pagination, batching, and the bad inputs and hostile answers.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from typing import Any

import pytest

from airflow_provider_oss.core.bulk_delete import OssDeleteError
from airflow_provider_oss.core.errors import OssClientError, OssNotFoundError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.rewriting_proxy import rewriting_proxy

BUCKET = "test-bucket"
OTHER = "other-bucket"


@pytest.fixture
def hook(oss_server: LocalOssServer, oss_connection_env: str) -> OssHook:
    oss_server.create_bucket(OTHER)
    return OssHook(oss_connection_env)


def _ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


def _put_many(hook: OssHook, keys: list[str]) -> None:
    for key in keys:
        hook.load_bytes(key.encode(), key)


def test_load_and_read_text_and_bytes(hook: OssHook, oss_server: LocalOssServer) -> None:
    hook.load_string("héllo", "t/a.txt", options=ObjectOptions(metadata={"owner": "etl"}))
    assert oss_server.object_bytes(BUCKET, "t/a.txt") == "héllo".encode()
    assert hook.read_key("t/a.txt") == "héllo"
    assert hook.read_key("t/a.txt", encoding="latin-1") == "héllo".encode().decode("latin-1")
    hook.load_bytes(b"\xff\x00", "oss://test-bucket/t/b.bin")
    assert hook.read_bytes("t/b.bin") == b"\xff\x00"
    with pytest.raises(UnicodeDecodeError):
        hook.read_key("t/b.bin")
    info = hook.get_key("oss://test-bucket/t/a.txt")
    assert (info.size, info.metadata) == (6, {"owner": "etl"})
    with pytest.raises(OssNotFoundError):
        hook.get_key("t/missing")


def test_replace_false_is_atomic_and_keeps_the_object(hook: OssHook, oss_server: LocalOssServer) -> None:
    hook.load_string("first", "r/k")
    with pytest.raises(OssClientError, match=r"oss://test-bucket/r/k already exists and replace=False"):
        hook.load_string("second", "r/k", replace=False)
    assert oss_server.object_bytes(BUCKET, "r/k") == b"first"
    # The refusal was OSS's own (x-oss-forbid-overwrite), not a racy check-then-write.
    assert _ops(oss_server, "HeadObject") == []
    hook.load_string("new", "r/new", replace=False)
    hook.load_string("second", "r/k", replace=True)
    assert oss_server.object_bytes(BUCKET, "r/k") == b"second"


def test_url_bucket_conflicting_with_bucket_name_is_refused(hook: OssHook) -> None:
    with pytest.raises(OssClientError, match="names bucket 'test-bucket' but bucket_name='other-bucket'"):
        hook.read_bytes("oss://test-bucket/x", bucket_name=OTHER)
    with pytest.raises(OssClientError, match="has a '\\?' or '#'"):
        hook.read_bytes("oss://test-bucket/x?versionId=1")
    with pytest.raises(OssClientError, match="names no bucket"):
        hook.read_bytes("oss:///x")


def test_list_keys_prefix_delimiter_start_after_glob(hook: OssHook) -> None:
    keys = ["d/a.csv", "d/b.txt", "d/sub/c.csv", "d/sub/deep/e.csv", "e/x.csv"]
    _put_many(hook, keys)
    assert hook.list_keys("d/") == keys[:4]
    assert hook.list_keys("oss://test-bucket/d/", delimiter="/") == ["d/a.csv", "d/b.txt"]
    assert hook.list_keys("d/", start_after="d/b.txt") == ["d/sub/c.csv", "d/sub/deep/e.csv"]
    assert hook.list_keys(match_glob="d/*.csv") == ["d/a.csv"]
    assert hook.list_keys(match_glob="d/**/*.csv") == ["d/a.csv", "d/sub/c.csv", "d/sub/deep/e.csv"]
    assert hook.list_keys(match_glob="**/x.csv") == ["e/x.csv"]
    assert hook.list_keys("nothing/") == []
    assert [o.size for o in hook.list_objects("d/sub/")] == [len("d/sub/c.csv"), len("d/sub/deep/e.csv")]
    assert hook.list_prefixes("d/") == ["d/sub/"]
    assert hook.list_prefixes() == ["d/", "e/"]
    with pytest.raises(OssClientError, match="unclosed"):
        hook.list_keys(match_glob="d/[a.csv")
    with pytest.raises(OssClientError, match="non-empty pattern"):
        hook.list_keys(match_glob="")


def test_list_keys_pages_past_1000(hook: OssHook, oss_server: LocalOssServer) -> None:
    client = hook.get_client()
    keys = [f"many/{i:05d}" for i in range(1203)]
    for key in keys:
        client.put_object(BUCKET, key, b"")
    oss_server.clear_request_log()
    assert hook.list_keys("many/") == keys
    assert len(_ops(oss_server, "ListObjectsV2")) == 2


def test_check_for_prefix(hook: OssHook) -> None:
    hook.load_string("x", "logs/2026/a.log")
    assert hook.check_for_prefix("logs") is True
    assert hook.check_for_prefix("logs/2026/") is True
    assert hook.check_for_prefix("log") is False  # "log/" is not the folder "logs/"
    assert hook.check_for_prefix("oss://test-bucket/logs/2027") is False


def test_copy_object_same_and_other_bucket(hook: OssHook, oss_server: LocalOssServer) -> None:
    hook.load_string("payload", "src/k.txt", options=ObjectOptions(metadata={"a": "1"}))
    oss_server.clear_request_log()
    hook.copy_object("src/k.txt", "dst/k.txt")
    hook.copy_object("oss://test-bucket/src/k.txt", "oss://other-bucket/copied.txt")
    hook.copy_object(
        "src/k.txt", "copy2.txt", dest_bucket_name=OTHER, options=ObjectOptions(metadata={"b": "2"})
    )
    # Server-side: three CopyObject requests, no object bytes through the worker.
    assert [e["op"] for e in oss_server.request_log()] == ["CopyObject"] * 3
    assert oss_server.object_bytes(BUCKET, "dst/k.txt") == b"payload"
    assert oss_server.object_bytes(OTHER, "copied.txt") == b"payload"
    assert hook.get_key("copied.txt", OTHER).metadata == {"a": "1"}
    assert hook.get_key("copy2.txt", OTHER).metadata == {"b": "2"}
    with pytest.raises(OssNotFoundError):
        hook.copy_object("src/missing", "dst/x")


def test_delete_objects_in_batches_of_1000(hook: OssHook, oss_server: LocalOssServer) -> None:
    client = hook.get_client()
    keys = [f"del/{i:05d}" for i in range(2345)]
    for key in keys:
        client.put_object(BUCKET, key, b"")
    client.put_object(BUCKET, "keep/me", b"k")
    oss_server.clear_request_log()
    deleted = hook.delete_objects(hook.list_keys("del/"))
    assert deleted == keys
    assert len(_ops(oss_server, "DeleteMultipleObjects")) == 3
    assert hook.list_keys("del/") == []
    assert hook.list_keys() == ["keep/me"]
    # One key as a string; a missing key counts as deleted (OSS semantics).
    assert hook.delete_objects("keep/me") == ["keep/me"]
    assert hook.delete_objects(["never/was"]) == ["never/was"]
    assert hook.delete_objects([]) == []
    with pytest.raises(OssClientError, match=r"batch_size must be an integer in 1..1000"):
        hook.delete_objects(["a"], batch_size=1001)


def test_delete_objects_reports_keys_oss_did_not_delete(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer that omits a key, or lists it under <Error>, is a failure naming that key."""

    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if method != "POST" or "delete" not in path:
            return body
        text = body.decode()
        text = re.sub(r"<Deleted><Key>gone(/|%2F)b</Key></Deleted>", "", text)
        return re.sub(
            r"<Deleted><Key>(gone(/|%2F)c)</Key></Deleted>",
            r"<Error><Key>\1</Key><Code>AccessDenied</Code><Message>locked</Message></Error>",
            text,
        ).encode()

    with rewriting_proxy(oss_server.endpoint, rewrite) as endpoint:
        conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
        conn["extra"]["endpoint"] = endpoint
        monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
        hook = OssHook()
        _put_many(hook, ["gone/a", "gone/b", "gone/c", "gone/d"])
        with pytest.raises(OssDeleteError) as caught:
            hook.delete_objects(["gone/a", "gone/b", "gone/c", "gone/d"], batch_size=2)
    err = caught.value
    assert "OSS did not delete 2 of 4 key(s) in bucket 'test-bucket'" in str(err)
    assert "'gone/b' (NotConfirmed" in str(err) and "'gone/c' (AccessDenied: locked)" in str(err)
    assert [f.key for f in err.failed] == ["gone/b", "gone/c"]
    assert err.deleted == ["gone/a", "gone/d"]  # the second batch ran despite the first's failure
    assert pickle.loads(pickle.dumps(err)).failed == err.failed  # noqa: S301 - our own bytes


def test_delete_objects_with_xml_special_and_unicode_keys(hook: OssHook, oss_server: LocalOssServer) -> None:
    """Keys that XML must escape, or that are not ASCII, are deleted exactly (no neighbour touched)."""
    keys = ["x/a&b.txt", "x/<tag>.txt", "x/quote'\"s.txt", "x/中文 文件.txt", "x/100%.txt", "x/sp ace+plus"]
    _put_many(hook, [*keys, "x/a"])
    assert hook.delete_objects(keys) == keys
    assert hook.list_keys("x/") == ["x/a"]
