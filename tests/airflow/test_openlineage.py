"""
OpenLineage facets of the operators: each operator runs against the local server, then its
``get_openlineage_facets_on_*`` names the datasets it read, wrote or dropped (``oss://bucket`` and
the key; the local file as ``file://<host>`` and its absolute path), and the answer serialises as
the OpenLineage client sends it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.openlineage.facet import (
    OutputDataset,
    OutputStatisticsOutputDatasetFacet,
)
from openlineage.client.serde import Serde

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.copy import OssCopyObjectOperator
from airflow_provider_oss.operators.delete import OssDeleteObjectsOperator
from airflow_provider_oss.operators.download import OssDownloadOperator
from airflow_provider_oss.operators.folder_upload import OssFolderUploadOperator
from airflow_provider_oss.operators.list import OssListOperator
from airflow_provider_oss.operators.openlineage import MAX_DATASETS
from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator
from airflow_provider_oss.testing import LocalOssServer

HOST = f"file://{socket.gethostname()}"


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_the_upload_reads_the_local_file_and_writes_the_object(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n" * 1000)
    op = ResumableUploadOperator(
        task_id="up", filename=str(path), key="lineage/data.csv", checkpoint="discover"
    )
    # Before running: the bucket comes from the connection's extra.
    start = op.get_openlineage_facets_on_start()
    assert _names(start.inputs) == [(HOST, str(path))]
    assert _names(start.outputs) == [("oss://test-bucket", "lineage/data.csv")]

    result = op.execute({})  # no ti, no task_state_store: discovery mode
    complete = op.get_openlineage_facets_on_complete(None)
    assert _names(complete.inputs) == [(HOST, str(path))]
    [output] = complete.outputs
    assert (output.namespace, output.name) == ("oss://test-bucket", "lineage/data.csv")
    assert isinstance(output, OutputDataset) and output.outputFacets is not None
    stats = output.outputFacets["outputStatistics"]
    assert isinstance(stats, OutputStatisticsOutputDatasetFacet)
    assert (stats.size, stats.fileCount) == (result["size"], 1) == (path.stat().st_size, 1)
    event = Serde.to_dict(complete.outputs[0])
    assert event["outputFacets"]["outputStatistics"]["size"] == path.stat().st_size


def test_the_delete_drops_each_deleted_key_and_a_dry_run_drops_nothing(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    hook = OssHook(oss_connection_env)
    for key in ("old/a.csv", "old/b.csv", "keep/c.csv"):
        hook.load_bytes(b"x", key)
    dry = OssDeleteObjectsOperator(task_id="dry", keys=["old/a.csv"], dry_run=True)
    dry.execute({})
    assert dry.get_openlineage_facets_on_complete(None).inputs == []

    op = OssDeleteObjectsOperator(task_id="del", keys=["old/a.csv", "oss://test-bucket/old/b.csv"])
    op.execute({})
    lineage = op.get_openlineage_facets_on_complete(None)
    assert _names(lineage.inputs) == [("oss://test-bucket", "old/a.csv"), ("oss://test-bucket", "old/b.csv")]
    assert lineage.outputs == []
    facet = Serde.to_dict(lineage.inputs[0])["facets"]["lifecycleStateChange"]
    assert facet["lifecycleStateChange"] == "DROP"
    assert facet["previousIdentifier"] == {"namespace": "oss://test-bucket", "name": "old/a.csv"}
    assert hook.list_keys("") == ["keep/c.csv"]


def test_a_prefix_delete_is_one_dataset_and_a_glob_delete_names_its_keys(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    hook = OssHook(oss_connection_env)
    for key in ("tmp/1.csv", "tmp/2.json", "tmp/3.csv"):
        hook.load_bytes(b"x", key)
    glob = OssDeleteObjectsOperator(task_id="glob", prefix="tmp/", match_glob="tmp/*.csv")
    glob.execute({})
    assert _names(glob.get_openlineage_facets_on_complete(None).inputs) == [
        ("oss://test-bucket", "tmp/1.csv"),
        ("oss://test-bucket", "tmp/3.csv"),
    ]
    whole = OssDeleteObjectsOperator(task_id="whole", prefix="oss://test-bucket/tmp/")
    whole.execute({})
    [dataset] = whole.get_openlineage_facets_on_complete(None).inputs
    assert (dataset.namespace, dataset.name) == ("oss://test-bucket", "tmp/")
    assert Serde.to_dict(dataset)["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "DROP"


def test_a_huge_delete_lists_at_most_max_datasets(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    keys = [f"many/{n:05d}" for n in range(MAX_DATASETS + 5)]
    op = OssDeleteObjectsOperator(task_id="many", keys=keys)  # missing keys count as deleted, as in OSS
    op.execute({})
    inputs = op.get_openlineage_facets_on_complete(None).inputs
    assert len(inputs) == MAX_DATASETS and inputs[0].name == "many/00000"


def test_the_listing_reads_its_prefix(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    OssHook(oss_connection_env).load_bytes(b"x", "in/a.csv")
    op = OssListOperator(task_id="ls", prefix="in/")
    assert op.execute({}) == ["in/a.csv"]
    lineage = op.get_openlineage_facets_on_complete(None)
    assert _names(lineage.inputs) == [("oss://test-bucket", "in/")] and lineage.outputs == []
    whole = OssListOperator(task_id="ls_all", bucket_name="test-bucket")
    whole.execute({})
    assert _names(whole.get_openlineage_facets_on_complete(None).inputs) == [("oss://test-bucket", "/")]


def _written(dataset: Any) -> tuple[int, int]:
    """``(size, fileCount)`` of an output dataset's ``outputStatistics`` facet, as the client serialises it."""
    assert isinstance(dataset, OutputDataset)
    stats = Serde.to_dict(dataset)["outputFacets"]["outputStatistics"]
    return stats["size"], stats["fileCount"]


