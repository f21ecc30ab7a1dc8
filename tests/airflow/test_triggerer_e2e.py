"""
The deferrable OssKeySensor under a real Airflow 3.3 deployment on 127.0.0.1 (api-server,
dag-processor, scheduler with a LocalExecutor of ONE slot, and a triggerer), on SQLite, with the
``oss`` connection stored in the metadata database (so the triggerer fetches it through Airflow).

The proof that the deferred sensor holds no worker slot: the only slot must run ``produce``, which
writes the awaited key only after it has seen the sensor in state ``deferred``. If the sensor held
the slot, ``produce`` could never start and the run would time out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.e2e_support import free_port, query_sqlite, stop_process_groups, wait_for

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
            wait >> consume()
        """  # noqa: S608 - a DAG file, not a query
    )


@pytest.fixture
def deployment(tmp_path: Path, oss_server: LocalOssServer) -> Iterator[dict[str, Any]]:
    home = tmp_path / "airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    db = home / "airflow.db"
    (dags / f"{DAG_ID}.py").write_text(_dag_source(db))
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "1",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-test-jwt-secret-0123456789abcdef",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
        }
    )
    connection = {
        "conn_type": "oss",
        "login": oss_server.access_key_id,
        "password": oss_server.access_key_secret,
        "extra": {
            "region": oss_server.region,
            "endpoint": oss_server.endpoint,
            "addressing_style": "path",
            "bucket": "test-bucket",
            "max_retries": 1,
            "backoff_base": 0.05,
            "backoff_max": 0.2,
        },
    }
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(
        [*airflow, "connections", "add", "oss_default", "--conn-json", json.dumps(connection)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, args in (
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port)]),
            ("dag-processor", ["dag-processor"]),
            ("scheduler", ["scheduler"]),
            ("triggerer", ["triggerer"]),
        ):
            log = (tmp_path / f"{name}.log").open("wb")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [*airflow, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        yield {"env": env, "db": db, "procs": procs, "tmp": tmp_path}
    finally:
        stop_process_groups(procs)
        for log in logs:
            log.close()


@pytest.mark.slow
@pytest.mark.airflow
def test_deferred_sensor_waits_in_the_triggerer_without_a_worker_slot(
    deployment: dict[str, Any], oss_server: LocalOssServer
) -> None:
    env, db, procs, tmp = deployment["env"], deployment["db"], deployment["procs"], deployment["tmp"]
    wait_for(
        "the DAG to be parsed",
        lambda: query_sqlite(db, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID),
        180,
        procs,
    )
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "trigger", DAG_ID],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    wait_for(
        "the sensor's trigger row",
        lambda: query_sqlite(db, "SELECT classpath FROM trigger"),
        180,
        procs,
    )
    ((classpath,),) = query_sqlite(db, "SELECT classpath FROM trigger")
    assert classpath == "airflow_provider_oss.triggers.oss.OssKeyTrigger"
    state = wait_for(
        "the DAG run to finish",
        lambda: next(
            iter(
                r[0]
                for r in query_sqlite(db, "SELECT state FROM dag_run WHERE dag_id = ?", DAG_ID)
                if r[0] in ("success", "failed")
            ),
            None,
        ),
        300,
        procs,
    )
    states = dict(query_sqlite(db, "SELECT task_id, state FROM task_instance WHERE dag_id = ?", DAG_ID))
    triggerer_log = (tmp / "triggerer.log").read_text(errors="replace")
    assert state == "success", (states, triggerer_log[-3000:])
    assert states == {"wait": "success", "produce": "success", "consume": "success"}
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
    heads = [e for e in oss_server.request_log() if e["op"] == "HeadObject" and e["key"] == KEY]
    assert len(heads) >= 2  # the worker's first poke and at least one poll from the triggerer
