"""
OssRemoteLogIO against the local server, through OssHook and the ``oss_default`` connection: the
key of each try, the append after a deferral, the read for the UI, a missing object, OSS down or
slow (the upload gives up in bounded time, keeps the local log, warns once) and no secret in a log.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_oss.log.location import LogLocation
from airflow_provider_oss.log.oss_remote_log import OssRemoteLogIO
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.remote_log_docs import DOC_PAGE, README, as_airflow_env, documented_logging_settings

BUCKET = "test-bucket"
TRY_1 = "dag_id=d/run_id=manual__1/task_id=t/attempt=1.log"
TRY_2 = "dag_id=d/run_id=manual__1/task_id=t/attempt=2.log"


def write_log(base: Path, relative: str, text: str) -> Path:
    path = base / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log_file:
        log_file.write(text)
    return path


def logs_io(base: Path, conn_id: str, upload_timeout: float) -> OssRemoteLogIO:
    """An IO on ``oss://test-bucket/logs`` with the given ``upload_timeout``."""
    return OssRemoteLogIO(
        remote_base=f"oss://{BUCKET}/logs",
        base_log_folder=base,
        conn_id=conn_id,
        upload_timeout=upload_timeout,
    )


@pytest.fixture
def remote_io(tmp_path: Path, oss_connection_env: str) -> OssRemoteLogIO:
    return OssRemoteLogIO(
        remote_base=f"oss://{BUCKET}/airflow/logs/", base_log_folder=tmp_path, conn_id=oss_connection_env
    )


def test_each_try_is_one_object_under_the_prefix_once(
    remote_io: OssRemoteLogIO, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    write_log(tmp_path, TRY_1, "try 1 failed\n")
    write_log(tmp_path, TRY_2, "try 2 succeeded\n")
    remote_io.upload(TRY_1)
    remote_io.upload(tmp_path / TRY_2)  # Airflow < 3.3 may pass the absolute path
    written = {e["key"] for e in oss_server.request_log() if e["op"] == "AppendObject"}
    assert written == {f"airflow/logs/{TRY_1}", f"airflow/logs/{TRY_2}"}
    assert remote_io.read(TRY_1) == ([f"oss://{BUCKET}/airflow/logs/{TRY_1}"], ["try 1 failed\n"])
    assert remote_io.read(TRY_2)[1] == ["try 2 succeeded\n"]
    assert (tmp_path / TRY_1).exists(), "the local log is kept unless delete_local_logs is set"


def test_a_deferred_task_keeps_both_halves(
    remote_io: OssRemoteLogIO, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    write_log(tmp_path, TRY_1, "before defer\n")
    remote_io.upload(TRY_1)  # the try defers: the first half is stored
    write_log(tmp_path, TRY_1, "after resume\n")  # same worker: the file goes on
    remote_io.upload(TRY_1)
    assert oss_server.object_bytes(BUCKET, f"airflow/logs/{TRY_1}") == b"before defer\nafter resume\n"
    (tmp_path / TRY_1).unlink()  # resumed on another worker, whose disk never had the first half
    write_log(tmp_path, TRY_1, "resumed elsewhere\n")
    remote_io.upload(TRY_1)
    assert remote_io.read(TRY_1)[1] == ["before defer\nafter resume\nresumed elsewhere\n"]


def test_a_missing_object_reads_as_no_log(remote_io: OssRemoteLogIO) -> None:
    assert remote_io.read(TRY_1) == ([f"No log in OSS at oss://{BUCKET}/airflow/logs/{TRY_1}"], None)


def test_delete_local_copy_removes_the_file_only_once_stored(
    tmp_path: Path, oss_connection_env: str, oss_server: LocalOssServer
) -> None:
    remote_io = OssRemoteLogIO(
        remote_base=f"oss://{BUCKET}",
        base_log_folder=tmp_path,
        conn_id=oss_connection_env,
        delete_local_copy=True,
    )
    path = write_log(tmp_path, TRY_1, "stored\n")
    remote_io.upload(TRY_1)
    assert not path.exists()
    assert oss_server.object_bytes(BUCKET, TRY_1) == b"stored\n"  # no prefix: the key is the relative path
    path = write_log(tmp_path, TRY_2, "not stored\n")
    oss_server.add_fault("*", "status", status=403, times=10)
    remote_io.upload(TRY_2)
    assert path.read_text() == "not stored\n"


def test_slow_oss_is_given_up_in_bounded_time_with_one_warning(
    tmp_path: Path, oss_connection_env: str, oss_server: LocalOssServer, caplog: pytest.LogCaptureFixture
) -> None:
    remote_io = logs_io(tmp_path, oss_connection_env, upload_timeout=1)
    path = write_log(tmp_path, TRY_1, "the task's lines\n")
    oss_server.add_fault("*", "delay", delay=8, times=100)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="airflow_provider_oss.log"):
        remote_io.upload(TRY_1)
    elapsed = time.monotonic() - started
    assert elapsed < 8, f"the upload took {elapsed:.1f} s: it waited for OSS's 8 s answer (upload_timeout=1)"
    (warning,) = [r for r in caplog.records if r.name.startswith("airflow_provider_oss.log")]
    assert warning.levelno == logging.WARNING
    assert str(path) in warning.getMessage() and f"oss://{BUCKET}/logs/{TRY_1}" in warning.getMessage()
    assert "within 1 s" in warning.getMessage()
    assert path.read_text() == "the task's lines\n"
    sources, logs = remote_io.read(TRY_1)
    assert logs is None and sources[0].startswith(f"Could not read oss://{BUCKET}/logs/{TRY_1}")


def test_unreachable_oss_keeps_the_log_and_no_secret_reaches_a_log(
    tmp_path: Path, oss_connection_env: str, oss_server: LocalOssServer, caplog: pytest.LogCaptureFixture
) -> None:
    remote_io = logs_io(tmp_path, oss_connection_env, upload_timeout=20)
    path = write_log(tmp_path, TRY_1, "kept\n")
    oss_server.stop()  # nothing listens on the endpoint's port any more
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        remote_io.upload(TRY_1)
        sources, logs = remote_io.read(TRY_1)
    assert time.monotonic() - started < 20
    assert path.read_text() == "kept\n" and logs is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "kept at" in r.getMessage()]
    assert len(warnings) == 1
    seen = "\n".join([r.getMessage() for r in caplog.records] + sources + [caplog.text])
    assert oss_server.access_key_secret not in seen


