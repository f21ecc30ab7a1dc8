"""
Upload one very large file (on a volume every worker mounts at the same path: NAS, CPFS, a
Kubernetes PVC) as ONE multipart upload spread across the Airflow workers: a plan task initiates
the upload and cuts the parts into ranges, one mapped task per range uploads its parts (a retried
map index continues its range under the same upload ID), and a complete task completes once,
checking the combined CRC-64 of every part against the file's and the object's.

Parameters: ``source`` (the shared file), ``bucket``, ``key``, ``ranges`` (how many range tasks).
The connection is ``oss_default``. See docs/DISTRIBUTED_UPLOAD.md.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_oss.operators.distributed_upload import distributed_upload

with DAG(
    dag_id="example_oss_distributed_upload",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oss"],
    doc_md=__doc__,
    params={
        "source": Param(os.environ.get("OSS_DEMO_SOURCE", "/shared/big-file.bin"), type="string"),
        "bucket": Param(os.environ.get("OSS_DEMO_BUCKET", "my-bucket"), type="string"),
        "key": Param(os.environ.get("OSS_DEMO_KEY", "uploads/big-file.bin"), type="string"),
    },
):
    distributed_upload(
        task_id="upload_big_file",
        filename="{{ params.source }}",
        bucket="{{ params.bucket }}",
        key="{{ params.key }}",
        part_size=64 * 1024 * 1024,
        ranges=int(os.environ.get("OSS_DEMO_RANGES", "8")),
        parallelism=4,
        checkpoint=os.environ.get("OSS_CHECKPOINT_MODE", "auto"),
        checkpoint_dir=os.environ.get("OSS_CHECKPOINT_DIR"),
        retries=3,
        retry_delay=timedelta(seconds=30),
    )
