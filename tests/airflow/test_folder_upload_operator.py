"""
OssFolderUploadOperator in a real Airflow 3.3: the arguments checked when the DAG is parsed, a
retry (``dag.test()``, retry_delay 0) that skips the files try 1 stored and continues the big file's
upload ID through ``task_state_store``, and a failed run naming the files it could not upload.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.operators.folder_upload import OssFolderUploadOperator, state_key_for
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag
from tests.upload_support import BUCKET, KiB, make_file

PART = 100 * KiB

DAG_TEMPLATE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.folder_upload import OssFolderUploadOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    OssFolderUploadOperator(
        task_id="upload",
        folder="{{{{ dag_run.conf['folder'] }}}}",
        bucket="test-bucket",
        prefix="{{{{ dag_run.conf['prefix'] }}}}",
        part_size={part},
        parallelism=2,
        concurrency=3,
        follow_symlinks={follow_symlinks!r},
        checkpoint={checkpoint!r},
        checkpoint_dir={checkpoint_dir!r},
        retries={retries},
        retry_delay=timedelta(seconds=0),
    )
"""


def _write_dag(
    *,
    retries: int,
    follow_symlinks: bool = False,
    checkpoint: str = "auto",
    checkpoint_dir: str | None = None,
) -> Any:
    return load_dag(
        DAG_TEMPLATE,
        "oss_folder",
        part=PART,
        retries=retries,
        follow_symlinks=follow_symlinks,
        checkpoint=checkpoint,
        checkpoint_dir=checkpoint_dir,
    )


def _xcom(dag_id: str, key: str) -> Any:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM xcom WHERE dag_id = ? AND key = ?", (dag_id, key)).fetchone()
    if row is None:
        return None
    value = json.loads(row[0])
    return json.loads(value) if isinstance(value, str) else value


def _state_keys(dag_id: str) -> list[str]:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        return [k for (k,) in conn.execute("SELECT key FROM task_state_store WHERE dag_id = ?", (dag_id,))]


# -- parse time -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "/abs/"}, "starts with '/'"),
        ({"prefix": "a//b"}, "'//'"),
        ({"pattern": "[abc"}, "unclosed"),
        ({"pattern": "/x/*.csv"}, "relative to the folder"),
        ({"concurrency": 0}, "concurrency must be"),
        ({"concurrency": 65}, "concurrency must be"),
        ({"parallelism": 0}, "parallelism must be"),
        ({"part_size": 10}, "part_size"),
        ({"checkpoint": "file"}, "checkpoint_dir"),
        ({"checkpoint": "nowhere"}, "checkpoint must be one of"),
        ({"recursive": "yes"}, "recursive must be True or False"),
        ({"folder": ""}, "folder must be a non-empty path"),
        ({"metadata": "oops"}, "metadata must be a dict"),
        ({"max_xcom_keys": -1}, "max_keys"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"task_id": "up", "folder": "/data/outbox", **kwargs}
    with pytest.raises(ValueError, match=message) as raised:
        OssFolderUploadOperator(**args)
    assert "OssFolderUploadOperator(task_id='up')" in str(raised.value)


def test_templates_are_checked_after_rendering_only() -> None:
    op = OssFolderUploadOperator(
        task_id="up", folder="{{ params.folder }}", prefix="{{ ds }}/", pattern="{{ params.glob }}"
    )
    assert set(op.template_fields) >= {"folder", "prefix", "bucket", "pattern", "checkpoint_dir", "metadata"}
    op.prefix = "/rendered/"
    with pytest.raises(ValueError, match="starts with '/'"):
        op._check_arguments(rendered=True)


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        OssFolderUploadOperator("up", "/data")  # type: ignore[call-arg]


def test_state_keys_are_short_and_distinct() -> None:
    long_key = "k/" * 500
    assert len(state_key_for(long_key)) < 64
    assert state_key_for("a") != state_key_for("b")


# -- runs -------------------------------------------------------------------------------------------


@pytest.mark.airflow
@pytest.mark.parametrize("checkpoint", ["auto", "file", "discover"])
def test_retry_skips_stored_files_and_continues_the_big_upload(
    checkpoint: str, airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    data = {"big.bin": make_file(src / "big.bin", 12 * PART + 5, seed=1)}
    for i in range(4):
        data[f"sub/s{i}.txt"] = make_file(src / "sub" / f"s{i}.txt", 500 + i, seed=5 + i)
    checkpoint_dir = str(tmp_path / "ckpt") if checkpoint == "file" else None
    dag = _write_dag(retries=1, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir)
    # The connection allows 1 retry per request: two resets of part 6 in a row fail that file in try 1.
    oss_server.add_fault("UploadPart", "reset", part_number=6, times=2)

    run = dag.test(run_conf={"folder": str(src), "prefix": "drop/"})

    assert run.state == "success"
    log = oss_server.request_log()
    for rel, content in data.items():
        assert oss_server.object_bytes(BUCKET, f"drop/{rel}") == content
    assert [e["op"] for e in log].count("InitiateMultipartUpload") == 1
    assert len({e["upload_id"] for e in log if e.get("upload_id")}) == 1, "the retry continued the upload ID"
    puts = sorted(e["key"] for e in log if e["op"] == "PutObject")
    assert puts == [f"drop/sub/s{i}.txt" for i in range(4)], "each small file was sent once, by try 1"
    first_list = next(i for i, e in enumerate(log) if e["op"] == "ListParts")
    before = {e["part_number"] for e in log[:first_list] if e["op"] == "UploadPart" and e["status"] == 200}
    after = [e["part_number"] for e in log[first_list:] if e["op"] == "UploadPart" and e["status"] == 200]
    assert before and not before & set(after)
    summary = _xcom(dag.dag_id, "return_value")
    assert (summary["uploaded"], summary["skipped"], summary["resumed"], summary["failed"]) == (1, 4, 1, 0)
    assert summary["keys"] == ["drop/big.bin", *[f"drop/sub/s{i}.txt" for i in range(4)]]
    assert _xcom(dag.dag_id, "keys") == summary["keys"]
    # the big file's completed mark: in task_state_store ("auto" on Airflow 3.3), in a file, or nowhere
    assert _state_keys(dag.dag_id) == ([state_key_for("drop/big.bin")] if checkpoint == "auto" else [])
    assert len(list((tmp_path / "ckpt").glob("*.json"))) == (1 if checkpoint == "file" else 0)
    assert oss_server.access_key_secret not in json.dumps(summary)


@pytest.mark.airflow
def test_a_failed_run_names_the_files_and_uploads_the_rest(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = {name: make_file(src / name, 300, seed=i) for i, name in enumerate(("a.txt", "b.txt"))}
    (tmp_path / "secret.txt").write_bytes(b"outside the folder")
    (src / "leak.txt").symlink_to(tmp_path / "secret.txt")
    dag = _write_dag(retries=0, follow_symlinks=True)

    run = dag.test(run_conf={"folder": str(src), "prefix": ""})

    assert run.state == "failed"
    for name, content in data.items():
        assert oss_server.object_bytes(BUCKET, name) == content
    assert {e["key"] for e in oss_server.request_log() if e["op"] == "PutObject"} == {"a.txt", "b.txt"}
    out, err = capfd.readouterr()
    assert (
        "1 of 3 file(s)" in out + err and "leak.txt: a symbolic link leading outside the folder" in out + err
    )
