"""
OssKeysUnchangedSensor with ``deferrable=True`` and its OssKeysUnchangedTrigger, whose run() is
driven on an asyncio loop against the local OSS server: the quiet period, min_objects and
allow_delete as in the worker, the state kept across polls (and through serialize()), and auth
errors that end the wait instead of hiding in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.sensors.oss_key import OssSensorError
from airflow_provider_oss.sensors.oss_keys_unchanged import OssKeysUnchangedSensor
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.triggers.oss_keys_unchanged import OssKeysUnchangedTrigger
from tests.doc_snippets import DOCS, snippet_naming


def _trigger(**kwargs: Any) -> OssKeysUnchangedTrigger:
    settings: dict[str, Any] = {"bucket_name": "test-bucket", "prefix": "batch/", "poke_interval": 0.05}
    return OssKeysUnchangedTrigger(**{**settings, **kwargs})


def _lists(server: LocalOssServer) -> int:
    return sum(1 for e in server.request_log() if e["op"] == "ListObjectsV2")


async def _run(
    trigger: OssKeysUnchangedTrigger,
    during: Callable[[], Coroutine[Any, Any, None]] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    """The trigger's first event, with ``during`` running beside it on the same loop."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    side = asyncio.create_task(during()) if during is not None else None
    try:
        return await asyncio.wait_for(first(), timeout)
    finally:
        await trigger.cleanup()
        if side is not None:
            side.cancel()


async def _after_polls(server: LocalOssServer, polls: int) -> None:
    while await asyncio.to_thread(_lists, server) < polls:
        await asyncio.sleep(0.02)


