"""
Compare resumable download clients side by side against one local OSS server
(``python -m benchmarks.download``).

The same random object is downloaded with the same part size and parallelism by this project's
:class:`~airflow_provider_oss.download.ResumableDownloader`, the ``alibabacloud-oss-v2``
Downloader, ``oss2.resumable_download`` and a "limit" client (plain ``requests`` ranged GETs, no
checksum: the ceiling). The server runs in its own process; each download runs in its own child
process, interleaved (A B C D A B C D ...), into a memory-backed directory when there is room (so
disk writeback does not blur the figures). Every file is checked (its CRC-64 against the object's)
and deleted. Prints a markdown table of medians, the ratios and whether the targets hold
(>= 1.5x both SDKs, >= 0.8x the limit client, our extra memory <= parallelism x part size).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.testing.server import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, ResumableUploader, TransferConfig
from benchmarks.download_clients import CHECKS_CRC, CLIENTS, DownloadTarget
from benchmarks.download_kills import KILL_POINTS, journal_seconds, kill_and_retry, report_kills
from benchmarks.machine import describe
from benchmarks.run import BenchmarkError, default_work_root, make_file, run_module

MIB = 1024 * 1024
BUCKET = "bench"
KEY = "bench/download.bin"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _upload(server: LocalOssServer, source: Path) -> int | None:
    config = ClientConfig(
        region=server.region, endpoint=server.endpoint, addressing_style="path", pool_size=5
    )
    with OssClient(server.credentials, config) as client:
        result = ResumableUploader(
            client,
            BUCKET,
            KEY,
            source,
            config=TransferConfig(part_size=16 * MIB, parallelism=4),
            checkpoint_store=MemoryCheckpointStore(),
        ).run()
    return result.crc64


def _target(server: LocalOssServer, path: Path, part_size: int, parallelism: int) -> DownloadTarget:
    return DownloadTarget(
        endpoint=server.endpoint,
        region=server.region,
        access_key_id=server.access_key_id,
        access_key_secret=server.access_key_secret,
        bucket=BUCKET,
        key=KEY,
        path=str(path),
        part_size=part_size,
        parallelism=parallelism,
    )


def _one(client: str, target: DownloadTarget, expected: int) -> dict[str, Any]:
    result = run_module(
        "benchmarks.download_child", {"client": client, **asdict(target)}, 900, f"the {client} download"
    )
    got = crc64.crc64_of_file(target.path)
    os.unlink(target.path)
    if got != expected:
        raise BenchmarkError(f"the {client} download produced a file with CRC-64 {got}, not {expected}")
    if result["crc64"] is not None and result["crc64"] != expected:
        raise BenchmarkError(f"the {client} download reported CRC-64 {result['crc64']}, not {expected}")
    return result


def measure(
    size: int,
    part_size: int,
    parallelism: int,
    repeat: int,
    clients: tuple[str, ...] = tuple(CLIENTS),
    *,
    kills: bool = False,
) -> dict[str, Any]:
    """
    Download one ``size``-byte object ``repeat`` times with every client, interleaved.

    :param kills: also kill our download at 25/50/75 % of its ranges, with the journal on and off
        (:mod:`benchmarks.download_kills`), into ``kills``.
    :return: ``rows`` (per client: median seconds, MB/s, CPU, extra peak RSS), ``ratios`` (ours vs
        each other client, by median time), ``journal_cost`` (ours vs ours with the journal off, as a
        fraction of time), ``kills`` and ``memory_bound`` (parallelism x part size).
    """
    work_root = default_work_root(size)
    with tempfile.TemporaryDirectory(prefix="oss-download-bench-", dir=work_root) as work:
        source = Path(work) / "source.bin"
        expected = make_file(source, size)
        with LocalOssServer.spawn(
            buckets=[BUCKET], etag_mode="crc", root_dir=str(Path(work) / "server")
        ) as server:
            if _upload(server, source) != expected:
                raise BenchmarkError("the uploaded object's CRC-64 is not the file's")
            source.unlink()
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
            for round_number in range(repeat):
                for name in clients:
                    result = _one(
                        name, _target(server, Path(work) / f"{name}.bin", part_size, parallelism), expected
                    )
                    runs[name].append(result)
                    _log(f"round {round_number + 1}/{repeat} {name}: {result['seconds']:.3f} s")
            journal_own = journal_seconds(work, -(-size // part_size))
            kill_rows = []
            for percent in KILL_POINTS if kills else ():
                for journal in (True, False):
                    target = _target(server, Path(work) / "killed.bin", part_size, parallelism)
                    row = kill_and_retry(
                        server, target, str(Path(work) / "ckpt"), percent=percent, journal=journal
                    )
                    kill_rows.append(row)
                    _log(
                        f"kill at {percent} % (journal {'on' if journal else 'off'}): {row['refetched']} range(s) again"
                    )
    rows = {}
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        rows[name] = {
            "client": CLIENTS[name][0],
            "seconds": seconds,
            "mb_s": size / seconds / 1e6,
            "cpu": statistics.median(r["cpu"] for r in results),
            "extra_rss": statistics.median(max(0, r["peak_rss"] - r["baseline_rss"]) for r in results),
            "verified": CHECKS_CRC[name],
        }
    ours = rows["ours"]["seconds"] if "ours" in rows else None
    ratios = {
        name: row["seconds"] / ours
        for name, row in rows.items()
        if ours and name not in ("ours", "ours-nojournal")
    }
    journal_cost = (
        rows["ours"]["seconds"] / rows["ours-nojournal"]["seconds"] - 1 if "ours-nojournal" in rows else None
    )
    return {
        "size": size,
        "part_size": part_size,
        "parallelism": parallelism,
        "repeat": repeat,
        "work_root": work_root or tempfile.gettempdir(),
        "rows": rows,
        "ratios": ratios,
        "journal_cost": journal_cost,
        "kills": kill_rows,
        "journal_seconds": journal_own,
        "memory_bound": parallelism * part_size,
    }


def report(figures: dict[str, Any]) -> list[str]:
    """The markdown table, the ratios and the targets."""
    lines = [
        "| client | median s | MB/s | CPU s | extra peak RSS MiB | checks CRC-64 |",
        "|---|---|---|---|---|---|",
    ]
    for row in figures["rows"].values():
        lines.append(
            f"| {row['client']} | {row['seconds']:.3f} | {row['mb_s']:.0f} | {row['cpu']:.2f} | "
            f"{row['extra_rss'] / MIB:.1f} | {'yes' if row['verified'] else 'no'} |"
        )
    ratios = figures["ratios"]
    lines.append("")
    lines += [f"- ours vs {name}: {ratio:.2f}x (its median time / ours)" for name, ratio in ratios.items()]
    ours = figures["rows"].get("ours")
    checks = []
    for name, floor in (("v2", 1.5), ("oss2", 1.5), ("limit", 0.8)):
        if name in ratios:
            checks.append(f"{'PASS' if ratios[name] >= floor else 'MISS'} >= {floor}x {name}")
    if ours is not None:
        bound = figures["memory_bound"]
        checks.append(
            f"{'PASS' if ours['extra_rss'] <= bound else 'MISS'} our extra peak RSS "
            f"{ours['extra_rss'] / MIB:.1f} MiB <= parallelism x part size {bound / MIB:.0f} MiB"
        )
    if figures.get("journal_cost") is not None:
        cost = figures["journal_cost"]
        lines.append(
            f"- the range journal's cost: ours {cost * 100:+.1f} % time vs the same with the journal off "
            "(medians, interleaved in this run)"
        )
        own = figures["journal_seconds"]
        share = own / figures["rows"]["ours"]["seconds"]
        lines.append(
            f"- the journal's own work per download (start + fsync, one append per range, one fdatasync), "
            f"timed directly: {own * 1000:.2f} ms = {share * 100:.2f} % of our median time"
        )
        checks.append(
            f"{'PASS' if cost <= 0.03 else 'MISS'} journal cost {cost * 100:+.1f} % <= 3 % (end to end); "
            f"{'PASS' if share <= 0.03 else 'MISS'} its own work {share * 100:.2f} % <= 3 %"
        )
    if figures.get("kills"):
        lines += ["", "Bytes fetched again after a SIGKILL (a new process finishes the download):", ""]
        lines += report_kills(figures["kills"], MIB)
        within = all(row["bytes_refetched"] <= row["bound"] for row in figures["kills"] if row["journal"])
        checks.append(f"{'PASS' if within else 'MISS'} journal on: fetched again <= parallelism x range size")
    lines += ["", "Targets: " + "; ".join(checks)]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run and print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--part-size-mb", type=int, default=8)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 MiB in 4 MiB parts, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.part_size_mb, args.repeat = 64, 4, 2
    started = time.monotonic()
    figures = measure(args.size_mb * MIB, args.part_size_mb * MIB, args.parallelism, args.repeat, kills=True)
    print(*describe(), sep="\n")
    print(
        f"- download of one {args.size_mb} MiB object, {args.part_size_mb} MiB ranges, parallelism "
        f"{args.parallelism}; LocalOssServer.spawn in its own process on 127.0.0.1, files in "
        f"{figures['work_root']}; {args.repeat} interleaved round(s), each download in its own process "
        f"({time.monotonic() - started:.0f} s in all); every file's CRC-64 checked against the object's"
    )
    print()
    print(*report(figures), sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
