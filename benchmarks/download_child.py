"""
One download in its own process (``python -m benchmarks.download_child``), so that its memory and
CPU are its own. Reads a JSON spec (the :class:`~benchmarks.download_clients.DownloadTarget` fields
plus ``client``) from stdin and prints one JSON line: ``seconds``, ``cpu``, ``baseline_rss``,
``peak_rss`` and ``crc64`` (as the client verified it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks.child import run_measured
from benchmarks.download_clients import CLIENTS, DownloadTarget


def measure(client: str, target: DownloadTarget) -> dict[str, Any]:
    """
    Run one download and measure it (see :func:`~benchmarks.child.run_measured`).

    :param client: a key of :data:`~benchmarks.download_clients.CLIENTS`.
    :param target: what to download and how.
    """
    _, prepare, download = CLIENTS[client]
    prepare()
    return run_measured(client, lambda: download(target))


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
