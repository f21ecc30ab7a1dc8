"""
A daily export to OSS: each run uploads that day's file, ``<export dir>/export-<ds>.csv``, to
``exports/<ds>/export.csv``. A try that fails part-way (network, worker killed) is retried and
the retry continues the same multipart upload, sending only the missing parts; a re-run of a day
whose object is already this file sends nothing.

Environment: ``OSS_DAILY_EXPORT_DIR`` (default ``/data/exports``), ``OSS_DAILY_BUCKET`` (default:
the ``oss_default`` connection's ``bucket`` extra).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

EXPORT_DIR = os.environ.get("OSS_DAILY_EXPORT_DIR", "/data/exports")

with DAG(
    dag_id="example_oss_daily_upload",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oss"],
    doc_md=__doc__,
):
    ResumableUploadOperator(
        task_id="upload_daily_export",
        filename=EXPORT_DIR + "/export-{{ ds }}.csv",
        bucket=os.environ.get("OSS_DAILY_BUCKET") or None,
        key="exports/{{ ds }}/export.csv",
        content_type="text/csv",
        metadata={"export-date": "{{ ds }}"},
        part_size=8 * 1024 * 1024,
        parallelism=4,
        retries=3,
        retry_delay=timedelta(seconds=int(os.environ.get("OSS_DAILY_RETRY_DELAY", "60"))),
    )
