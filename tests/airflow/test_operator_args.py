"""ResumableUploadOperator validates its arguments when the DAG is parsed, with messages that name the fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.upload.stores import FileCheckpointStore, KeyValueCheckpointStore


def _op(**kwargs: Any) -> ResumableUploadOperator:
    base: dict[str, Any] = {"task_id": "t", "filename": "/data/f.bin", "bucket": "b", "key": "k"}
    base.update(kwargs)
    return ResumableUploadOperator(**base)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"part_size": 1024}, r"part_size must be an int from 102400 \(100 KiB\)"),
        ({"part_size": 6 * 1024**3}, "to 5368709120 \\(5 GiB\\)"),
        ({"parallelism": 0}, "parallelism must be an int from 1 to 64"),
        ({"parallelism": 100}, "parallelism must be an int from 1 to 64"),
        ({"checkpoint": "xcom"}, "checkpoint must be one of"),
        ({"checkpoint": "file"}, "checkpoint='file' needs checkpoint_dir"),
        ({"storage_class": "Cold"}, "storage_class must be one of"),
        ({"acl": "public"}, "acl must be one of"),
        ({"multipart_threshold": -1}, "multipart_threshold must be a non-negative int"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _op(**kwargs)


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ResumableUploadOperator("/data/f.bin", "k", task_id="t")  # type: ignore[call-arg]  # what the test checks


def test_templated_fields_and_object_options() -> None:
    op = _op(content_type="text/csv", metadata={"owner": "etl"}, storage_class="IA", acl="private")
    assert {"filename", "bucket", "key"} <= set(op.template_fields)
    headers = op.object_options().to_headers()
    assert headers["Content-Type"] == "text/csv"
    assert headers["x-oss-meta-owner"] == "etl"
    assert headers["x-oss-storage-class"] == "IA"
    assert headers["x-oss-object-acl"] == "private"


class _FakeStateStore:
    """Stands in for context["task_state_store"] (only its presence matters here)."""

    def get(self, key: str, default: object = None) -> object:
        return default

    def set(self, key: str, value: object, **kwargs: object) -> None:
        raise AssertionError("not called")

    def delete(self, key: str) -> None:
        raise AssertionError("not called")


def _client() -> OssClient:
    return OssClient(Credentials("ak", "sk"), ClientConfig(region="cn-hangzhou"))


def test_auto_checkpoint_uses_task_state_store_when_airflow_has_it(tmp_path: Path) -> None:
    store = _op(checkpoint_dir=str(tmp_path)).checkpoint_store(
        {"task_state_store": _FakeStateStore()},  # type: ignore[typeddict-item]  # a fake with the calls used
        "b",
        _client(),
    )
    assert isinstance(store, KeyValueCheckpointStore)


def test_auto_checkpoint_on_airflow_before_3_3(tmp_path: Path) -> None:
    """Airflow 3.0-3.2 give no task_state_store: a shared checkpoint_dir if set, else OSS's own upload list."""
    with_dir = _op(checkpoint_dir=str(tmp_path)).checkpoint_store({}, "b", _client())
    assert isinstance(with_dir, FileCheckpointStore)
    assert os.path.dirname(with_dir.path) == str(tmp_path)
    without = _op().checkpoint_store({}, "b", _client())
    assert isinstance(without, UploadDiscoveryStore)
    assert (without.bucket, without.key) == ("b", "k")


def test_state_store_mode_without_task_state_store_names_the_fix() -> None:
    with pytest.raises(ValueError, match=r"needs Airflow 3.3\+ .*Use checkpoint='file' with checkpoint_dir"):
        _op(checkpoint="state_store").checkpoint_store({}, "b", _client())


# Issue 11: arguments that are wrong fail when the DAG is parsed, each naming the argument and the fix.
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": ""}, r"key must be a non-empty string; it is ''\. Give the destination object key"),
        ({"key": "   "}, r"key must be a non-empty string"),
        ({"filename": ""}, r"filename must be a non-empty string; it is ''\. Give the local file"),
        (
            {"multipart_threshold": 5 * 1024**3 + 1},
            r"multipart_threshold must be .* at most 5368709120 bytes \(5 GiB",
        ),
        ({"traffic_limit": 819199}, r"traffic_limit must be an integer number of bit/s from 819200"),
        ({"traffic_limit": 838860801}, r"to 838860800 \(100 MB/s\); got 838860801"),
        ({"traffic_limit": "fast"}, r"traffic_limit must be an integer number of bit/s"),
        ({"server_side_encryption": "DES"}, r"server_side_encryption must be one of AES256, KMS, SM4"),
        ({"sse_kms_key_id": "k"}, r"sse_kms_key_id needs server_side_encryption='KMS'"),
        ({"metadata": {"bad name": "x"}}, r"Invalid metadata name 'bad name'"),
        ({"verify_reused_parts": "yes"}, r"verify_reused_parts must be True or False"),
    ],
)
def test_wrong_arguments_fail_at_dag_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        _op(**kwargs)
    assert str(info.value).startswith("ResumableUploadOperator(task_id='t'): ")