def test_from_config_reads_airflows_logging_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER", "oss://team-logs/airflow")
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID", "oss_logs")
    monkeypatch.setenv("AIRFLOW__LOGGING__DELETE_LOCAL_LOGS", "True")
    monkeypatch.setenv(
        "AIRFLOW__LOGGING__REMOTE_TASK_HANDLER_KWARGS", '{"upload_timeout": 7, "max_bytes": 0}'
    )
    remote_io = OssRemoteLogIO.from_config()
    assert (remote_io.location, remote_io.conn_id) == (LogLocation("team-logs", "airflow"), "oss_logs")
    assert (remote_io.base_log_folder, remote_io.delete_local_copy, remote_io.upload_timeout) == (
        tmp_path,
        True,
        7,
    )


@pytest.mark.parametrize(
    ("remote_base", "relative", "key"),
    [
        ("oss://b-1/prefix", "a/attempt=1.log", "prefix/a/attempt=1.log"),
        ("oss://b-1/prefix/", "a/attempt=1.log", "prefix/a/attempt=1.log"),
        ("oss://b-1//deep/prefix//", "a/attempt=1.log", "deep/prefix/a/attempt=1.log"),
        ("oss://b-1", "a/attempt=1.log", "a/attempt=1.log"),
    ],
)
def test_the_key_holds_the_prefix_once_and_no_uri(remote_base: str, relative: str, key: str) -> None:
    assert LogLocation.parse(remote_base).key_of(relative) == key


@pytest.mark.parametrize(
    "remote_base", ["s3://b-1/x", "oss://", "oss://Bad_Bucket/x", "oss://conn@b-1/x", "b-1/x"]
)
def test_a_wrong_remote_base_names_the_setting(remote_base: str) -> None:
    with pytest.raises(ValueError, match="remote_base_log_folder"):
        LogLocation.parse(remote_base)


@pytest.mark.parametrize("relative", ["/etc/passwd", "../outside.log", ""])
def test_a_log_path_outside_the_folder_is_refused(relative: str) -> None:
    with pytest.raises(ValueError, match="relative to the log folder"):
        LogLocation.parse("oss://b-1/x").key_of(relative)


def test_the_documented_settings_select_and_configure_the_handler(tmp_path: Path) -> None:
    """docs/REMOTE_LOGS.md's and the README's ``[logging]`` snippet, in a fresh Airflow process."""
    settings = documented_logging_settings(DOC_PAGE)
    assert documented_logging_settings(README) == settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__LOGGING__")}
    env.update(as_airflow_env(settings))
    env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(tmp_path)
    script = (
        "import airflow.logging_config as config\n"
        "from airflow.sdk.log import load_remote_conn_id, load_remote_log_handler\n"
        "config.configure_logging()\n"
        "reads_3_3 = 'get_remote_task_log' in vars(config)  # 3.0-3.2: the module's REMOTE_TASK_LOG\n"
        "api = config.get_remote_task_log() if reads_3_3 else config.REMOTE_TASK_LOG\n"
        "worker = load_remote_log_handler()\n"
        "print(type(api).__name__, type(worker).__name__, api.location, api.upload_timeout, load_remote_conn_id())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "OssRemoteLogIO OssRemoteLogIO LogLocation(bucket='my-bucket', prefix='airflow/logs') 30 oss_default"
    )
