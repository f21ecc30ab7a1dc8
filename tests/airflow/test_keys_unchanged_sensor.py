"""OssKeysUnchangedSensor against the local OSS server, and its InactivityTracker on a fake clock."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_oss.core.keywatch import InactivityTracker
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.sensors.oss_keys_unchanged import OssKeysUnchangedSensor
from airflow_provider_oss.testing import LocalOssServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tracker_waits_for_the_quiet_period_and_min_objects() -> None:
    clock = FakeClock()
    tracker = InactivityTracker(inactivity_period=60, min_objects=2, clock=clock)
    assert tracker.observe({"a": (1, "e1")})[0] is False  # first look
    clock.now += 59
    assert tracker.observe({"a": (1, "e1")}) == (False, "1 object(s), unchanged for 59 of 60 s")
    clock.now += 1
    complete, why = tracker.observe({"a": (1, "e1")})
    assert not complete and "only 1 of min_objects=2" in why
    clock.now += 10
    assert tracker.observe({"a": (1, "e1"), "b": (2, "e2")})[0] is False  # new object: restart
    clock.now += 59
    assert tracker.observe({"a": (1, "e1"), "b": (2, "e2")})[0] is False
    clock.now += 1
    assert tracker.observe({"a": (1, "e1"), "b": (2, "e2")}) == (True, "2 object(s) unchanged for 60 s")


def test_tracker_counts_a_rewrite_and_a_delete_as_activity() -> None:
    clock = FakeClock()
    tracker = InactivityTracker(inactivity_period=10, clock=clock)
    tracker.observe({"a": (1, "e1"), "b": (1, "e1")})
    clock.now += 9
    complete, why = tracker.observe({"a": (5, "e9"), "b": (1, "e1")})
    assert not complete and why.startswith("activity: 0 new, 1 rewritten, 0 deleted")
    clock.now += 9
    complete, why = tracker.observe({"a": (5, "e9")})
    assert not complete and "1 deleted" in why
    strict = InactivityTracker(inactivity_period=10, allow_delete=False, clock=clock)
    strict.observe({"a": (1, "e1")})
    with pytest.raises(RuntimeError, match=r"1 object\(s\) were deleted while waiting .*allow_delete=False"):
        strict.observe({})


def _sensor(**kwargs: Any) -> OssKeysUnchangedSensor:
    return OssKeysUnchangedSensor(task_id="quiet", **kwargs)


def test_sensor_against_the_server(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    hook = OssHook()
    sensor = _sensor(prefix="oss://test-bucket/batch/", inactivity_period=0.6, min_objects=2)
    hook.load_string("1", "batch/1")
    hook.load_string("other", "elsewhere/x")
    assert sensor.poke({}) is False
    time.sleep(0.7)
    assert sensor.poke({}) is False  # quiet, but 1 < min_objects
    hook.load_string("2", "batch/2")
    assert sensor.poke({}) is False  # activity
    time.sleep(0.3)
    hook.load_string("2 rewritten", "batch/2")  # same key, new bytes: still being written
    assert sensor.poke({}) is False
    time.sleep(0.7)
    assert sensor.poke({}) is True


def test_previous_objects_count_as_already_seen(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    hook = OssHook()
    hook.load_string("1", "p/1")
    sensor = _sensor(prefix="p/", inactivity_period=0.3, previous_objects={"p/1"})
    assert sensor.poke({}) is False  # quiet period starts now
    time.sleep(0.4)
    assert sensor.poke({}) is True
    fresh = _sensor(prefix="p/", inactivity_period=0.3, previous_objects=set())
    assert fresh.poke({}) is False  # p/1 is new compared to the empty set


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "reschedule"}, "mode='reschedule' would lose the observations"),
        ({"inactivity_period": -1}, "inactivity_period must be a non-negative number"),
        ({"min_objects": 1.5}, "min_objects must be a non-negative int"),
        ({"prefix": None}, "prefix must be a string"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _sensor(**{"prefix": "p/", **kwargs})
