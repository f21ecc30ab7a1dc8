"""Progress events for every part, log lines at a bounded cadence (every 10 s or 10 %)."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_oss.upload.progress import ProgressEvent, ProgressTracker, format_eta


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_events_for_every_part_and_at_most_one_line_per_10_percent(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    events: list[ProgressEvent] = []
    logger = logging.getLogger("test.progress.percent")
    tracker = ProgressTracker(
        1000 * 100, 1000, label="oss://b/k", logger=logger, callback=events.append, clock=clock
    )
    with caplog.at_level(logging.INFO, logger=logger.name):
        for number in range(1, 1001):
            clock.now += 0.001  # fast parts: the 10 % rule decides
            tracker.part_done(number, 100)
        tracker.finish()
    assert len(events) == 1000
    assert [e.part_number for e in events] == list(range(1, 1001))
    lines = [r for r in caplog.records if r.name == logger.name]
    assert 9 <= len(lines) <= 11  # one per 10 %, plus the final line; never one per part
    assert "100.0%" in lines[-1].getMessage()
    assert events[-1].percent == 100.0
    assert events[-1].eta == 0.0


def test_time_rule_logs_every_10_seconds_for_slow_uploads(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.progress.time")
    tracker = ProgressTracker(10_000, 10_000, label="x", logger=logger, clock=clock)
    with caplog.at_level(logging.INFO, logger=logger.name):
        for number in range(1, 101):  # 1 % in 100 s: only the time rule fires
            clock.now += 1.0
            tracker.part_done(number, 1)
    lines = [r for r in caplog.records if r.name == logger.name]
    assert len(lines) == 10


def test_event_numbers_rate_and_eta() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(4_000_000, 4, clock=clock)
    tracker.part_done(1, 1_000_000, reused=True)
    clock.now += 2.0
    event = tracker.part_done(2, 1_000_000)
    assert (event.bytes_done, event.bytes_sent, event.bytes_reused) == (2_000_000, 1_000_000, 1_000_000)
    assert (event.parts_done, event.parts_total) == (2, 4)
    assert event.percent == 50.0
    assert event.rate == pytest.approx(500_000.0)
    assert event.rate_mb_s == pytest.approx(0.5)
    assert event.eta == pytest.approx(4.0)
    data = event.to_dict()
    assert data["percent"] == 50.0 and data["rate_mb_s"] == 0.5 and data["reused"] is False


def test_eta_unknown_before_any_byte_is_sent() -> None:
    tracker = ProgressTracker(100, 2, clock=FakeClock())
    event = tracker.part_done(1, 50, reused=True)
    assert event.eta is None
    assert format_eta(event.eta) == "?"


def test_callback_errors_propagate() -> None:
    def boom(event: ProgressEvent) -> None:
        raise RuntimeError("callback failed")

    tracker = ProgressTracker(10, 1, callback=boom, clock=FakeClock())
    with pytest.raises(RuntimeError, match="callback failed"):
        tracker.part_done(1, 10)


def test_format_eta() -> None:
    assert format_eta(5.2) == "5s"
    assert format_eta(125) == "2m05s"
    assert format_eta(3723) == "1h02m03s"


def test_empty_upload_is_100_percent() -> None:
    assert ProgressTracker(0, 0, clock=FakeClock()).event().percent == 100.0
