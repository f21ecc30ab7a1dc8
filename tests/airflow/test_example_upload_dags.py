"""
dags/example_oss_daily_upload.py and dags/example_oss_upload_folder.py run by ``dag.test()``
against the local OSS server: the bytes that land, the ``{{ ds }}`` key, the folder's mapped
fan-out over the upload's ``keys`` XCom and the manifest it writes.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from tests.upload_support import BUCKET, KiB, MiB, make_file

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _load_dag(name: str, dag_id: str) -> Any:
    """Copy the example into the DAGs folder (dag.test() syncs that bundle) and load it from there."""
    from airflow.dag_processing.dagbag import DagBag

    target = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / name
    shutil.copyfile(DAGS / name, target)
    bag = DagBag(dag_folder=str(target))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


@pytest.mark.airflow
def test_daily_upload_puts_the_days_file_under_its_ds_key(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSS_DAILY_EXPORT_DIR", str(tmp_path))
    monkeypatch.setenv("OSS_DAILY_RETRY_DELAY", "0")
    data = make_file(tmp_path / "export-2026-03-04.csv", 9 * MiB + 3, seed=4)
    make_file(tmp_path / "export-2026-03-05.csv", 100, seed=5)  # another day's file: not sent
    dag = _load_dag("example_oss_daily_upload.py", "example_oss_daily_upload")
    run = dag.test(logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    assert run.state == "success"
    assert oss_server.object_bytes(BUCKET, "exports/2026-03-04/export.csv") == data
    info = oss_server.object_info(BUCKET, "exports/2026-03-04/export.csv")
    assert info["meta"]["x-oss-meta-export-date"] == "2026-03-04"
    assert info["meta"]["content-type"] == "text/csv"
    assert [o for o in oss_server.request_log() if o["op"] == "InitiateMultipartUpload"]  # two parts
    keys = {e["key"] for e in oss_server.request_log() if e["op"] in ("PutObject", "UploadPart")}
    assert keys == {"exports/2026-03-04/export.csv"}


@pytest.mark.airflow
def test_folder_example_uploads_maps_over_the_keys_and_writes_the_manifest(
    airflow_db: str,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = tmp_path / "outbox"
    files = {
        "orders.csv": 4 * KiB,
        "images/logo.bin": 9 * MiB,
        "reports/2026-01.txt": 64 * KiB,
        "empty.txt": 0,
    }
    data = {}
    for i, (rel, size) in enumerate(sorted(files.items())):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        data[rel] = make_file(src / rel, size, seed=20 + i)
    (src / ".DS_Store").write_bytes(b"hidden: not uploaded")
    monkeypatch.setenv("OSS_FOLDER_SOURCE", str(src))
    monkeypatch.setenv("OSS_FOLDER_BUCKET", BUCKET)
    monkeypatch.setenv("OSS_FOLDER_PREFIX", "outbox/2026/")
    dag = _load_dag("example_oss_upload_folder.py", "example_oss_upload_folder")
    run = dag.test(logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))

    assert run.state == "success"
    states = sorted((ti.task_id, ti.map_index, ti.state) for ti in run.get_task_instances())
    assert states == [("describe_object", i, "success") for i in range(4)] + [
        ("upload_folder", -1, "success"),
        ("write_manifest", -1, "success"),
    ]
    for rel, content in data.items():
        assert oss_server.object_bytes(BUCKET, f"outbox/2026/{rel}") == content
    manifest = json.loads(oss_server.object_bytes(BUCKET, "outbox/2026/_MANIFEST.json"))
    assert manifest == [
        {"key": f"outbox/2026/{rel}", "size": len(content), "crc64": str(crc64.crc64(content))}
        for rel, content in sorted(data.items())
    ]
    written = {
        e["key"] for e in oss_server.request_log() if e["op"] in ("PutObject", "InitiateMultipartUpload")
    }
    assert written == {f"outbox/2026/{rel}" for rel in data} | {"outbox/2026/_MANIFEST.json"}
