"""
Folder upload figures (``python -m benchmarks.folder``): a folder of ``--files`` files (default
2,000) whose sizes are drawn log-uniformly from 64 KiB to 4 MiB (seeded, so every run has the same
folder) uploaded side by side, in one run, against one local OSS server:

* ``folder``: ``OssHook.upload_folder`` (the engine of ``OssFolderUploadOperator``), ``--concurrency``
  files in flight through one shared client, each file HEADed first (skip check);
* ``loop``: a loop of single uploads, ``OssHook.upload_file`` once per file, sequential (what a DAG
  author writes without the folder operator);
* ``rerun``: the folder upload again over the unchanged folder (every file skipped: one HEAD and
  one local CRC-64 each, nothing sent).

Each upload runs in its own process (imports excluded from the time); rounds are interleaved
(folder, rerun, loop, folder, rerun, loop...), every object is checked (count, size and the CRC-64
of the bytes on the server's disk) and deleted between rounds; figures are medians. ``--rtt-ms``
adds that delay to every request on the server, as a real network's round trip would; by default the
whole comparison runs twice, on bare loopback (0 ms) and with 5 ms (a conservative round trip to OSS
from a worker in the same region; a small PutObject there takes several ms).

Target: folder >= 3x the loop. On bare loopback both runs are bound by CPU (the client's and the
server's, on the same machine), so the ratio cannot exceed the loop's time over the folder upload's
CPU seconds spread over every core; the report prints that ceiling, measured, beside the ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer

KIB = 1024
MIB = 1024 * KIB
BUCKET = "bench-bucket"
PREFIX = "folder-bench/"
MODES = ("folder", "rerun", "loop")

CHILD = """
import json, logging, os, sys, time
spec = json.loads(sys.stdin.readline())
os.environ["AIRFLOW_CONN_BENCH"] = json.dumps(spec["conn"])
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.folder import FolderUploadConfig
logging.disable(logging.INFO)  # the loop would log three lines per file
from airflow_provider_oss.hooks.lineage import _collector
hook = OssHook("bench")
hook.get_client()  # connection parsed before the clock starts
_collector()  # Airflow's lineage collector imported before it too (upload_folder reports its prefix)
started = time.perf_counter()
cpu_started = time.process_time()
if spec["mode"] == "loop":
    sent = 0
    for rel in spec["files"]:
        result = hook.upload_file(os.path.join(spec["folder"], rel), spec["prefix"] + rel, spec["bucket"])
        sent += result.bytes_sent
    out = {"uploaded": len(spec["files"]), "skipped": 0, "bytes_sent": sent}
else:
    config = FolderUploadConfig(concurrency=spec["concurrency"], transfer=TransferConfig(parallelism=2))
    summary = hook.upload_folder(spec["folder"], spec["prefix"], spec["bucket"], config=config)
    if not summary.ok:
        raise SystemExit(str(summary.error()))
    out = summary.to_dict()
    out = {k: out[k] for k in ("uploaded", "skipped", "bytes_sent")}
out["wall"] = time.perf_counter() - started
out["cpu"] = time.process_time() - cpu_started
print(json.dumps(out), flush=True)
"""


def make_folder(
    folder: Path, files: int, seed: int, low: int = 64 * KIB, high: int = 4 * MIB
) -> dict[str, int]:
    """
    Write ``files`` files of log-uniform random sizes in ``[low, high]`` (seeded) into ``folder``, 50
    per sub-directory; return relative path -> CRC-64.
    """
    rng = random.Random(seed)
    crcs: dict[str, int] = {}
    for i in range(files):
        size = int(math.exp(rng.uniform(math.log(low), math.log(high))))
        rel = f"d{i // 50:03}/f{i:05}.bin"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        path.write_bytes(data)
        crcs[rel] = crc64.crc64(data)
    return crcs


def _run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(spec) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{spec['mode']} upload failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return dict(json.loads(lines[-1]))


def _check(server: LocalOssServer, crcs: dict[str, int], sizes: dict[str, int]) -> None:
    for rel, expected in crcs.items():
        info = server.object_info(BUCKET, PREFIX + rel)
        if info["size"] != sizes[rel] or server.stored_crc64(BUCKET, PREFIX + rel) != expected:
            raise RuntimeError(f"{PREFIX + rel} on the server is not the file")


def _delete_all(server: LocalOssServer, keys: list[str]) -> None:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig

    config = ClientConfig(region=server.region, endpoint=server.endpoint, addressing_style="path")
    with OssClient(server.credentials, config) as admin:
        for start in range(0, len(keys), 1000):
            admin.delete_multiple_objects(BUCKET, keys[start : start + 1000])


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of the server process."""
    times = process.cpu_times()
    return float(times.user + times.system)


