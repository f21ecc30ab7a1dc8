"""ResumableUploadOperator validates its arguments when the DAG is parsed, with messages that name the fix."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator


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
        ResumableUploadOperator("/data/f.bin", "k", task_id="t")  # type: ignore[misc]


def test_templated_fields_and_object_options() -> None:
    op = _op(content_type="text/csv", metadata={"owner": "etl"}, storage_class="IA", acl="private")
    assert {"filename", "bucket", "key"} <= set(op.template_fields)
    headers = op.object_options().to_headers()
    assert headers["Content-Type"] == "text/csv"
    assert headers["x-oss-meta-owner"] == "etl"
    assert headers["x-oss-storage-class"] == "IA"
    assert headers["x-oss-object-acl"] == "private"
