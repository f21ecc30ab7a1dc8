"""
Wait for a day's batch in OSS, then process it, holding no worker slot while waiting:

1. ``wait_for_batch``: a deferrable ``OssKeySensor`` waits in the triggerer for the producer's
   ``inbox/<ds>/_SUCCESS`` marker (a wrong secret or a missing bucket fails it at once).
2. ``list_batch``: ``OssListOperator`` lists the day's ``*.csv`` keys into XCom.
3. ``count_rows``: one mapped task instance per key reads the CSV and writes its row count under
   ``processed/<ds>/`` (reported to hook lineage as an input and an output).
4. ``delete_batch``: ``OssDeleteObjectsOperator`` deletes the day's inbox, marker included.

The bucket is the ``oss_default`` connection's ``bucket`` extra unless ``OSS_EXAMPLE_BUCKET`` is set.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.delete import OssDeleteObjectsOperator
from airflow_provider_oss.operators.list import OssListOperator
from airflow_provider_oss.sensors.oss_key import OssKeySensor

BUCKET = os.environ.get("OSS_EXAMPLE_BUCKET") or None
INBOX = "inbox/{{ ds }}/"

with DAG(
    dag_id="example_oss_wait_and_process",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oss"],
    doc_md=__doc__,
):
    wait = OssKeySensor(
        task_id="wait_for_batch",
        bucket_key=INBOX + "_SUCCESS",
        bucket_name=BUCKET,
        deferrable=True,
        poke_interval=float(os.environ.get("OSS_EXAMPLE_POKE_INTERVAL", "60")),
        timeout=6 * 3600,
    )

    listing = OssListOperator(
        task_id="list_batch", prefix=INBOX, bucket_name=BUCKET, match_glob=INBOX + "*.csv"
    )

    @task
    def count_rows(key: str) -> dict[str, object]:
        """Count the data rows of one CSV (its first line is the header); write the count beside it."""
        hook = OssHook()
        text = hook.read_key(key, BUCKET)
        rows = sum(1 for line in text.splitlines()[1:] if line.strip())
        out = "processed/" + key.removeprefix("inbox/").removesuffix(".csv") + ".rows"
        hook.load_string(f"{rows}\n", out, BUCKET)
        return {"key": key, "rows": rows, "output": out}

    counted = count_rows.expand(key=listing.output)

    delete = OssDeleteObjectsOperator(task_id="delete_batch", prefix=INBOX, bucket_name=BUCKET)

    wait >> listing
    counted >> delete
