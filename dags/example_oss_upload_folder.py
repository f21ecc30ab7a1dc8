"""
Upload every file of a folder, one mapped task instance per file; each is resumable on its own
(its checkpoint is keyed by its map index in task_state_store, or by its file in checkpoint_dir).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

SOURCE_DIR = os.environ.get("OSS_FOLDER_SOURCE", "/data/outbox")
BUCKET = os.environ.get("OSS_FOLDER_BUCKET", "my-bucket")
PREFIX = os.environ.get("OSS_FOLDER_PREFIX", "outbox/")

with DAG(
    dag_id="example_oss_upload_folder",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "oss"],
    doc_md=__doc__,
):

    @task
    def list_files(folder: str = SOURCE_DIR, prefix: str = PREFIX) -> list[dict[str, str]]:
        """One entry per regular file: its path and its key (the relative path under ``prefix``)."""
        entries = []
        for root, _dirs, files in os.walk(folder):
            for name in sorted(files):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, folder).replace(os.sep, "/")
                entries.append({"filename": path, "key": prefix + rel})
        return entries

    ResumableUploadOperator.partial(
        task_id="upload_file",
        bucket=BUCKET,
        part_size=8 * 1024 * 1024,
        parallelism=2,
        checkpoint_dir=os.environ.get("OSS_CHECKPOINT_DIR"),
        retries=3,
        retry_delay=timedelta(seconds=30),
        max_active_tis_per_dag=4,
    ).expand_kwargs(list_files())
