"""
ResumableUploadOperator with OSS's upload callback, in a real Airflow (``dag.test()``, retries in
process): templated callback and callback_var, the callback server's answer in XCom, one POST per
object across retries, 203 failing the task without a retry, and no callback token in the logs.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag
from tests.callback_support import callback_server

PART = 100 * 1024

DAG_TEMPLATE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    ResumableUploadOperator(
        task_id="upload",
        filename="{{{{ dag_run.conf['filename'] }}}}",
        bucket="test-bucket",
        key="{{{{ dag_run.conf['key'] }}}}",
        part_size={part},
        parallelism=2,
        checkpoint="state_store",
        retries=2,
        retry_delay=timedelta(seconds=0),
        callback={{
            "callbackUrl": "{{{{ dag_run.conf['callback_url'] }}}}",
            "callbackBody": "object=${{object}}&size=${{size}}&run=${{x:run}}",
        }},
        callback_var={{"x:run": "{{{{ run_id }}}}"}},
    )
"""


def _dag() -> Any:
    return load_dag(DAG_TEMPLATE, "oss_callback", part=PART)


def _xcom(dag_id: str) -> dict[str, Any]:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'upload' AND key = 'return_value'",
            (dag_id,),
        ).fetchone()
    result = json.loads(value)
    return result if isinstance(result, dict) else json.loads(result)


def _tries(dag_id: str) -> int:
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        (tries,) = conn.execute("SELECT try_number FROM task_instance WHERE dag_id = ?", (dag_id,)).fetchone()
    return int(tries)


def test_a_bad_callback_fails_when_the_dag_is_parsed_naming_the_task() -> None:
    with pytest.raises(ValueError, match=r"task_id='up'.*starts with 'x:'"):
        ResumableUploadOperator(
            task_id="up",
            filename="/f",
            key="k",
            callback={"callbackUrl": "http://app/cb", "callbackBody": "v=${x:v}"},
            callback_var={"V": "1"},
        )
    with pytest.raises(ValueError, match="needs callbackUrl"):
        ResumableUploadOperator(
            task_id="up", filename="/f", key="k", callback={"callbackBody": "o=${object}"}
        )
    # A templated callback is checked once rendered, not at parse time.
    ResumableUploadOperator(
        task_id="up",
        filename="/f",
        key="k",
        callback={"callbackUrl": "{{ var.value.cb }}", "callbackBody": "o"},
    )


@pytest.mark.airflow
def test_the_callback_answer_reaches_xcom_and_fires_once_per_object_across_retries(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * PART + 17))
    with callback_server(answer=b'{"accepted": "yes"}') as cb:
        dag = _dag()
        run = dag.test(run_conf={"filename": str(source), "key": "cb/one.bin", "callback_url": cb.url})
        assert run.state == "success" and cb.count == 1
        result = _xcom(dag.dag_id)
        assert result["callback_response"] == {"accepted": "yes"}
        body = cb.posts[0]["body"]
        assert isinstance(body, bytes)
        fields = parse_qs(body.decode())
        assert fields["object"] == ["cb/one.bin"] and fields["size"] == [str(3 * PART + 17)]
        assert fields["run"] == [run.run_id]

        # Try 1: CompleteMultipartUpload completes (and fires) but its answer is lost, and the client's
        # own retry of it fails: the try fails with the object complete. Try 2 finds the object
        # complete, sends no Complete, so fires nothing.
        oss_server.add_fault("CompleteMultipartUpload", "drop_answer", key="cb/two.bin")
        oss_server.add_fault(
            "CompleteMultipartUpload", "status", status=500, nth=2, times=5, key="cb/two.bin"
        )
        dag2 = _dag()
        run2 = dag2.test(run_conf={"filename": str(source), "key": "cb/two.bin", "callback_url": cb.url})
        assert run2.state == "success" and _tries(dag2.dag_id) == 2
        assert cb.count == 2  # one for cb/one.bin, one for cb/two.bin
        retried = _xcom(dag2.dag_id)
        assert retried["already_complete"] is True and retried["callback_response"] is None
    assert oss_server.object_bytes("test-bucket", "cb/two.bin") == source.read_bytes()
    out, err = capfd.readouterr()
    assert "upload callback to http://127.0.0.1" in out + err, "the task log was captured"
    assert "cb-secret-token" not in out + err


@pytest.mark.airflow
def test_a_failed_callback_fails_the_task_without_a_retry_the_object_stored(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(2 * PART))
    with callback_server(status=503) as cb:
        dag = _dag()
        run = dag.test(run_conf={"filename": str(source), "key": "cb/failed.bin", "callback_url": cb.url})
        assert run.state == "failed"
        assert cb.count == 1 and _tries(dag.dag_id) == 1  # retries=2, yet no retry
    assert oss_server.object_bytes("test-bucket", "cb/failed.bin") == source.read_bytes()
    out, err = capfd.readouterr()
    assert "the object IS stored" in out + err and "CallbackFailed" in out + err
    assert "cb-secret-token" not in out + err


def test_a_callback_from_an_upstream_xcom_is_checked_when_the_task_runs() -> None:
    from airflow.sdk import DAG

    from airflow_provider_oss.operators.list import OssListOperator

    with DAG("xcom_callback", schedule=None):
        upstream = OssListOperator(task_id="ls")
        op = ResumableUploadOperator(
            task_id="up",
            filename="/f",
            key="k",
            callback={"callbackUrl": "http://app/cb", "callbackBody": "v=${x:v}"},
            callback_var=upstream.output,  # type: ignore[arg-type]  # an XComArg, resolved at run time
        )
    assert hasattr(op.callback_var, "resolve")  # kept as the XComArg, not refused at parse time
