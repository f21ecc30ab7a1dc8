"""
Progress of an upload: a :class:`ProgressEvent` for every finished part (for library callbacks),
and a log line at a bounded cadence (every 10 s or every 10 %, whichever comes first; never one
line per part).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

MB = 1_000_000
MiB = 1024 * 1024


@dataclass(frozen=True)
class ProgressEvent:
    """
    Where an upload stands.

    :param bytes_done: bytes on the server (sent by this try, or reused from an earlier one).
    :param bytes_total: the file size.
    :param parts_done: parts on the server.
    :param parts_total: parts in the plan.
    :param bytes_sent: bytes sent by this try.
    :param bytes_reused: bytes reused from parts an earlier try had stored.
    :param elapsed: seconds since this try started sending.
    :param rate: bytes per second sent by this try (0 before the first part).
    :param eta: estimated seconds left, or None when unknown.
    :param part_number: the part that just finished (None for the start and end events).
    :param reused: whether that part was reused rather than sent.
    """

    bytes_done: int
    bytes_total: int
    parts_done: int
    parts_total: int
    bytes_sent: int
    bytes_reused: int
    elapsed: float
    rate: float
    eta: float | None
    part_number: int | None = None
    reused: bool = False

    @property
    def percent(self) -> float:
        """Done, in percent of the bytes (100 for an empty file)."""
        return 100.0 if self.bytes_total == 0 else 100.0 * self.bytes_done / self.bytes_total

    @property
    def rate_mb_s(self) -> float:
        """The send rate in MB/s (10^6 bytes)."""
        return self.rate / MB

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with ``percent`` and ``rate_mb_s``."""
        data = asdict(self)
        data["percent"] = round(self.percent, 2)
        data["rate_mb_s"] = round(self.rate_mb_s, 3)
        return data


def format_eta(seconds: float | None) -> str:
    """``1h02m03s`` / ``2m03s`` / ``5s``, or ``?`` when unknown."""
    if seconds is None:
        return "?"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class ProgressTracker:
    """
    Counts finished parts, calls ``callback`` with a :class:`ProgressEvent` for each, and logs a
    line when ``log_interval`` seconds or ``log_step_percent`` percent have passed since the last
    line. Not thread-safe: the upload engine calls it from the thread that runs the upload.

    :param bytes_total: the file size.
    :param parts_total: parts in the plan.
    :param label: how log lines name the upload (``oss://bucket/key``).
    :param logger: where the lines go (default: this module's logger).
    :param callback: called with every event; its exceptions propagate (and fail the upload).
    :param log_interval: seconds between log lines at most.
    :param log_step_percent: percent between log lines at most.
    :param clock: the monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        bytes_total: int,
        parts_total: int,
        *,
        label: str = "",
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        callback: Callable[[ProgressEvent], None] | None = None,
        log_interval: float = 10.0,
        log_step_percent: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bytes_total = bytes_total
        self.parts_total = parts_total
        self.label = label
        self.logger = logger or log
        self.callback = callback
        self.log_interval = log_interval
        self.log_step_percent = log_step_percent
        self.clock = clock
        self.started = clock()
        self.bytes_sent = 0
        self.bytes_reused = 0
        self.parts_sent = 0
        self.parts_reused = 0
        self.log_lines = 0
        self._last_log_time = self.started
        self._last_log_percent = 0.0

    @property
    def bytes_done(self) -> int:
        """Bytes sent plus bytes reused."""
        return self.bytes_sent + self.bytes_reused

    @property
    def parts_done(self) -> int:
        """Parts sent plus parts reused."""
        return self.parts_sent + self.parts_reused

    def event(self, part_number: int | None = None, reused: bool = False) -> ProgressEvent:
        """The current state as an event."""
        elapsed = max(self.clock() - self.started, 0.0)
        rate = self.bytes_sent / elapsed if elapsed > 0 else 0.0
        remaining = self.bytes_total - self.bytes_done
        if remaining <= 0:
            eta: float | None = 0.0
        elif rate > 0:
            eta = remaining / rate
        else:
            eta = None
        return ProgressEvent(
            bytes_done=self.bytes_done,
            bytes_total=self.bytes_total,
            parts_done=self.parts_done,
            parts_total=self.parts_total,
            bytes_sent=self.bytes_sent,
            bytes_reused=self.bytes_reused,
            elapsed=elapsed,
            rate=rate,
            eta=eta,
            part_number=part_number,
            reused=reused,
        )

    def part_done(
        self, part_number: int, size: int, *, reused: bool = False, log: bool = True
    ) -> ProgressEvent:
        """
        Record a finished part, call the callback, and log if a line is due.

        :param part_number: the part.
        :param size: its size.
        :param reused: True when an earlier try had stored it and it was reused.
        :param log: False to count it without logging (a batch settled at once: call :meth:`log_now`).
        """
        if reused:
            self.bytes_reused += size
            self.parts_reused += 1
        else:
            self.bytes_sent += size
            self.parts_sent += 1
        event = self.event(part_number, reused)
        now = self.started + event.elapsed
        if (
            log
            and (
                now - self._last_log_time >= self.log_interval
                or event.percent - self._last_log_percent >= self.log_step_percent
            )
            and event.parts_done < self.parts_total
        ):
            self._log(event)
            self._last_log_time = now
            self._last_log_percent = event.percent
        if self.callback is not None:
            self.callback(event)
        return event

    def log_now(self) -> ProgressEvent:
        """Log a line now (after a batch counted with ``log=False``); the next one is due from here."""
        event = self.event()
        self._log(event)
        self._last_log_time = self.started + event.elapsed
        self._last_log_percent = event.percent
        return event

    def finish(self) -> ProgressEvent:
        """Log the final line (always) and return the final event."""
        event = self.event()
        self._log(event)
        return event

    def _log(self, event: ProgressEvent) -> None:
        self.log_lines += 1
        # Sizes in MiB and rates in MiB/s; before the first sent part, no rate is known (not "0.0, ETA ?").
        pace = (
            f"{event.rate / MiB:.1f} MiB/s, ETA {format_eta(event.eta)}"
            if event.bytes_sent
            else ("done" if event.eta == 0 else "no part sent yet")
        )
        self.logger.info(
            "Upload %s: %.1f%% (%.1f of %.1f MiB, %d of %d parts; %.1f MiB reused), %s",
            self.label,
            event.percent,
            event.bytes_done / MiB,
            event.bytes_total / MiB,
            event.parts_done,
            event.parts_total,
            event.bytes_reused / MiB,
            pace,
        )
