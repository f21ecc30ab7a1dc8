"""
Upload a folder to a prefix in one task, then fan out over what landed:

1. ``upload_folder``: ``OssFolderUploadOperator`` sends every file of the folder (sub-folders
   included) under the prefix, 8 files at a time; files already in OSS with the same size and
   CRC-64 are skipped, so a retry or a re-run sends only what is new or changed, and a big file a
   killed try left half-sent continues its multipart upload.
2. ``describe_object``: one mapped task instance per key the upload returns (``return_keys=True``:
   the keys now holding the folder's files), reading each object's size and CRC-64 from OSS.
3. ``write_manifest``: one JSON manifest of the folder next to the files, ``<prefix>_MANIFEST.json``.

Environment: ``OSS_FOLDER_SOURCE`` (the folder), ``OSS_FOLDER_BUCKET``, ``OSS_FOLDER_PREFIX``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.folder_upload import OssFolderUploadOperator

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
    upload = OssFolderUploadOperator(
        task_id="upload_folder",
        folder=SOURCE_DIR,
        bucket=BUCKET,
        prefix=PREFIX,
        concurrency=8,
        return_keys=True,  # a list to map over; the summary is in the "summary" XCom
        checkpoint_dir=os.environ.get("OSS_CHECKPOINT_DIR"),
        retries=3,
        retry_delay=timedelta(seconds=int(os.environ.get("OSS_FOLDER_RETRY_DELAY", "30"))),
    )

    @task
    def describe_object(key: str) -> dict[str, object]:
        """The object's size and CRC-64 as OSS reports them."""
        info = OssHook().get_key(key, BUCKET)
        return {"key": key, "size": info.size, "crc64": str(info.crc64)}

    @task
    def write_manifest(objects: Any) -> str:
        """One JSON manifest of the folder's objects, written beside them (``objects``: the mapped results)."""
        key = PREFIX + "_MANIFEST.json"
        body = json.dumps(sorted(objects, key=lambda o: str(o["key"])), indent=1)
        OssHook().load_string(body, key, BUCKET)
        return key

    write_manifest(describe_object.expand(key=upload.output))