def test_the_download_reads_the_object_and_writes_the_local_file(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    OssHook(oss_connection_env).load_bytes(data, "lineage/in.bin")
    destination = tmp_path / "in.bin"
    op = OssDownloadOperator(
        task_id="dl", key="lineage/in.bin", local_path=str(destination), checkpoint="discover"
    )
    start = op.get_openlineage_facets_on_start()
    assert _names(start.inputs) == [("oss://test-bucket", "lineage/in.bin")]
    assert _names(start.outputs) == [(HOST, str(destination))]

    op.execute({})
    assert destination.read_bytes() == data
    complete = op.get_openlineage_facets_on_complete(None)
    assert _names(complete.inputs) == [("oss://test-bucket", "lineage/in.bin")]
    [output] = complete.outputs
    assert (output.namespace, output.name) == (HOST, str(destination))
    assert _written(output) == (len(data), 1)

    # A full URL names its own bucket, before the run too.
    by_url = OssDownloadOperator(task_id="url", key="oss://other-bucket/a/b.csv", local_path="rel/b.csv")
    start = by_url.get_openlineage_facets_on_start()
    assert _names(start.inputs) == [("oss://other-bucket", "a/b.csv")]
    assert _names(start.outputs) == [(HOST, os.path.abspath("rel/b.csv"))]


def test_the_copy_reads_the_source_and_writes_the_destination(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    oss_server.create_bucket("dest-bucket")
    data = os.urandom(250_000)
    OssHook(oss_connection_env).load_bytes(data, "lineage/src.bin")
    op = OssCopyObjectOperator(
        task_id="cp", source_key="lineage/src.bin", dest_key="copies/src.bin", dest_bucket="dest-bucket"
    )
    start = op.get_openlineage_facets_on_start()
    assert _names(start.inputs) == [("oss://test-bucket", "lineage/src.bin")]
    assert _names(start.outputs) == [("oss://dest-bucket", "copies/src.bin")]

    op.execute({})
    assert oss_server.object_bytes("dest-bucket", "copies/src.bin") == data
    complete = op.get_openlineage_facets_on_complete(None)
    assert _names(complete.inputs) == [("oss://test-bucket", "lineage/src.bin")]
    [output] = complete.outputs
    assert (output.namespace, output.name) == ("oss://dest-bucket", "copies/src.bin")
    assert _written(output) == (len(data), 1)

    # Within one bucket: the destination defaults to the source's bucket.
    same = OssCopyObjectOperator(task_id="same", source_key="oss://b1/x", dest_key="y")
    assert _names(same.get_openlineage_facets_on_start().outputs) == [("oss://b1", "y")]


def test_the_folder_upload_reads_the_folder_and_writes_the_prefix(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_bytes(b"a" * 1000)
    (folder / "sub" / "b.csv").write_bytes(b"b" * 2500)
    op = OssFolderUploadOperator(task_id="up", folder=str(folder), prefix="exports//")
    start = op.get_openlineage_facets_on_start()
    assert _names(start.inputs) == [(HOST, str(folder))]
    assert _names(start.outputs) == [("oss://test-bucket", "exports/")]

    op.execute({})
    complete = op.get_openlineage_facets_on_complete(None)
    assert _names(complete.inputs) == [(HOST, str(folder))]
    [output] = complete.outputs
    assert (output.namespace, output.name) == ("oss://test-bucket", "exports/")
    assert _written(output) == (3500, 2)
    assert oss_server.object_bytes("test-bucket", "exports/sub/b.csv") == b"b" * 2500

    # A re-run sends nothing new: the prefix is still the output, with nothing written.
    again = OssFolderUploadOperator(task_id="again", folder=str(folder), prefix="exports")
    again.execute({})
    [output] = again.get_openlineage_facets_on_complete(None).outputs
    assert (output.name, _written(output)) == ("exports/", (0, 0))

    root = OssFolderUploadOperator(task_id="root", folder=str(folder), bucket="b2")
    assert _names(root.get_openlineage_facets_on_start().outputs) == [("oss://b2", "/")]


LISTENER_RUN = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ol_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("STATE", module.dag.test().state)
"""

LISTENER_DAG = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_oss.operators.copy import OssCopyObjectOperator
from airflow_provider_oss.operators.download import OssDownloadOperator
from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    upload = ResumableUploadOperator(
        task_id="upload", filename={filename!r}, key="ol/data.bin", checkpoint="discover"
    )
    copy = OssCopyObjectOperator(task_id="copy", source_key="ol/data.bin", dest_key="ol/copy.bin")
    download = OssDownloadOperator(task_id="download", key="ol/copy.bin", local_path={downloaded!r})
    upload >> copy >> download
"""


@pytest.mark.airflow
def test_the_openlineage_listener_emits_the_upload_copy_and_download_datasets(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    """The real OpenLineage listener (file transport) in a fresh process, where its plugin loads enabled."""
    source = tmp_path / "data.bin"
    source.write_bytes(b"z" * 12345)
    dag_id = f"ol_{uuid.uuid4().hex[:8]}"
    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    downloaded = tmp_path / "downloaded.bin"
    dag_file.write_text(LISTENER_DAG.format(dag_id=dag_id, filename=str(source), downloaded=str(downloaded)))
    events_file = tmp_path / "events.jsonl"
    env = dict(os.environ)
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(events_file), "append": True}
    )
    done = subprocess.run(
        [sys.executable, "-c", LISTENER_RUN, str(dag_file)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "STATE success" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert downloaded.read_bytes() == b"z" * 12345
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    expected = {
        "upload": ([(HOST, str(source))], [("oss://test-bucket", "ol/data.bin")]),
        "copy": ([("oss://test-bucket", "ol/data.bin")], [("oss://test-bucket", "ol/copy.bin")]),
        "download": ([("oss://test-bucket", "ol/copy.bin")], [(HOST, str(downloaded))]),
    }
    for task, (inputs, outputs) in expected.items():
        task_events = {e["eventType"]: e for e in events if e["job"]["name"] == f"{dag_id}.{task}"}
        assert set(task_events) == {"START", "COMPLETE"}, task
        for event in task_events.values():
            assert [(d["namespace"], d["name"]) for d in event["inputs"]] == inputs, task
            assert [(d["namespace"], d["name"]) for d in event["outputs"]] == outputs, task
        stats = task_events["COMPLETE"]["outputs"][0]["outputFacets"]["outputStatistics"]
        assert (stats["size"], stats["fileCount"]) == (12345, 1), task
    assert oss_server.access_key_secret not in events_file.read_text()
