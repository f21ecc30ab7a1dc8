"""
OssKeySensor's oss:// URLs, check_fn and wildcards, and OssKeyTrigger run on an asyncio loop,
against the local OSS server over real HTTP; wrong secrets and missing buckets fail instead of waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest

from airflow_provider_oss.core.errors import OssAuthError, OssClientError, OssNotFoundError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.sensors.oss_key import OssKeySensor, OssSensorError
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.triggers.oss import OssKeyTrigger


def _sensor(**kwargs: Any) -> OssKeySensor:
    return OssKeySensor(task_id="wait", **kwargs)


def _poke(sensor: OssKeySensor) -> bool:
    return sensor.poke({})


def _wrong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))


def test_full_oss_url_matches(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    oss_server.create_bucket("landing")
    sensor = _sensor(bucket_key="oss://landing/in/a.csv")
    assert _poke(sensor) is False
    OssHook().load_string("a", "in/a.csv", "landing")
    assert _poke(sensor) is True
    # The key exists only in "landing", not in the connection's default bucket.
    assert _poke(_sensor(bucket_key="in/a.csv")) is False
    assert _poke(
        _sensor(bucket_key=["oss://landing/in/a.csv", "oss://landing/in/*.csv"], wildcard_match=True)
    )


def test_url_with_conflicting_bucket_or_no_key_is_refused(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    with pytest.raises(OssClientError, match="names bucket 'landing' but bucket_name='test-bucket'"):
        _poke(_sensor(bucket_key="oss://landing/a", bucket_name="test-bucket"))
    with pytest.raises(ValueError, match="names a bucket but no key"):
        _poke(_sensor(bucket_key="oss://landing/"))


def test_missing_bucket_fails_instead_of_waiting(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    with pytest.raises(OssNotFoundError, match="NoSuchBucket"):
        _poke(_sensor(bucket_key="oss://no-such-bucket/a"))
    with pytest.raises(OssNotFoundError, match="NoSuchBucket"):
        _poke(_sensor(bucket_key="oss://no-such-bucket/*.csv", wildcard_match=True))


def test_check_fn_sees_metadata_of_exact_keys(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    seen: list[list[dict[str, Any]]] = []

    def complete(files: list[dict[str, Any]]) -> bool:
        seen.append(files)
        return all(f["metadata"].get("state") == "complete" for f in files)

    sensor = _sensor(bucket_key="in/data.csv", check_fn=complete)
    hook = OssHook()
    hook.load_string("partial", "in/data.csv", options=ObjectOptions(metadata={"state": "writing"}))
    assert _poke(sensor) is False
    hook.load_string("full data", "in/data.csv", options=ObjectOptions(metadata={"state": "complete"}))
    assert _poke(sensor) is True
    record = seen[-1][0]
    assert record["bucket"] == "test-bucket" and record["key"] == "in/data.csv"
    assert record["size"] == 9 and record["crc64"] == oss_server.stored_crc64("test-bucket", "in/data.csv")
    assert record["last_modified"].endswith("+00:00")
    json.dumps(seen)  # what a trigger event carries must be JSON


def test_check_fn_on_wildcard_matches(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    sensor = _sensor(bucket_key="in/part-*", wildcard_match=True, check_fn=lambda files: len(files) >= 3)
    hook = OssHook()
    for i in range(2):
        hook.load_string("x", f"in/part-{i}")
    hook.load_string("x", "in/other")
    assert _poke(sensor) is False
    hook.load_string("x", "in/sub/part-9")  # not "in/part-*"
    assert _poke(sensor) is False
    hook.load_string("x", "in/part-2")
    assert _poke(sensor) is True


def test_check_fn_must_be_callable() -> None:
    with pytest.raises(ValueError, match="check_fn must be callable"):
        _sensor(bucket_key="k", check_fn="yes")


def test_trigger_serialises_and_round_trips() -> None:
    trigger = OssKeyTrigger(
        [("b", "k"), ("c", "p/*")], wildcard_match=True, oss_conn_id="c1", poke_interval=5
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_oss.triggers.oss.OssKeyTrigger"
    json.dumps(kwargs)
    again = OssKeyTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert again.targets == [("b", "k"), ("c", "p/*")]


async def _first_event(trigger: OssKeyTrigger, timeout: float) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    try:
        return await asyncio.wait_for(first(), timeout)
    finally:
        await trigger.cleanup()


def test_trigger_polls_off_the_event_loop_until_the_key_exists(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    """
    Every HEAD is slowed by 0.8 s; a ticker on the same loop keeps ticking while each HEAD is in
    flight, so polls never block it. (A poll on the loop itself would allow no tick at all inside a
    HEAD's window: the check counts ticks, it does not time them.)
    """
    oss_server.add_fault("HeadObject", "delay", delay=0.8, times=1000)
    trigger = OssKeyTrigger([("test-bucket", "late/key")], poke_interval=0.1)
    ticks: list[float] = []

    async def scenario() -> dict[str, Any]:
        async def ticker() -> None:
            while True:
                ticks.append(time.time())
                await asyncio.sleep(0.02)

        async def writer() -> None:
            # the key appears once three polls have answered 404 (not after a fixed time: a slow
            # start of the trigger under load would leave fewer polls before it)
            while await asyncio.to_thread(_heads_answered) < 3:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(OssHook().load_string, "v", "late/key")

        def _heads_answered() -> int:
            return sum(1 for e in oss_server.request_log() if e["op"] == "HeadObject")

        tick = asyncio.create_task(ticker())
        write = asyncio.create_task(writer())
        try:
            return await _first_event(trigger, 20)
        finally:
            tick.cancel()
            await write

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert [f["key"] for f in event["files"]] == ["late/key"]
    heads = [e for e in oss_server.request_log() if e["op"] == "HeadObject"]
    assert len(heads) >= 3  # it polled several times before the key appeared
    for head in heads:
        inside = [t for t in ticks if head["time"] < t < head["time"] + head["duration"]]
        assert len(inside) >= 2, (head, len(inside))  # the loop ran while this HEAD was in flight


def test_trigger_auth_error_is_an_error_event(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wrong_secret(monkeypatch)
    event = asyncio.run(_first_event(OssKeyTrigger([("test-bucket", "k")], poke_interval=0.05), 20))
    assert event["status"] == "error"
    assert event["error_type"] == "OssAuthError" and "SignatureDoesNotMatch" in event["message"]
    assert "not-the-secret" not in json.dumps(event)


def test_execute_complete_fails_on_error_and_redefers_when_check_fn_says_no(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    sensor = _sensor(bucket_key="k", deferrable=True, check_fn=lambda files: False, poke_interval=7)
    with pytest.raises(OssSensorError, match="stopped waiting: OssAuthError: bad"):
        sensor.execute_complete({}, {"status": "error", "error_type": "OssAuthError", "message": "bad"})
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute_complete({}, {"status": "success", "files": [{"key": "k"}]})
    trigger = deferred.value.trigger
    assert isinstance(trigger, OssKeyTrigger)
    assert trigger.wait_first is True and trigger.poke_interval == 7  # no busy loop with the triggerer


def test_deferrable_sensor_defers_only_when_missing(
    oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    sensor = _sensor(bucket_key="oss://test-bucket/d/k", deferrable=True, timeout=120)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.trigger.serialize()[1]["targets"] == [["test-bucket", "d/k"]]
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() == 120
    OssHook().load_string("v", "d/k")
    assert sensor.execute({}) is None  # present: no deferral at all


def test_deferrable_auth_error_fails_before_deferring(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wrong_secret(monkeypatch)
    with pytest.raises(OssAuthError):
        _sensor(bucket_key="k", deferrable=True).execute({})
