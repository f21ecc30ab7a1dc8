"""
Run inside a scratch environment with an older Airflow (tests/airflow/test_airflow_versions.py):
the upload DAG under ``dag.test()``, whose first try fails part-way; with no task_state_store
(Airflow < 3.3) the default checkpoint finds the upload through OSS and the retry continues it.
Prints one JSON line with what happened.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

DAG_SOURCE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

with DAG(dag_id="oss_version_check", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    ResumableUploadOperator(
        task_id="upload",
        filename={filename!r},
        bucket="test-bucket",
        key="matrix/retry.bin",
        part_size={part},
        parallelism=2,
        retries=2,
        retry_delay=timedelta(seconds=0),
    )
"""


def main() -> None:
    import importlib.util

    from airflow_provider_oss.testing import LocalOssServer

    part = 100 * 1024
    data = os.urandom(20 * part + 1234)
    source = Path(tempfile.mkdtemp()) / "source.bin"
    source.write_bytes(data)
    with LocalOssServer(buckets=("test-bucket",)) as server:
        os.environ["AIRFLOW_CONN_OSS_DEFAULT"] = json.dumps(
            {
                "conn_type": "oss_resumable",
                "login": server.access_key_id,
                "password": server.access_key_secret,
                "extra": {
                    "region": server.region,
                    "endpoint": server.endpoint,
                    "max_retries": 1,
                    "backoff_base": 0.01,
                    "backoff_max": 0.05,
                    "bucket": None,
                    "verify": None,
                },
            }
        )
        dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        dags.mkdir(parents=True, exist_ok=True)
        path = dags / "oss_version_check.py"
        path.write_text(DAG_SOURCE.format(filename=str(source), part=part))
        spec = importlib.util.spec_from_file_location("oss_version_check", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = module.dag
        server.add_fault("UploadPart", "reset", part_number=8, times=2)
        run = dag.test()
        log = server.request_log()
        print(
            json.dumps(
                {
                    "state": str(getattr(run.state, "value", run.state)),
                    "initiates": [e["op"] for e in log].count("InitiateMultipartUpload"),
                    "upload_ids": len({e["upload_id"] for e in log if e.get("upload_id")}),
                    "lists_uploads": [e["op"] for e in log].count("ListMultipartUploads"),
                    "bytes_equal": server.object_bytes("test-bucket", "matrix/retry.bin") == data,
                    "uploads_left": len(server.list_uploads("test-bucket")),
                }
            )
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
