"""
The download kind of the fault soak (``python -m tests.soak_harness --kind download``): seeded runs
that SIGKILL a download process at a random moment, then retry it in a new process, all against the
local OSS server on 127.0.0.1.

Every run must end with the destination byte-identical to the object, nothing left beside it
(temporary file, journal, checkpoint), and the retry fetching again at most ``parallelism`` of the
ranges the killed process had been sent (the ones in flight at the kill). Checkpoint mode, range
size, parallelism, checkpoint cadence and the moment of the kill are drawn from the seed.

One attempt is one process (``python -m tests.soak_download attempt ...``), as an Airflow retry is;
``tests/download/test_download_kill_resume.py`` drives the same attempts at fixed kill points.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from tests.upload_support import last_seq

BUCKET = "soak-bucket"
KiB = 1024
MiB = 1024 * KiB
#: Where each attempt keeps its checkpoint: a file under a checkpoint directory, a key-value store
#: (what Airflow's task_state_store is to the engine), or a hidden file beside the destination
#: (the operator's ``checkpoint="discover"``).
MODES = ("file", "state_store", "discover")
SECRET_ENV = "SOAK_OSS_SECRET"
REPO = Path(__file__).resolve().parent.parent


def attempt_command(
    server: LocalOssServer,
    key: str,
    destination: Path,
    checkpoint_dir: Path,
    *,
    mode: str,
    part_size: int,
    parallelism: int,
    save_interval: float = 2.0,
    journal: bool = True,
    bucket: str = BUCKET,
) -> list[str]:
    """The command line of one download attempt in a new process."""
    return [
        sys.executable,
        "-m",
        "tests.soak_download",
        "attempt",
        *("--endpoint", server.endpoint, "--region", server.region, "--access-key-id", server.access_key_id),
        *("--key", key, "--destination", str(destination), "--checkpoint-dir", str(checkpoint_dir)),
        *("--mode", mode, "--part-size", str(part_size), "--parallelism", str(parallelism)),
        *("--save-interval", str(save_interval), "--journal", "on" if journal else "off", "--bucket", bucket),
    ]


def attempt_env(server: LocalOssServer) -> dict[str, str]:
    """The environment of an attempt: the secret (never on a command line) and this checkout."""
    env = os.environ.copy()
    env[SECRET_ENV] = server.access_key_secret
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_attempt(command: list[str], server: LocalOssServer) -> dict[str, Any]:
    """Run an attempt to its end; its result dict, or ``{"error": ...}``."""
    proc = subprocess.run(
        command, env=attempt_env(server), capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return {**json.loads(lines[-1]), "log": proc.stderr[-3000:]}
    return {"error": lines[-1] if lines else proc.stderr.strip()[-2000:] or f"exit {proc.returncode}"}


def served_ranges(server: LocalOssServer, key: str, part_size: int, after_seq: int = 0) -> list[int]:
    """The range numbers of the ranged GETs of ``key`` answered 206 after ``after_seq``."""
    numbers = []
    for entry in server.request_log():
        ours = entry["seq"] > after_seq and entry["op"] == "GetObject" and entry["key"] == key
        if ours and entry["status"] == 206 and entry["range"]:
            first = int(entry["range"].removeprefix("bytes=").partition("-")[0])
            numbers.append(first // part_size + 1)
    return numbers


def kill_when(
    command: list[str],
    server: LocalOssServer,
    *,
    key: str,
    part_size: int,
    served: int | None = None,
    seconds: float | None = None,
) -> bool:
    """
    Start an attempt and SIGKILL it once ``served`` ranges were answered (or ``seconds`` passed).

    :return: whether the process was still running when killed (else it had finished or failed).
    """
    mark = last_seq(server)
    proc = subprocess.Popen(
        command, env=attempt_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + (seconds if seconds is not None else 120)
        while proc.poll() is None and time.monotonic() < deadline:
            if served is not None and len(served_ranges(server, key, part_size, mark)) >= served:
                break
            time.sleep(0.01)
        alive = proc.poll() is None
        if alive:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    time.sleep(0.3)  # let the server finish logging the requests cut by the kill
    return alive


def checkpoint_store(
    mode: str, checkpoint_dir: str | Path, bucket: str, key: str, destination: str | Path
) -> Any:
    """The download checkpoint store of ``mode`` (as the operator builds it)."""
    from airflow_provider_oss.download import DownloadCheckpointStore, file_store
    from airflow_provider_oss.download.store import STATE_STORE_KEY
    from airflow_provider_oss.upload import KeyValueCheckpointStore
    from tests.soak_harness import JsonFileKV

    if mode == "file":
        return file_store(checkpoint_dir, bucket, key, destination)
    if mode == "state_store":
        kv = JsonFileKV(Path(checkpoint_dir) / "task_state_store.json")
        return DownloadCheckpointStore(KeyValueCheckpointStore(kv, key=STATE_STORE_KEY))
    directory = os.path.dirname(os.path.abspath(destination))
    return file_store(directory, bucket, key, destination, hidden=True)


def attempt(args: argparse.Namespace) -> int:
    """One download attempt; prints its result (or error) as one JSON line."""
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.download import ResumableDownloader
    from airflow_provider_oss.upload import TransferConfig

    logging.basicConfig(level=logging.INFO)  # why an earlier try's ranges were or were not reused
    config = ClientConfig(
        region=args.region,
        endpoint=args.endpoint,
        addressing_style="path",
        pool_size=args.parallelism,
        backoff_base=0.01,
        backoff_max=0.05,
    )
    client = OssClient(Credentials(args.access_key_id, os.environ[SECRET_ENV]), config)
    transfer = TransferConfig(
        part_size=args.part_size, parallelism=args.parallelism, checkpoint_save_interval=args.save_interval
    )
    try:
        result = ResumableDownloader(
            client,
            args.bucket,
            args.key,
            args.destination,
            config=transfer,
            checkpoint_store=checkpoint_store(
                args.mode, args.checkpoint_dir, args.bucket, args.key, args.destination
            ),
            journal=args.journal == "on",
        ).run()
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
        return 1
    print(json.dumps(result.to_dict()), flush=True)
    return 0


@dataclass
class DownloadRunReport:
    """What one download soak run did."""

    number: int
    mode: str
    parallelism: int
    ranges: int
    killed_after: int = 0
    #: the first attempt had finished (exited, or deleted its checkpoint) before the kill: the retry
    #: is then a new download, to which the bound does not apply
    first_finished: bool = False
    fetched_again: int = 0
    wrong_bytes: int = 0
    ok: bool = False
    problem: str = ""
    seconds: float = 0.0


@dataclass
class DownloadSoakSummary:
    """Totals over all download runs."""

    runs: list[DownloadRunReport] = field(default_factory=list)

    @property
    def failures(self) -> list[DownloadRunReport]:
        return [r for r in self.runs if not r.ok]

    def text(self) -> str:
        modes = Counter(r.mode for r in self.runs)
        killed = [r for r in self.runs if not r.first_finished]
        lines = [
            f"runs: {len(self.runs)} (download kind)",
            "checkpoint modes: " + ", ".join(f"{m}={modes[m]}" for m in MODES if modes[m]),
            f"wrong bytes: {sum(r.wrong_bytes for r in self.runs)}",
            f"ranges fetched again after a kill: {sum(r.fetched_again for r in killed)} in all, at most "
            f"{max((r.fetched_again for r in killed), default=0)} in a run "
            f"(allowed: parallelism, {min((r.parallelism for r in self.runs), default=0)}"
            f"-{max((r.parallelism for r in self.runs), default=0)})",
            f"first attempts that finished before the kill (their retry is a new download): "
            f"{sum(r.first_finished for r in self.runs)}",
            f"failures: {len(self.failures)}",
        ]
        lines += [f"  run {r.number} ({r.mode}): {r.problem}" for r in self.failures]
        return "\n".join(lines)


def _wrong_bytes(path: Path, data: bytes) -> int:
    if not path.exists():
        return len(data)
    got = path.read_bytes()
    if got == data:
        return 0
    return sum(a != b for a, b in zip(got, data, strict=False)) + abs(len(got) - len(data))


def one_run(
    server: LocalOssServer, number: int, rng: random.Random, work: Path, size: int
) -> DownloadRunReport:
    """Store an object, SIGKILL its download at a random moment, retry in a new process, check."""
    started = time.monotonic()
    key = f"soak/download-{number:03d}.bin"
    data = rng.randbytes(rng.randint(size // 2, size))
    _put(server, key, data)
    mode = rng.choice(MODES)
    part_size = rng.choice([128, 192, 256]) * KiB
    parallelism = rng.randint(2, 4)
    ranges = -(-len(data) // part_size)
    report = DownloadRunReport(number, mode, parallelism, ranges)
    (work / f"run-{number:03d}").mkdir()
    destination = work / f"run-{number:03d}" / "object.bin"
    checkpoints = work / f"checkpoints-{number:03d}"
    opts: dict[str, Any] = {"mode": mode, "part_size": part_size, "parallelism": parallelism}
    command = attempt_command(
        server, key, destination, checkpoints, save_interval=rng.choice([0.2, 2.0, 3600.0]), **opts
    )
    server.add_fault("GetObject", "delay", delay=rng.choice([0.01, 0.03]), times=1_000_000)
    mark = last_seq(server)
    if rng.random() < 0.7:
        killed = kill_when(command, server, key=key, part_size=part_size, served=rng.randint(1, ranges - 1))
    else:
        killed = kill_when(command, server, key=key, part_size=part_size, seconds=rng.uniform(0.5, 3.0))
    # Killed after deleting its checkpoint (while exiting), a download has finished as much as one
    # that exited: a re-run downloads the object again (there is no record left to say it is done).
    record = checkpoint_store(mode, checkpoints, BUCKET, key, destination).load()
    report.first_finished = not killed or (destination.exists() and record is None)
    server.clear_faults()
    first = set(served_ranges(server, key, part_size, mark))
    report.killed_after = len(first)
    retry_mark = last_seq(server)
    result = run_attempt(attempt_command(server, key, destination, checkpoints, **opts), server)
    again = [n for n in served_ranges(server, key, part_size, retry_mark) if n in first]
    report.fetched_again = len(again)
    report.wrong_bytes = _wrong_bytes(destination, data)
    leftovers = sorted(p.name for p in destination.parent.iterdir() if p.name != destination.name)
    leftovers += sorted(p.name for p in checkpoints.glob("download-*"))
    kv = checkpoints / "task_state_store.json"
    if kv.exists() and json.loads(kv.read_text()):
        leftovers.append(f"task_state_store {kv.read_text()[:80]}")
    problems = []
    if "error" in result:
        problems.append(f"the retry failed: {result['error']}")
    elif result.get("crc64") != str(crc64.crc64(data)):
        problems.append(f"the retry reported CRC-64 {result.get('crc64')}")
    if report.wrong_bytes:
        problems.append(f"{report.wrong_bytes} wrong byte(s) in the destination")
    if report.fetched_again > parallelism and not report.first_finished:
        problems.append(
            f"{report.fetched_again} ranges fetched again > parallelism {parallelism}: {sorted(again)}; "
            f"the retry logged: {result.get('log', '')!r}"
        )
    if leftovers:
        problems.append(f"left behind: {leftovers}")
    report.problem = "; ".join(problems)
    report.ok = not problems
    report.seconds = time.monotonic() - started
    return report


def _put(server: LocalOssServer, key: str, data: bytes) -> None:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig

    config = ClientConfig(region=server.region, endpoint=server.endpoint, addressing_style="path")
    with OssClient(server.credentials, config) as client:
        client.put_object(BUCKET, key, data)


def soak(runs: int, seed: int, size: int, *, time_budget: float = 1800.0) -> DownloadSoakSummary:
    """``runs`` seeded kill-and-retry download runs of objects up to ``size`` bytes."""
    rng = random.Random(seed)
    summary = DownloadSoakSummary()
    deadline = time.monotonic() + time_budget
    with (
        tempfile.TemporaryDirectory(prefix="oss-soak-dl-") as tmp,
        LocalOssServer(buckets=(BUCKET,)) as server,
    ):
        for number in range(1, runs + 1):
            if time.monotonic() > deadline:
                break
            report = one_run(server, number, rng, Path(tmp), size)
            summary.runs.append(report)
            print(
                f"run {number:3d} download {report.mode:11s} p={report.parallelism} ranges={report.ranges:3d} "
                f"killed after {report.killed_after:3d} served, fetched again {report.fetched_again} "
                f"{'(the first attempt had finished) ' if report.first_finished else ''}"
                f"{'ok' if report.ok else 'FAILED'} {report.seconds:.1f}s {report.problem}",
                flush=True,
            )
    return summary


def main(argv: list[str] | None = None) -> int:
    """``attempt``: one download attempt (what the soak and the kill tests run in a new process)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("attempt", help="one download attempt")
    for name in ("endpoint", "region", "access-key-id", "key", "destination", "checkpoint-dir"):
        one.add_argument(f"--{name}", required=True)
    one.add_argument("--mode", choices=MODES, required=True)
    one.add_argument("--bucket", default=BUCKET)
    one.add_argument("--part-size", type=int, required=True)
    one.add_argument("--parallelism", type=int, required=True)
    one.add_argument("--save-interval", type=float, default=2.0)
    one.add_argument("--journal", choices=("on", "off"), default="on")
    return attempt(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