def _requests(server: LocalOssServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in server.request_log():
        counts[entry["op"]] = counts.get(entry["op"], 0) + 1
    return counts


def measure(files: int, concurrency: int, repeat: int, seed: int = 1, rtt_ms: float = 0.0) -> dict[str, Any]:
    """Run the interleaved rounds; return medians, ratios and request counts per mode."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="oss-bench-folder-", dir=shm) as work:
        folder = Path(work) / "folder"
        crcs = make_folder(folder, files, seed)
        sizes = {rel: (folder / rel).stat().st_size for rel in crcs}
        total = sum(sizes.values())
        walls: dict[str, list[float]] = {mode: [] for mode in MODES}
        client_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        server_cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        requests: dict[str, dict[str, int]] = {}
        sent: dict[str, int] = {}
        with LocalOssServer.spawn(
            buckets=[BUCKET], etag_mode="crc", root_dir=str(Path(work) / "server")
        ) as server:
            conn = {
                "conn_type": "oss_resumable",
                "login": server.access_key_id,
                "password": server.access_key_secret,
                "extra": {"region": server.region, "endpoint": server.endpoint, "addressing_style": "path"},
            }
            (server_process,) = psutil.Process().children()
            base = {"conn": conn, "folder": str(folder), "prefix": PREFIX, "bucket": BUCKET}
            if rtt_ms:
                server.add_fault("*", "delay", delay=rtt_ms / 1000, times=10**9)
            for _ in range(repeat):
                for mode in MODES:
                    server.clear_request_log()
                    spec = {**base, "mode": mode, "concurrency": concurrency, "files": sorted(crcs)}
                    cpu_before = _cpu_seconds(server_process)
                    result = _run_child(spec, timeout=3600)
                    server_cpu[mode].append(_cpu_seconds(server_process) - cpu_before)
                    client_cpu[mode].append(result["cpu"])
                    expected = (0, files) if mode == "rerun" else (files, 0)
                    if (result["uploaded"], result["skipped"]) != expected:
                        raise RuntimeError(f"{mode}: uploaded/skipped {result} instead of {expected}")
                    _check(server, crcs, sizes)
                    walls[mode].append(result["wall"])
                    requests[mode] = _requests(server)
                    sent[mode] = result["bytes_sent"]
                    if mode != "folder":  # the rerun needs the folder's objects
                        _delete_all(server, [PREFIX + rel for rel in crcs])
    medians = {mode: statistics.median(values) for mode, values in walls.items()}
    return {
        "files": files,
        "bytes": total,
        "concurrency": concurrency,
        "rtt_ms": rtt_ms,
        "walls": walls,
        "client_cpu": {mode: statistics.median(values) for mode, values in client_cpu.items()},
        "server_cpu": {mode: statistics.median(values) for mode, values in server_cpu.items()},
        "medians": medians,
        "ratio": medians["loop"] / medians["folder"],
        "rerun_vs_folder": medians["rerun"] / medians["folder"],
        "requests": requests,
        "bytes_sent": sent,
    }


def cpu_ceiling(figures: dict[str, Any]) -> float:
    """
    The highest folder-vs-loop ratio bare loopback allows on this machine, from CPU seconds alone
    (so other jobs on the machine do not move it): the loop's client and server CPU seconds (its
    requests take turns, one CPU busy at a time) over the folder upload's, spread over every core.
    """
    loop = figures["client_cpu"]["loop"] + figures["server_cpu"]["loop"]
    folder = figures["client_cpu"]["folder"] + figures["server_cpu"]["folder"]
    return float(loop / (folder / (os.cpu_count() or 1)))


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """Print one comparison's table and verdicts (Markdown)."""
    mb = figures["bytes"] / 1e6
    print(
        f"## Folder upload: {args.files} files, 64 KiB-4 MiB log-uniform (seed {args.seed}), "
        f"{figures['bytes'] / MIB:.0f} MiB, concurrency {args.concurrency}, added RTT {figures['rtt_ms']:g} ms, "
        f"{args.repeat} interleaved round(s)\n"
    )
    print(
        "| run | s (median) | s (all) | MB/s | files/s | vs loop | client CPU s | server CPU s | bytes sent | requests |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    labels = {
        "folder": f"folder upload (upload_folder, {args.concurrency} in flight)",
        "loop": "loop of single uploads (upload_file per file)",
        "rerun": "folder upload again, unchanged (all skipped)",
    }
    for mode in MODES:
        wall = figures["medians"][mode]
        reqs = ", ".join(f"{op} {n}" for op, n in sorted(figures["requests"][mode].items()))
        rate = f"{mb / wall:.0f}" if mode != "rerun" else "-"
        print(
            f"| {labels[mode]} | {wall:.2f} | {', '.join(f'{w:.2f}' for w in figures['walls'][mode])} | {rate} | "
            f"{args.files / wall:.0f} | {figures['medians']['loop'] / wall:.2f}x | {figures['client_cpu'][mode]:.2f} | "
            f"{figures['server_cpu'][mode]:.2f} | {figures['bytes_sent'][mode]} | "
            f"{reqs} |"
        )
    verdict = "PASS" if figures["ratio"] >= 3 else "FAIL"
    print(
        f"\n- folder upload >= 3x the loop of single uploads, at {figures['rtt_ms']:g} ms added RTT: "
        f"{figures['ratio']:.2f}x, {verdict}"
    )
    if not figures["rtt_ms"]:
        print(
            f"- bare loopback is bound by CPU: the highest ratio this machine's {os.cpu_count()} CPUs allow is "
            f"{cpu_ceiling(figures):.2f}x (the loop's CPU seconds over the folder upload's spread over the cores)"
        )
    print(f"- re-run of the unchanged folder / first upload: {figures['rerun_vs_folder']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rtt-ms",
        default="0,5",
        help="comma-separated delays (ms) the server adds to every request; one comparison each (default: 0,5)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 files, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.repeat = 100, 1
    for rtt_ms in [float(value) for value in str(args.rtt_ms).split(",") if value.strip()]:
        report(args, measure(args.files, args.concurrency, args.repeat, args.seed, rtt_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
