"""
No warning in a task's log caused by our connection. Airflow's secrets masker warns "Skipping masking
for a secret as it's too short" for ANY string value under 5 characters in a connection's extras,
whatever its key (``add_mask`` checks the length before the key's sensitivity), when the task
fetches the connection (``get_uri`` -> ``extra_dejson`` -> ``mask_secret(extras)``). The form used
to pre-fill and save ``"v4"``; it now saves only what was typed (nulls elsewhere), so a connection
made in the form gives no warning.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.dag_files import load_dag

WARNING = "Skipping masking for a secret as it's too short"


def _reset_masker_warning() -> None:
    """The masker warns once per process: forget that it did, so this test sees its own warning."""
    from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

    SecretsMasker._has_warned_short_secret = False


def _set_connection(monkeypatch: pytest.MonkeyPatch, server: LocalOssServer, extras: dict[str, Any]) -> None:
    conn = {
        "conn_type": "oss_resumable",
        "login": server.access_key_id,
        "password": server.access_key_secret,
        "extra": extras,
    }
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))


def _as_the_form_saves(server: LocalOssServer) -> dict[str, Any]:
    """
    What the Airflow form saves when a user types region, endpoint and bucket: every extra field
    with the value Airflow pre-fills it with (ProvidersManager's widget value), the typed ones
    replaced (the browser test, test_ui_connection_form.py, checks this against the real form).
    """
    from airflow.providers_manager import ProvidersManager

    prefix = "extra__oss_resumable__"
    widgets = ProvidersManager().connection_form_widgets
    extras = {key[len(prefix) :]: w.field["value"] for key, w in widgets.items() if key.startswith(prefix)}
    extras.update(region=server.region, endpoint=server.endpoint, bucket="test-bucket")
    return extras


def test_a_short_extra_value_is_what_makes_airflow_warn(
    oss_server: LocalOssServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The cause, shown: the same connection with the old pre-filled ``signature_version: "v4"``."""
    extras = {**_as_the_form_saves(oss_server), "signature_version": "v4"}
    _set_connection(monkeypatch, oss_server, extras)
    _reset_masker_warning()
    OssHook().load_string("x", "with-v4.txt")
    out, err = capsys.readouterr()
    assert WARNING in out + err + caplog.text


DAG = """
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_oss.hooks.oss import OssHook

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)) as dag:

    @task
    def write():
        OssHook().load_string("written by a task", "task.txt")

    write()
"""


@pytest.mark.airflow
def test_a_task_using_a_form_made_connection_logs_no_masking_warning(
    airflow_db: str,
    oss_server: LocalOssServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _set_connection(monkeypatch, oss_server, _as_the_form_saves(oss_server))
    dag = load_dag(DAG, "oss_conn_warnings")
    _reset_masker_warning()
    capsys.readouterr()
    caplog.clear()
    run = dag.test()
    out, err = capsys.readouterr()
    logged = out + err + caplog.text
    assert run.state == "success", logged[-3000:]
    assert oss_server.object_bytes("test-bucket", "task.txt") == b"written by a task"
    assert WARNING not in logged
    assert "shall not contain '_'" not in logged  # the worker's connection path does not warn either
