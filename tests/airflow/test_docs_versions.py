"""The Python snippets of docs/VERSIONS.md, run against the local OSS server (the DAG with ``dag.test()``)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag
from tests.doc_snippets import DOCS, python_snippets

DOC = DOCS / "VERSIONS.md"


def test_the_hook_snippet_runs(oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path) -> None:
    snippet = tmp_path / "versions_snippet.py"
    snippet.write_text(python_snippets(DOC)[0])
    runpy.run_path(str(snippet))  # its own asserts check the outcome
    ops = [e["op"] for e in oss_server.request_log()]
    assert "PutBucketVersioning" in ops and "ListObjectVersions" in ops and ops[-1] == "DeleteBucket"


@pytest.mark.airflow
def test_the_dag_snippet_downloads_keeps_and_purges_the_named_version(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    hook = OssHook(oss_connection_env)
    client = hook.get_client()
    client.put_bucket_versioning("test-bucket", "Enabled")
    hook.load_string("day,total\n1,10\n", "reports/daily.csv")
    hook.load_string("day,total\n1,99\n", "reports/daily.csv")
    current, earlier = [v.version_id for v in client.list_object_versions("test-bucket")]
    source = python_snippets(DOC)[1]
    template = source.replace("{", "{{").replace("}", "}}").replace('"oss_versions"', "{dag_id!r}")
    local = tmp_path / "report.csv"
    run = load_dag(template, "oss_versions").test(run_conf={"version": earlier, "local_path": str(local)})
    assert run.state == "success"
    assert local.read_text() == "day,total\n1,10\n"
    assert oss_server.object_bytes("test-bucket", "reports/kept.csv") == b"day,total\n1,10\n"
    remaining = [(v.key, v.version_id) for v in client.list_object_versions("test-bucket")]
    assert ("reports/daily.csv", earlier) not in remaining and ("reports/daily.csv", current) in remaining
