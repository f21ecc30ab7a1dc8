"""
Compare multipart upload clients side by side against one local OSS server (``python -m benchmarks.run``).

The same random file goes up to the same bucket and key with the same part size and parallelism,
through this project's :class:`~airflow_provider_oss.upload.ResumableUploader`, the
``alibabacloud-oss-v2`` Uploader, ``oss2.resumable_upload`` and a "limit" client (plain ``requests``,
no checksums). The server runs in its own process (``LocalOssServer.spawn``, ``etag_mode="crc"``);
each upload runs in its own child process, interleaved (A B C D A B C D ...). Every run is
checked (object size and CRC-64 on the server, the client's reported CRC-64) and the object deleted.
Prints the machine, then one markdown table of medians; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.testing.server import LocalOssServer
from benchmarks.clients import CLIENTS, Target
from benchmarks.machine import describe

MIB = 1024 * 1024
BUCKET = "bench"
KEY = "bench/object.bin"
REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchmarkError(RuntimeError):
    """A run failed or produced a wrong object."""


def make_file(path: Path, size: int) -> int:
    """
    Write ``size`` random bytes to ``path`` and return their CRC-64.

    :param path: the file to create.
    :param size: its size in bytes.
    """
    chunk = 16 * MIB
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(chunk, left)
            out.write(os.urandom(n))
            left -= n
    return crc64.crc64_of_file(str(path))


def default_work_root(size: int) -> str | None:
    """
    ``/dev/shm`` (memory-backed, so disk writeback does not blur the figures) when it has room for
    the file, the parts and the assembled object, else None (the system temp dir).

    :param size: the file size in bytes.
    """
    shm = "/dev/shm"  # a private temp dir is created inside it
    try:
        free = shutil.disk_usage(shm).free
    except OSError:
        return None
    return shm if free >= 4 * size + 256 * MIB else None


def run_child(client: str, target: Target, timeout: float) -> dict[str, Any]:
    """
    Run one upload in a child process (:mod:`benchmarks.child`) and return its measurements.

    :param client: a key of :data:`~benchmarks.clients.CLIENTS`.
    :param target: where and how to upload.
    :param timeout: seconds before the child is killed.
    """
    return run_module(
        "benchmarks.child", {"client": client, **asdict(target)}, timeout, f"the {client} upload"
    )


def run_module(
    module: str, spec: dict[str, Any], timeout: float, what: str, *, pythonpath: str | None = None
) -> dict[str, Any]:
    """
    Run ``python -m module`` (from the repository root) with ``spec`` as JSON on stdin (never on
    the command line: it may hold the secret) and return the last JSON line it prints.

    :param module: a module of this repository.
    :param spec: what the child reads.
    :param timeout: seconds before the child is killed.
    :param what: names the child in errors.
    :param pythonpath: the child's whole ``PYTHONPATH`` (default: the repository, then the current one).
    :raises BenchmarkError: the child failed or printed no result; the message's first line says so
        and its last line is the child's last line of output.
    """
    env = dict(os.environ)
    if pythonpath is None:
        pythonpath = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(  # our own interpreter and module
        [sys.executable, "-m", module],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"{what} failed (exit code {proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchmarkError(f"{what} printed no result:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def server_cpu(process: psutil.Process) -> float:
    """User + system CPU seconds of the server process (and any children)."""
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def server_window(log: list[dict[str, Any]]) -> tuple[int, float]:
    """
    Bytes of the stored parts and the seconds from the first part's arrival to the last part's end,
    as the server logged them.

    :param log: the server's request log for one run.
    """
    parts = [e for e in log if e["op"] == "UploadPart" and e["status"] == 200]
    if not parts:
        return 0, 0.0
    received = sum(int(e["bytes_received"]) for e in parts)
    start = min(float(e["time"]) for e in parts)
    end = max(float(e["time"]) + float(e["duration"]) for e in parts)
    return received, end - start


def complete_seconds(log: list[dict[str, Any]]) -> float:
    """
    Seconds the server spent answering CompleteMultipartUpload (assembling the object) in one run.

    :param log: the server's request log for one run.
    """
    return sum(float(e["duration"]) for e in log if e["op"] == "CompleteMultipartUpload")


def verify(
    server: LocalOssServer, client: str, size: int, expected_crc: int, reported: int | str | None
) -> None:
    """
    Fail loudly unless the object on the server has the file's size and CRC-64 (by the server's
    record and by re-reading its bytes) and the client reported that CRC-64 (when it reports one).
    """
    info = server.object_info(BUCKET, KEY)
    if int(info["size"]) != size:
        raise BenchmarkError(f"{client}: the object has {info['size']} bytes, the file {size}")
    if int(info["crc64"]) != expected_crc:
        raise BenchmarkError(
            f"{client}: the server's CRC-64 {info['crc64']} differs from the file's {expected_crc}"
        )
    on_disk = server.stored_crc64(BUCKET, KEY)
    if on_disk != expected_crc:
        raise BenchmarkError(
            f"{client}: the stored bytes' CRC-64 {on_disk} differs from the file's {expected_crc}"
        )
    if reported is not None and int(reported) != expected_crc:  # an XCom-style result gives a decimal string
        raise BenchmarkError(f"{client}: the client reported CRC-64 {reported}, the file's is {expected_crc}")
    pending = server.list_uploads(BUCKET)
    if pending:
        raise BenchmarkError(f"{client}: left {len(pending)} multipart upload(s) in progress")


def _median(rows: list[dict[str, Any]], field: str) -> float:
    return float(statistics.median(float(r[field]) for r in rows))


def table(results: dict[str, list[dict[str, Any]]], size: int) -> list[str]:
    """
    The markdown table of medians, with throughput ratios to this project's uploader.

    :param results: client name -> its runs' measurements.
    :param size: the file size in bytes.
    """
    rate = {name: size / _median(rows, "seconds") / 1e6 for name, rows in results.items()}
    ours = rate.get("ours")
    lines = [
        "| client | MB/s (median) | MB/s (min-max) | vs ours | client CPU s | peak RSS over baseline (MiB) "
        "| server CPU s | server-seen MB/s | complete s (server) | requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in results.items():
        rates = [size / float(r["seconds"]) / 1e6 for r in rows]
        ratio = f"{rate[name] / ours:.2f}x" if ours else "-"
        lines.append(
            f"| {CLIENTS[name][0]} | {rate[name]:.0f} | {min(rates):.0f}-{max(rates):.0f} | {ratio} "
            f"| {_cpu(rows):.2f} | {_peak_mib(rows):.0f} | {_median(rows, 'server_cpu'):.2f} "
            f"| {_median(rows, 'server_rate'):.0f} | {_median(rows, 'complete_s'):.2f} "
            f"| {_median(rows, 'requests'):.0f} |"
        )
    return lines


def _cpu(rows: list[dict[str, Any]]) -> float:
    return float(statistics.median(float(r["cpu_user"]) + float(r["cpu_sys"]) for r in rows))


def _peak_mib(rows: list[dict[str, Any]]) -> float:
    return float(statistics.median((int(r["peak_rss"]) - int(r["baseline_rss"])) / MIB for r in rows))


def targets(
    results: dict[str, list[dict[str, Any]]], size: int, part_size: int, parallelism: int
) -> list[str]:
    """
    The issue's targets, checked on this run's medians (ratios only), as markdown list lines.

    :param results: client name -> its runs' measurements.
    :param size: the file size in bytes.
    :param part_size: the part size in bytes.
    :param parallelism: parts in flight.
    """
    if "ours" not in results:
        return []
    rate = {name: size / _median(rows, "seconds") for name, rows in results.items()}
    checks = [
        ("v2", "throughput >= 1.5x alibabacloud-oss-v2's Uploader", 1.5),
        ("oss2", "throughput >= 1.5x oss2.resumable_upload", 1.5),
        ("limit", "throughput >= 0.80x the limit client", 0.8),
    ]
    lines = []
    for name, label, wanted in checks:
        if name in rate:
            got = rate["ours"] / rate[name]
            lines.append(f"- {label}: {got:.2f}x, {'PASS' if got >= wanted else 'FAIL'}")
    budget = parallelism * part_size / MIB + 64
    peak = _peak_mib(results["ours"])
    lines.append(
        f"- peak RSS over baseline <= parallelism x part_size + 64 MiB = {budget:.0f} MiB: {peak:.0f} MiB, "
        f"{'PASS' if peak <= budget else 'FAIL'}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915  # the command-line options, then one straight run; splitting adds only indirection
    """Parse options, run the interleaved uploads, print the machine and the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--part-size-mb", type=int, default=8, help="part size in MiB (default 8)")
    parser.add_argument("--parallelism", type=int, default=4, help="parts in flight (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the table shows medians")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 MiB, 1 round")
    parser.add_argument(
        "--clients", default=",".join(CLIENTS), help=f"comma-separated subset of {','.join(CLIENTS)}"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed warm-up upload (limit client) before round 1",
    )
    parser.add_argument(
        "--work-dir",
        default=None,
        help="where the file and the server's storage go (default: /dev/shm when it has room, else the temp dir)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.repeat = 64, 1
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown or not clients:
        parser.error(f"unknown client(s) {unknown}; choose from {', '.join(CLIENTS)}")
    if args.size_mb < 1 or args.part_size_mb < 1 or args.parallelism < 1 or args.repeat < 1:
        parser.error("--size-mb, --part-size-mb, --parallelism and --repeat must be at least 1")
    size = args.size_mb * MIB
    part_size = args.part_size_mb * MIB

    work_root = args.work_dir or default_work_root(size)
    with tempfile.TemporaryDirectory(prefix="oss-bench-", dir=work_root) as work:
        path = Path(work) / "source.bin"
        print(f"writing {args.size_mb} MiB of random bytes to {path} ...", file=sys.stderr)
        expected_crc = make_file(path, size)
        with LocalOssServer.spawn(
            buckets=[BUCKET], etag_mode="crc", root_dir=str(Path(work) / "server")
        ) as server:
            children = psutil.Process().children()
            if len(children) != 1:
                raise BenchmarkError(f"expected one server process, found {len(children)}")
            server_process = children[0]
            target = Target(
                endpoint=server.endpoint,
                region=server.region,
                access_key_id=server.access_key_id,
                access_key_secret=server.access_key_secret,
                bucket=BUCKET,
                key=KEY,
                path=str(path),
                part_size=part_size,
                parallelism=args.parallelism,
            )
            admin = OssClient(
                server.credentials,
                ClientConfig(region=server.region, endpoint=server.endpoint, addressing_style="path"),
            )
            results: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
            started = time.monotonic()
            with admin:
                if not args.no_warmup:
                    print("warm-up upload (limit client, not counted) ...", file=sys.stderr)
                    warm = run_child("limit", target, args.timeout)
                    verify(server, "warm-up", size, expected_crc, warm["crc64"])
                    admin.delete_object(BUCKET, KEY)
                    os.sync()
                for round_number in range(1, args.repeat + 1):
                    for name in clients:
                        server.clear_request_log()
                        cpu_before = server_cpu(server_process)
                        result = run_child(name, target, args.timeout)
                        result["server_cpu"] = server_cpu(server_process) - cpu_before
                        log = server.request_log()
                        received, window = server_window(log)
                        result["complete_s"] = complete_seconds(log)
                        result["requests"] = len(log)
                        if received != size:
                            raise BenchmarkError(
                                f"{name}: the server stored {received} part bytes, expected {size}"
                            )
                        result["server_rate"] = received / window / 1e6 if window > 0 else 0.0
                        verify(server, name, size, expected_crc, result["crc64"])
                        admin.delete_object(BUCKET, KEY)
                        os.sync()  # no writeback of this run's bytes during the next one
                        results[name].append(result)
                        print(
                            f"round {round_number}/{args.repeat} {name:5}: {size / result['seconds'] / 1e6:7.0f} MB/s, "
                            f"{result['seconds']:.2f} s, client CPU {result['cpu_user'] + result['cpu_sys']:.2f} s, "
                            f"peak +{(result['peak_rss'] - result['baseline_rss']) / MIB:.0f} MiB, "
                            f"server CPU {result['server_cpu']:.2f} s, server-seen {result['server_rate']:.0f} MB/s",
                            file=sys.stderr,
                        )
            elapsed = time.monotonic() - started

    print(
        f"## Upload benchmark: {args.size_mb} MiB file, {args.part_size_mb} MiB parts, parallelism {args.parallelism}"
    )
    print()
    print(*describe(), sep="\n")
    print(
        f"- server: LocalOssServer.spawn(etag_mode='crc') in its own process on 127.0.0.1, file and "
        f"server storage in {work_root or tempfile.gettempdir()}; "
        f"{args.repeat} interleaved round(s) of {len(clients)} clients, each upload in its own process "
        f"({elapsed:.0f} s in all); every object checked (size, CRC-64) and deleted"
    )
    print()
    print(*table(results, size), sep="\n")
    print()
    print(*targets(results, size, part_size, args.parallelism), sep="\n")
    print()
    print(
        "MB/s = 10^6 bytes/s of upload wall time in the child (client construction to completed object, "
        "imports excluded); figures are medians. Client CPU = user+sys of the upload in its process. "
        "Peak RSS over baseline = the child's peak RSS during the upload (VmHWM, reset after imports) minus "
        "its RSS after imports. Server CPU = the server process's user+sys during the run. Server-seen "
        "MB/s = part bytes / (first part's arrival to last part's end) from the server's request log; "
        "complete s = the server's time answering CompleteMultipartUpload (it moves the part files into "
        "the object, no copy), part of every client's wall time; requests = HTTP requests the server logged for one upload. "
        "The limit client's rate is the server's ingest rate for real clients on this machine; "
        "client and server share the same CPUs."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