def test_operator_builds_one_transfer_config() -> None:
    op = _op(part_size=1024 * 1024, parallelism=3, multipart_threshold=0, traffic_limit=819200)
    assert op.transfer_config == TransferConfig(
        part_size=1024 * 1024, parallelism=3, multipart_threshold=0, traffic_limit=819200
    )
    assert op.object_options().traffic_limit is None  # the cap travels in the transfer config only


class _Ti:
    try_number = 1
    max_tries = 0


@pytest.mark.parametrize(
    ("templated", "rendered", "message"),
    [
        ({"key": "{{ params.key }}"}, {"key": ""}, r"key must be a non-empty string; it rendered to ''"),
        (
            {"filename": "{{ params.f }}"},
            {"filename": " "},
            r"filename must be a non-empty string; it rendered to",
        ),
        (
            {"checkpoint": "file", "checkpoint_dir": "{{ params.dir }}"},
            {"checkpoint_dir": ""},
            r"checkpoint='file' needs checkpoint_dir .* rendered empty",
        ),
        (
            {"metadata": "{{ params.meta }}"},
            {"metadata": {"bad name": "x"}},
            r"Invalid metadata name 'bad name'",
        ),
        (
            {"metadata": "{{ params.meta }}"},
            {"metadata": "owner=etl"},
            r"metadata must be a dict of str to str",
        ),
    ],
)
def test_templated_arguments_are_checked_again_after_rendering(
    templated: dict[str, Any], rendered: dict[str, Any], message: str
) -> None:
    """A template that renders to a wrong value fails in execute, before any connection or request."""
    op = _op(oss_conn_id="no_such_connection", **templated)  # valid as written: parse time passes
    for name, value in rendered.items():
        setattr(op, name, value)  # what render_template_fields leaves
    with pytest.raises(ValueError, match=message) as info:
        op.execute({"ti": _Ti()})  # type: ignore[typeddict-item]  # a fake ti with the calls execute makes
    assert str(info.value).startswith("ResumableUploadOperator(task_id='t'): ")


def test_operator_module_imports_only_the_hook_the_configs_and_the_store_choice() -> None:
    import ast
    import inspect

    from airflow_provider_oss.operators import resumable_upload

    tree = ast.parse(inspect.getsource(resumable_upload))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {m for m in imported if m and m.startswith("airflow_provider_oss")} == {
        "airflow_provider_oss.hooks.oss",
        "airflow_provider_oss.core.models",  # ObjectOptions: the object's headers
        "airflow_provider_oss.core.callback",  # UploadCallback: the upload callback, checked at parse time
        "airflow_provider_oss.core.errors",  # CallbackFailedError: fails the task without a retry
        "airflow_provider_oss.operators.openlineage",  # the OpenLineage datasets of the upload
        "airflow_provider_oss.operators.checkpointing",
        "airflow_provider_oss.operators.transfer_base",  # shared arguments; builds the TransferConfig
        "airflow_provider_oss.version_compat",
        "airflow_provider_oss.core.client",  # for type hints only
        "airflow_provider_oss.upload.stores",  # for type hints only
    }
    # The base it is built on reaches no engine internals either: the hook, the config, the checkpoint choice.
    from airflow_provider_oss.operators import transfer_base

    base_tree = ast.parse(inspect.getsource(transfer_base))
    base_imports = {node.module for node in ast.walk(base_tree) if isinstance(node, ast.ImportFrom)}
    assert {m for m in base_imports if m and m.startswith("airflow_provider_oss")} == {
        "airflow_provider_oss.hooks.oss",
        "airflow_provider_oss.upload.config",
        "airflow_provider_oss.operators._args",  # checked / task_label: argument errors naming the task
        "airflow_provider_oss.operators.checkpointing",
        "airflow_provider_oss.version_compat",
    }
