"""
What a SIGKILL costs a download (part of ``python -m benchmarks.download``): a download in its own
process is killed once the server has sent 25 %, 50 % and 75 % of its ranges, then a new process
finishes it with the same file checkpoint; the bytes fetched again (ranges the server had already
sent to the killed process) are counted from the server's request log and compared with
``parallelism x range size`` (the ranges in flight), with the range journal on and off.

Run as ``python -m benchmarks.download_kills`` it is the child: one download from a JSON spec on
stdin (the :class:`~benchmarks.download_clients.DownloadTarget` fields plus ``checkpoint_dir`` and
``journal``), printing one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any

from airflow_provider_oss.testing.server import LocalOssServer
from benchmarks.download_clients import DownloadTarget
from benchmarks.run import REPO_ROOT, BenchmarkError, run_module

#: The kill points, in percent of the ranges the server has sent.
KILL_POINTS = (25, 50, 75)


def _served(server: LocalOssServer, key: str, part_size: int, after_seq: int) -> dict[int, int]:
    """Range number -> bytes of the ranged GETs of ``key`` answered 206 after ``after_seq``."""
    served = {}
    for entry in server.request_log():
        ours = entry["seq"] > after_seq and entry["op"] == "GetObject" and entry["key"] == key
        if ours and entry["status"] == 206 and entry["range"]:
            first, _, last = entry["range"].removeprefix("bytes=").partition("-")
            served[int(first) // part_size + 1] = int(last) - int(first) + 1
    return served


def _last_seq(server: LocalOssServer) -> int:
    return max((e["seq"] for e in server.request_log()), default=0)


def _kill_at(server: LocalOssServer, spec: dict[str, Any], ranges: int, percent: int) -> None:
    mark = _last_seq(server)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.download_kills"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        env=env,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec))
    proc.stdin.close()
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if len(_served(server, spec["key"], spec["part_size"], mark)) * 100 >= ranges * percent:
            break
        time.sleep(0.005)
    if proc.poll() is not None:
        raise BenchmarkError(f"the download ended before the kill at {percent} % (exit {proc.returncode})")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    time.sleep(0.3)  # let the server log the ranges cut by the kill


def kill_and_retry(
    server: LocalOssServer, target: DownloadTarget, checkpoint_dir: str, *, percent: int, journal: bool
) -> dict[str, Any]:
    """
    Kill a download of ``target`` at ``percent`` % of its ranges, finish it in a new process.

    :return: ``percent``, ``journal``, ``sent`` (ranges sent to the killed process), ``refetched``
        (of those, ranges fetched again), ``bytes_refetched`` and ``bound`` (parallelism x range size).
    """
    spec = {**asdict(target), "checkpoint_dir": checkpoint_dir, "journal": journal}
    ranges = -(-_object_size(server, target) // target.part_size)
    mark = _last_seq(server)
    _kill_at(server, spec, ranges, percent)
    first = _served(server, target.key, target.part_size, mark)
    retry_mark = _last_seq(server)
    run_module("benchmarks.download_kills", spec, 900, f"the retry after the kill at {percent} %")
    again = _served(server, target.key, target.part_size, retry_mark)
    refetched = set(again) & set(first)
    os.unlink(target.path)
    return {
        "percent": percent,
        "journal": journal,
        "sent": len(first),
        "refetched": len(refetched),
        "bytes_refetched": sum(again[n] for n in refetched),
        "bound": target.parallelism * target.part_size,
    }


def _object_size(server: LocalOssServer, target: DownloadTarget) -> int:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig

    config = ClientConfig(region=server.region, endpoint=server.endpoint, addressing_style="path")
    with OssClient(server.credentials, config) as client:
        return client.head_object(target.bucket, target.key).size


def journal_seconds(directory: str, ranges: int, rounds: int = 20) -> float:
    """
    The journal's own time for one download of ``ranges`` ranges, measured directly (the median of
    ``rounds``): :meth:`Journal.start` (its write, fsync and rename) plus one append per range plus
    one ``fdatasync``, in ``directory``. Steadier than the difference of two download medians.
    """
    from airflow_provider_oss.core.journal import Journal, binding_digest, remove_journal

    path = os.path.join(directory, "bench.ossjournal")
    binding = binding_digest("bench")
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        journal = Journal.start(path, binding, {})
        for number in range(1, ranges + 1):
            journal.append(number, (number * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
        journal.sync()
        journal.close()
        times.append(time.perf_counter() - started)
        remove_journal(path)
    return sorted(times)[len(times) // 2]


def report_kills(rows: list[dict[str, Any]], mib: int) -> list[str]:
    """The markdown table of :func:`kill_and_retry` rows."""
    lines = [
        "| killed at | journal | ranges sent before the kill | fetched again | MiB fetched again | "
        "parallelism x range size MiB | within |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        within = row["bytes_refetched"] <= row["bound"]
        lines.append(
            f"| {row['percent']} % | {'on' if row['journal'] else 'off'} | {row['sent']} | {row['refetched']} | "
            f"{row['bytes_refetched'] / mib:.0f} | {row['bound'] / mib:.0f} | {'yes' if within else 'no'} |"
        )
    return lines


def _child() -> int:
    """One download from the JSON spec on stdin (the parent kills it or lets it finish)."""
    from benchmarks.download_clients import download_ours

    spec = json.load(sys.stdin)
    checkpoint_dir, journal = spec.pop("checkpoint_dir"), spec.pop("journal")
    crc = download_ours(DownloadTarget(**spec), journal=journal, checkpoint_dir=checkpoint_dir)
    print(json.dumps({"crc64": crc}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
