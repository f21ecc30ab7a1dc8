"""
OssDeleteObjectsOperator and OssListOperator against the local OSS server: what is left on the
server, dry runs, batching, and the bad inputs refused when the DAG is parsed.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oss.core.errors import OssAuthError, OssClientError
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.delete import OssDeleteObjectsOperator
from airflow_provider_oss.operators.list import OssListOperator
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"


def _delete(**kwargs: Any) -> OssDeleteObjectsOperator:
    return OssDeleteObjectsOperator(task_id="delete", **kwargs)


def _list(**kwargs: Any) -> OssListOperator:
    return OssListOperator(task_id="list", **kwargs)


@pytest.fixture
def hook(oss_server: LocalOssServer, oss_connection_env: str) -> OssHook:
    hook = OssHook(oss_connection_env)
    for key in ["in/a.csv", "in/b.csv", "in/sub/c.csv", "in/notes.txt", "keep/x"]:
        hook.load_string(key, key)
    return hook


def _ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give exactly one of keys .* and prefix"),
        ({"keys": ["a"], "prefix": "p/"}, "give exactly one of keys .* and prefix"),
        ({"prefix": ""}, "would delete every object in the bucket; pass delete_whole_bucket=True"),
        ({"prefix": "oss://test-bucket/"}, "would delete every object in the bucket"),
        ({"keys": ""}, "keys='' names no object"),
        ({"keys": ["a", ""]}, r"every key must be a non-empty string; got \[''\]"),
        ({"keys": 5}, "keys must be a key or a list of keys"),
        ({"keys": ["a"], "match_glob": "*.csv"}, "match_glob filters a prefix listing"),
        ({"prefix": "p/", "batch_size": 1001}, "batch_size must be an int from 1 to 1000"),
        ({"prefix": "p/", "batch_size": 0}, "batch_size must be an int from 1 to 1000"),
        ({"prefix": "p/", "match_glob": "p/[x"}, "unclosed"),
        ({"prefix": "p/", "dry_run": "yes"}, "dry_run and delete_whole_bucket must be True or False"),
    ],
)
def test_delete_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _delete(**kwargs)


def test_delete_templated_prefix_is_checked_after_rendering(hook: OssHook) -> None:
    op = _delete(prefix="{{ params.p }}")  # unknown until rendered: accepted at parse time
    op.prefix = ""
    with pytest.raises(ValueError, match="would delete every object"):
        op.execute({})
    assert len(hook.list_keys()) == 5


def test_delete_dry_run_counts_and_deletes_nothing(hook: OssHook, oss_server: LocalOssServer) -> None:
    oss_server.clear_request_log()
    result = _delete(prefix="in/", match_glob="in/*.csv", dry_run=True).execute({})
    assert result == {"bucket": BUCKET, "count": 2, "dry_run": True}
    assert _ops(oss_server, "DeleteMultipleObjects") == []
    assert len(hook.list_keys()) == 5


def test_delete_prefix_with_glob(hook: OssHook) -> None:
    result = _delete(prefix="in/", match_glob="in/**/*.csv").execute({})
    assert result == {"bucket": BUCKET, "count": 3, "dry_run": False}
    assert hook.list_keys() == ["in/notes.txt", "keep/x"]


def test_delete_one_key_a_list_and_urls(hook: OssHook) -> None:
    assert _delete(keys="in/a.csv").execute({})["count"] == 1
    assert _delete(keys=["oss://test-bucket/in/b.csv", "in/notes.txt"]).execute({})["count"] == 2
    assert hook.list_keys() == ["in/sub/c.csv", "keep/x"]
    assert _delete(keys=[]).execute({})["count"] == 0  # an empty upstream list
    with pytest.raises(OssClientError, match="names bucket 'test-bucket' but bucket_name='other'"):
        _delete(keys=["oss://test-bucket/keep/x"], bucket_name="other").execute({})
    assert hook.list_keys() == ["in/sub/c.csv", "keep/x"]


def test_delete_whole_bucket_in_batches(hook: OssHook, oss_server: LocalOssServer) -> None:
    client = hook.get_client()
    for i in range(1500):
        client.put_object(BUCKET, f"bulk/{i:04d}", b"")
    oss_server.clear_request_log()
    result = _delete(prefix="", delete_whole_bucket=True).execute({})
    assert result["count"] == 1505
    assert len(_ops(oss_server, "DeleteMultipleObjects")) == 2
    # Streamed: the first 1,000 keys were deleted before the second page was listed.
    ops = [e["op"] for e in oss_server.request_log() if e["op"] in ("ListObjectsV2", "DeleteMultipleObjects")]
    assert ops == ["ListObjectsV2", "DeleteMultipleObjects", "ListObjectsV2", "DeleteMultipleObjects"]
    assert hook.list_keys() == []


def test_delete_with_a_wrong_secret_fails(
    hook: OssHook, oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    with pytest.raises(OssAuthError):
        _delete(keys=["in/a.csv"]).execute({})
    assert oss_server.object_bytes(BUCKET, "in/a.csv") == b"in/a.csv"


def test_list_operator_returns_keys_for_mapping(hook: OssHook) -> None:
    assert _list(prefix="in/").execute({}) == ["in/a.csv", "in/b.csv", "in/notes.txt", "in/sub/c.csv"]
    assert _list(prefix="in/", delimiter="/").execute({}) == ["in/a.csv", "in/b.csv", "in/notes.txt"]
    assert _list(match_glob="**/*.csv").execute({}) == ["in/a.csv", "in/b.csv", "in/sub/c.csv"]
    assert _list(prefix="oss://test-bucket/keep/", return_urls=True).execute({}) == [
        "oss://test-bucket/keep/x"
    ]
    assert _list(prefix="nothing/").execute({}) == []
    with pytest.raises(ValueError, match="5 keys match under oss://test-bucket/, more than max_keys=4"):
        _list(max_keys=4).execute({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": None}, "prefix must be a string"),
        ({"delimiter": 1}, "delimiter must be a string"),
        ({"match_glob": ""}, "non-empty pattern"),
        ({"max_keys": -1}, "max_keys must be a non-negative int"),
        ({"return_urls": "no"}, "return_urls must be True or False"),
    ],
)
def test_list_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _list(**kwargs)


def test_templated_fields() -> None:
    assert set(_delete(prefix="p/").template_fields) == {
        "keys",
        "prefix",
        "bucket_name",
        "match_glob",
        "version_id",
    }
    assert {"prefix", "bucket_name", "match_glob"} <= set(_list().template_fields)
