"""
One download in its own process (``python -m benchmarks.download_child``), so that its memory and
CPU are its own. Reads a JSON spec (the :class:`~benchmarks.download_clients.DownloadTarget` fields
plus ``client``) from stdin and prints one JSON line: ``seconds``, ``cpu``, ``baseline_rss``,
``peak_rss`` and ``crc64`` (as the client verified it).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from benchmarks.child import _reset_peak, _status_kib
from benchmarks.download_clients import CLIENTS, DownloadTarget


def measure(client: str, target: DownloadTarget) -> dict[str, Any]:
    """
    Run one download and measure it.

    :param client: a key of :data:`~benchmarks.download_clients.CLIENTS`.
    :param target: what to download and how.
    """
    _, prepare, download = CLIENTS[client]
    prepare()
    reset = _reset_peak()
    baseline_kib = _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    crc = download(target)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    hwm = _status_kib("VmHWM") if reset else None
    return {
        "client": client,
        "seconds": seconds,
        "cpu": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
        "baseline_rss": baseline_kib * 1024,
        "peak_rss": (hwm if hwm is not None else after.ru_maxrss) * 1024,
        "crc64": crc,
    }


def main() -> int:
    """Read the spec from stdin, run, print the JSON result line."""
    spec = json.load(sys.stdin)
    client = spec.pop("client")
    if client not in CLIENTS:
        raise SystemExit(f"unknown client {client!r}; expected one of {', '.join(CLIENTS)}")
    print(json.dumps(measure(client, DownloadTarget(**spec))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
