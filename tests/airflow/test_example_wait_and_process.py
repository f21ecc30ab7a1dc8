"""
dags/example_oss_wait_and_process.py run by ``dag.test()`` against the local OSS server: the sensor
finds no marker, defers, its trigger (run by Airflow's in-process trigger machinery after a
serialise/deserialise round trip) sees the marker a writer adds later, and the mapped processing,
its outputs and the clean-up land on the server.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "example_oss_wait_and_process.py"
BUCKET = "test-bucket"
DS = "2026-03-04"
MARKER = f"inbox/{DS}/_SUCCESS"


def _load_dag() -> Any:
    """Copy the example into the DAGs folder (dag.test() syncs that bundle) and load it from there."""
    from airflow.dag_processing.dagbag import DagBag

    target = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / DAG_FILE.name
    shutil.copyfile(DAG_FILE, target)
    bag = DagBag(dag_folder=str(target))
    assert bag.import_errors == {}
    return bag.get_dag("example_oss_wait_and_process")


def _marker_heads(server: LocalOssServer) -> list[int]:
    return [e["status"] for e in server.request_log() if e["op"] == "HeadObject" and e["key"] == MARKER]


@pytest.mark.airflow
def test_example_waits_deferred_then_processes_the_batch(
    airflow_db: str, oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSS_EXAMPLE_POKE_INTERVAL", "0.5")
    hook = OssHook()
    hook.load_string("id,v\n1,a\n2,b\n3,c\n", f"inbox/{DS}/a.csv")
    hook.load_string("id,v\n9,z\n", f"inbox/{DS}/b.csv")
    hook.load_string("not csv", f"inbox/{DS}/readme.txt")
    hook.load_string("id\n1\n", "inbox/2026-03-05/other-day.csv")

    def producer_finishes() -> None:
        """Write the marker only once the sensor has looked for it and found nothing."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and 404 not in _marker_heads(oss_server):
            time.sleep(0.1)
        time.sleep(1.0)  # the trigger polls at least once more without it
        OssHook().load_string("", MARKER)

    dag = _load_dag()
    writer = threading.Thread(target=producer_finishes, daemon=True)
    writer.start()
    try:
        run = dag.test(logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
    finally:
        writer.join(timeout=130)

    assert run.state == "success"
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states == {
        ("wait_for_batch", -1): "success",
        ("list_batch", -1): "success",
        ("count_rows", 0): "success",
        ("count_rows", 1): "success",
        ("delete_batch", -1): "success",
    }
    heads = _marker_heads(oss_server)
    assert heads[0] == 404 and heads[-1] == 200 and heads.count(404) >= 2, heads  # poked, deferred, polled
    assert oss_server.object_bytes(BUCKET, f"processed/{DS}/a.rows") == b"3\n"
    assert oss_server.object_bytes(BUCKET, f"processed/{DS}/b.rows") == b"1\n"
    remaining = hook.list_keys()
    assert remaining == [
        "inbox/2026-03-05/other-day.csv",
        f"processed/{DS}/a.rows",
        f"processed/{DS}/b.rows",
    ]
