"""The Python snippets of docs/BUCKETS.md, run against the local OSS server (the DAG with ``dag.test()``)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag
from tests.doc_snippets import DOCS, python_snippets
from tests.upload_support import make_client

DOC = DOCS / "BUCKETS.md"


def test_the_hook_snippet_runs(oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path) -> None:
    snippet = tmp_path / "hook_snippet.py"
    snippet.write_text(python_snippets(DOC)[0])
    runpy.run_path(str(snippet))  # its own asserts check the outcome
    requests = [(e["op"], e["status"]) for e in oss_server.request_log()]
    assert ("PutBucket", 200) in requests and ("DeleteBucket", 204) in requests


@pytest.mark.airflow
def test_the_dag_snippet_creates_and_force_deletes_the_bucket(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    source = python_snippets(DOC)[1]
    template = source.replace("{", "{{").replace("}", "}}").replace('"oss_bucket_lifecycle"', "{dag_id!r}")
    run = load_dag(template, "oss_bucket_lifecycle").test()
    assert run.state == "success"
    puts = [e for e in oss_server.request_log() if e["op"] == "PutBucket"]
    assert [(e["bucket"], e["status"]) for e in puts] == [("scratch-area", 200)]
    deletes = [e for e in oss_server.request_log() if e["op"] == "DeleteBucket"]
    assert [(e["bucket"], e["status"]) for e in deletes] == [("scratch-area", 204)]
    with make_client(oss_server) as client:
        assert client.list_buckets() == ["test-bucket"]