def test_the_sensor_polls_once_then_defers_with_its_observations(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    hook = OssHook()
    hook.load_string("1", "batch/1")
    sensor = OssKeysUnchangedSensor(
        task_id="quiet", prefix="oss://test-bucket/batch/", inactivity_period=30, deferrable=True, timeout=600
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, OssKeysUnchangedTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_oss.triggers.oss_keys_unchanged.OssKeysUnchangedTrigger"
    size, etag = kwargs["previous_objects"]["batch/1"]
    assert (size, etag) == (1, hook.head_object("batch/1").etag)
    assert before <= kwargs["last_activity"] <= time.time()  # wall clock: the triggerer continues it
    assert (kwargs["bucket_name"], kwargs["prefix"], kwargs["inactivity_period"]) == (
        "test-bucket",
        "batch/",
        30,
    )
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() == 600
    assert json.loads(json.dumps(kwargs)) == {**kwargs, "previous_objects": {"batch/1": [size, etag]}}


def test_trigger_waits_for_quiet_and_restarts_on_a_new_or_rewritten_object(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    hook = OssHook()
    hook.load_string("1", "batch/1")
    trigger = _trigger(inactivity_period=0.5)
    written: list[float] = []

    async def writer() -> None:
        await _after_polls(oss_server, 2)
        await asyncio.to_thread(hook.load_string, "2", "batch/2")
        await _after_polls(oss_server, 4)
        await asyncio.to_thread(hook.load_string, "1 rewritten", "batch/1")  # same key, new bytes
        written.append(time.time())

    event = asyncio.run(_run(trigger, writer))
    fired = time.time()
    assert event["status"] == "success" and event["message"].startswith("2 object(s) unchanged for")
    assert written and fired - written[0] >= 0.5  # the rewrite restarted the quiet period
    assert set(trigger.previous_objects or {}) == {"batch/1", "batch/2"}
    assert (trigger.previous_objects or {})["batch/1"][0] == len("1 rewritten")  # the state of the last poll


def test_trigger_needs_min_objects(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    hook = OssHook()
    hook.load_string("1", "batch/1")
    trigger = _trigger(inactivity_period=0.2, min_objects=2)

    async def writer() -> None:
        # quiet for well over the period with 1 object: still waiting
        await asyncio.sleep(0.6)
        await asyncio.to_thread(hook.load_string, "2", "batch/2")

    started = time.time()
    event = asyncio.run(_run(trigger, writer))
    assert event["status"] == "success" and time.time() - started >= 0.8
    assert event["message"].startswith("2 object(s)")


def test_trigger_with_allow_delete_false_ends_with_an_error_on_a_deletion(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    hook = OssHook()
    hook.load_string("1", "batch/1")
    hook.load_string("2", "batch/2")
    trigger = _trigger(inactivity_period=60, allow_delete=False)

    async def deleter() -> None:
        await _after_polls(oss_server, 2)
        await asyncio.to_thread(hook.delete_object, "batch/2")

    event = asyncio.run(_run(trigger, deleter))
    assert event["status"] == "error" and event["error_type"] == "RuntimeError"
    assert "were deleted while waiting (e.g. ['batch/2']) and allow_delete=False" in event["message"]
    sensor = OssKeysUnchangedSensor(task_id="quiet", prefix="batch/", deferrable=True)
    with pytest.raises(OssSensorError, match="stopped waiting: RuntimeError: 1 object"):
        sensor.execute_complete({}, event)


def test_a_trigger_rebuilt_from_its_serialized_state_continues_the_quiet_period(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    hook = OssHook()
    hook.load_string("1", "batch/1")
    first = _trigger(inactivity_period=3600)

    async def one_poll() -> None:
        event, _ = await asyncio.to_thread(first._poll)
        assert event is None
        await first.cleanup()

    asyncio.run(one_poll())
    _, kwargs = first.serialize()
    assert kwargs["previous_objects"] == {"batch/1": [1, hook.head_object("batch/1").etag]}
    # As if the triggerer restarted an hour later: the quiet period already ran.
    rebuilt = OssKeysUnchangedTrigger(**{**kwargs, "last_activity": kwargs["last_activity"] - 3600})
    polls = _lists(oss_server)
    event = asyncio.run(_run(rebuilt))
    assert event["status"] == "success" and _lists(oss_server) == polls + 1


def test_trigger_auth_error_is_an_error_event_without_the_secret(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    event = asyncio.run(_run(_trigger(inactivity_period=60)))
    assert event["status"] == "error" and event["error_type"] == "OssAuthError"
    assert "SignatureDoesNotMatch" in event["message"] and "not-the-secret" not in json.dumps(event)
    with pytest.raises(OssSensorError, match="stopped waiting: OssAuthError"):
        OssKeysUnchangedSensor(task_id="quiet", prefix="batch/", deferrable=True).execute_complete({}, event)


def test_the_deferrable_sensor_fails_on_an_auth_error_before_deferring(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oss.core.errors import OssAuthError

    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    with pytest.raises(OssAuthError):
        OssKeysUnchangedSensor(task_id="quiet", prefix="batch/", deferrable=True).execute({})


def test_execute_complete_succeeds_on_success_and_deferrable_is_checked() -> None:
    sensor = OssKeysUnchangedSensor(task_id="quiet", prefix="batch/", deferrable=True)
    sensor.execute_complete(
        {}, {"status": "success", "message": "1 object(s) unchanged for 60 s"}
    )  # no raise
    with pytest.raises(ValueError, match="deferrable must be True or False"):
        OssKeysUnchangedSensor(task_id="quiet", prefix="batch/", deferrable="yes")  # type: ignore[arg-type]


def test_the_documented_snippet_defers_against_the_server(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    oss_server.create_bucket("my-bucket")
    OssHook().load_string("part", "exports/2026-12-07/part-1", bucket_name="my-bucket")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(snippet_naming(DOCS / "OBJECTS_AND_SENSORS.md", "wait_until_quiet"))
    sensor = runpy.run_path(str(snippet))["wait_until_quiet"]
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["bucket_name"], kwargs["prefix"], kwargs["min_objects"]) == (
        "my-bucket",
        "exports/2026-12-07/",
        3,
    )
    assert list(kwargs["previous_objects"]) == ["exports/2026-12-07/part-1"]
