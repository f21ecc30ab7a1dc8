"""
The deferrable OssKeySensor and OssKeysUnchangedSensor under a real Airflow 3.3 deployment on 127.0.0.1 (api-server,
dag-processor, scheduler with a LocalExecutor of ONE slot, and a triggerer), on SQLite, with the
``oss`` connection stored in the metadata database (so the triggerer fetches it through Airflow).

The proof that the deferred sensors hold no worker slot: the only slot must run ``produce``, which
writes the awaited key only after it has seen the sensor in state ``deferred``. If a sensor held
the slot, ``produce`` could never start and the run would time out. ``quiet`` (keys unchanged)
first sees an empty prefix, so it can only succeed in the triggerer, after the write and 2 s of quiet.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.e2e_support import Deployment, airflow_deployment, query_sqlite

DAG_ID = "e2e_deferrable_key_sensor"
KEY = "incoming/ready.csv"


def _dag_source(db: Path) -> str:
    return textwrap.dedent(
        f"""
        import sqlite3
        import time
        from datetime import datetime

        from airflow.sdk import DAG, task

        from airflow_provider_oss.hooks.oss import OssHook
        from airflow_provider_oss.sensors.oss_key import OssKeySensor
        from airflow_provider_oss.sensors.oss_keys_unchanged import OssKeysUnchangedSensor

        with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
            wait = OssKeySensor(
                task_id="wait",
                bucket_key="oss://test-bucket/{KEY}",
                deferrable=True,
                poke_interval=1,
                timeout=600,
                priority_weight=100,
                weight_rule="absolute",
            )

            quiet = OssKeysUnchangedSensor(
                task_id="quiet",
                prefix="oss://test-bucket/incoming/",
                inactivity_period=2,
                deferrable=True,
                poke_interval=1,
                timeout=600,
                priority_weight=100,
                weight_rule="absolute",
            )

            @task(priority_weight=1, weight_rule="absolute")
            def produce():
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    with sqlite3.connect({str(db)!r}, timeout=10) as conn:
                        rows = conn.execute(
                            "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'wait'",
                            ({DAG_ID!r},),
                        ).fetchall()
                    if rows and rows[0][0] == "deferred":
                        OssHook().load_string("a,b\\n1,2\\n", "{KEY}")
                        return "written while the sensor was deferred"
                    time.sleep(0.5)
                raise RuntimeError("the sensor never deferred")

            @task
            def consume():
                return OssHook().read_key("{KEY}")

            produce()
            [wait, quiet] >> consume()
        """  # noqa: S608 - a DAG file, not a query
    )


@pytest.fixture
def deployment(tmp_path: Path, oss_server: LocalOssServer) -> Iterator[Deployment]:
    with airflow_deployment(
        tmp_path,
        oss_server,
        {f"{DAG_ID}.py": _dag_source(tmp_path / "airflow" / "airflow.db")},
        daemons=("api-server", "dag-processor", "scheduler", "triggerer"),
        env_overrides={"AIRFLOW__CORE__PARALLELISM": "1", "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1"},
        connection_extra={"bucket": "test-bucket"},
        connection_in_db=True,
    ) as running:
        yield running


@pytest.mark.slow
@pytest.mark.airflow
def test_deferred_sensor_waits_in_the_triggerer_without_a_worker_slot(
    deployment: Deployment, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    db, tmp = deployment.db, tmp_path
    deployment.wait_until_parsed(DAG_ID)
    deployment.trigger(DAG_ID)
    deployment.wait_for(
        "the sensor's trigger row", lambda: query_sqlite(db, "SELECT classpath FROM trigger"), 180
    )
    classpaths = {row[0] for row in query_sqlite(db, "SELECT classpath FROM trigger")}
    assert classpaths <= {
        "airflow_provider_oss.triggers.oss.OssKeyTrigger",
        "airflow_provider_oss.triggers.oss_keys_unchanged.OssKeysUnchangedTrigger",
    }, classpaths
    state = deployment.wait_for_run_end(DAG_ID, 300)
    states = dict(query_sqlite(db, "SELECT task_id, state FROM task_instance WHERE dag_id = ?", DAG_ID))
    triggerer_log = (tmp / "triggerer.log").read_text(errors="replace")
    assert state == "success", (states, triggerer_log[-3000:])
    assert states == {"wait": "success", "quiet": "success", "produce": "success", "consume": "success"}
    # That the trigger never blocks the event loop is proven without a clock by
    # test_key_sensor_features.py::test_trigger_polls_off_the_event_loop_until_the_key_exists (the loop
    # keeps running while each HEAD is in flight); Airflow's own "blocked for N seconds" warnings depend
    # on the machine's load, so they are not asserted here.
    trigger_logs = list((tmp / "airflow" / "logs").glob("dag_id=*/run_id=*/task_id=wait/*.trigger.*.log"))
    assert len(trigger_logs) == 1
    assert "Trigger fired event" in trigger_logs[0].read_text()
    assert oss_server.access_key_secret not in triggerer_log
    # The sensor's one try: it deferred, the triggerer fired, the same try resumed (no retry).
    ((try_number,),) = query_sqlite(db, "SELECT try_number FROM task_instance WHERE task_id = 'wait'")
    assert try_number == 1
    # The keys-unchanged trigger kept its observations across polls: it saw the write as activity,
    # then fired after the quiet period, in the same try.
    quiet_logs = list((tmp / "airflow" / "logs").glob("dag_id=*/run_id=*/task_id=quiet/*.trigger.*.log"))
    assert len(quiet_logs) == 1
    quiet_log = quiet_logs[0].read_text()
    assert "activity: 1 new, 0 rewritten, 0 deleted" in quiet_log, quiet_log[-3000:]
    assert "Trigger fired event" in quiet_log and "1 object(s) unchanged for" in quiet_log
    ((quiet_try,),) = query_sqlite(db, "SELECT try_number FROM task_instance WHERE task_id = 'quiet'")
    assert quiet_try == 1
    heads = [e for e in oss_server.request_log() if e["op"] == "HeadObject" and e["key"] == KEY]
    assert len(heads) >= 2  # the worker's first poke and at least one poll from the triggerer
