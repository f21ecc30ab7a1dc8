"""
Upload one large file to OSS; if the try fails part-way (network, worker killed), the retry
continues the same multipart upload and sends only the missing parts.

Parameters (trigger with a conf, or set the environment for ``make demo``):
``source`` (a local file), ``bucket``, ``key``. The connection is ``oss_default``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

with DAG(
    dag_id="example_oss_resumable_upload",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oss"],
    doc_md=__doc__,
    params={
        "source": Param(os.environ.get("OSS_DEMO_SOURCE", "/data/big-file.bin"), type="string"),
        "bucket": Param(os.environ.get("OSS_DEMO_BUCKET", "my-bucket"), type="string"),
        "key": Param(os.environ.get("OSS_DEMO_KEY", "uploads/big-file.bin"), type="string"),
    },
):
    ResumableUploadOperator(
        task_id="upload_large_file",
        filename="{{ params.source }}",
        bucket="{{ params.bucket }}",
        key="{{ params.key }}",
        part_size=int(os.environ.get("OSS_DEMO_PART_SIZE", str(8 * 1024 * 1024))),
        parallelism=4,
        checkpoint=os.environ.get("OSS_CHECKPOINT_MODE", "auto"),
        checkpoint_dir=os.environ.get("OSS_CHECKPOINT_DIR"),
        retries=3,
        retry_delay=timedelta(seconds=int(os.environ.get("OSS_DEMO_RETRY_DELAY", "30"))),
    )
