"""
The ``oss`` connection given by the environment, no UI or database needed::

    export AIRFLOW_CONN_OSS_DEFAULT='{"conn_type": "oss_resumable", "login": "LTAI5t...", "password": "...",
        "extra": {"region": "cn-hangzhou", "bucket": "my-bucket"}}'

The first task checks the connection with a real signed request and fails with OSS's error code
(wrong key, wrong secret, no such bucket) instead of letting later tasks time out; the sensor
then waits for a marker object, and the last task writes a small report next to it.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.sensors.oss_key import OssKeySensor

MARKER_KEY = os.environ.get("OSS_MARKER_KEY", "incoming/_SUCCESS")

with DAG(
    dag_id="example_oss_connection_from_env",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oss"],
    doc_md=__doc__,
):

    @task
    def check_connection() -> str:
        ok, message = OssHook("oss_default").test_connection()
        if not ok:
            raise RuntimeError(f"The oss_default connection does not work: {message}")
        return message

    wait = OssKeySensor(task_id="wait_for_marker", bucket_key=MARKER_KEY, poke_interval=30, timeout=3600)

    @task
    def write_report() -> str:
        hook = OssHook("oss_default")
        keys = list(hook.list_keys(prefix=MARKER_KEY.rsplit("/", 1)[0] + "/"))
        report_key = MARKER_KEY.rsplit("/", 1)[0] + "/_REPORT.txt"
        hook.load_string("\n".join(keys) + "\n", report_key)
        return report_key

    check_connection() >> wait >> write_report()
