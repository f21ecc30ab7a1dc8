"""
One upload in its own process (``python -m benchmarks.child``), so that its memory and CPU are its own.

Reads a JSON spec (the :class:`~benchmarks.clients.Target` fields plus ``client``) from stdin (the
secret never goes on the command line), imports the client's library, notes the baseline RSS, runs
the upload and prints one JSON line: ``seconds``, ``cpu_user``, ``cpu_sys``, ``baseline_rss``,
``peak_rss`` (bytes), ``peak_source`` and ``crc64`` (as the client reported it).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.clients import CLIENTS, Target


def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def run_measured(client: str, transfer: Callable[[], int | None]) -> dict[str, Any]:
    """
    Run one transfer in this process and measure it: wall seconds, CPU seconds (user, system and
    their sum), the RSS before it and its peak (bytes; ``VmHWM`` reset first where Linux allows),
    and the CRC-64 it returned.

    :param client: the client's name, echoed in the result.
    :param transfer: the transfer, already prepared; returns the CRC-64 its client reported.
    """
    reset = _reset_peak()
    baseline_kib = _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    crc = transfer()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    hwm = _status_kib("VmHWM") if reset else None
    peak_kib = hwm if hwm is not None else after.ru_maxrss
    cpu_user = after.ru_utime - before.ru_utime
    cpu_sys = after.ru_stime - before.ru_stime
    return {
        "client": client,
        "seconds": seconds,
        "cpu_user": cpu_user,
        "cpu_sys": cpu_sys,
        "cpu": cpu_user + cpu_sys,
        "baseline_rss": baseline_kib * 1024,
        "peak_rss": peak_kib * 1024,
        "peak_source": "VmHWM" if hwm is not None else "ru_maxrss",
        "crc64": crc,
    }


def measure(client: str, target: Target) -> dict[str, Any]:
    """
    Run one upload and measure it (see :func:`run_measured`).

    :param client: a key of :data:`~benchmarks.clients.CLIENTS`.
    :param target: where and how to upload.
    """
    _, prepare, upload = CLIENTS[client]
    prepare()
    return run_measured(client, lambda: upload(target))


def main() -> int:
    """Read the spec from stdin, run, print the JSON result line."""
    spec = json.load(sys.stdin)
    client = spec.pop("client")
    if client not in CLIENTS:
        raise SystemExit(f"unknown client {client!r}; expected one of {', '.join(CLIENTS)}")
    result = measure(client, Target(**spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
