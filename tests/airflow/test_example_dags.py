"""The example DAGs in dags/ import cleanly in a real Airflow DagBag."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_example_dags_import_without_errors(airflow_db: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "example_oss_resumable_upload",
        "example_oss_upload_folder",
        "example_oss_connection_from_env",
        "example_oss_wait_and_process",
        "example_oss_distributed_upload",
    }
    upload = bag.get_dag("example_oss_resumable_upload")
    assert upload is not None
    task = upload.get_task("upload_large_file")
    assert task.retries == 3
    distributed = bag.get_dag("example_oss_distributed_upload")
    assert distributed is not None
    assert {t.task_id for t in distributed.tasks} == {
        "upload_big_file.plan",
        "upload_big_file.upload_ranges",
        "upload_big_file.complete",
    }
    assert distributed.get_task("upload_big_file.upload_ranges").retries == 3
