"""
Fault soak: many seeded runs of an upload that a random fault interrupts, each followed by a retry
in a new process, all against the local OSS server on 127.0.0.1.

Every run must end with the object byte-identical to the source (size, CRC-64 and a full compare),
the same upload ID continued whenever it was still valid, and no upload left in progress.

Full form (documented in the README, also ``make soak``)::

    python -m tests.soak_harness --runs 50 --seed 1

The test suite runs a short form (``tests/test_soak.py``). Each attempt is a separate process
(``python -m tests.soak_harness attempt ...``), as an Airflow retry would be.
"""

from __future__ import annotations

import argparse
import filecmp
import json
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

BUCKET = "soak-bucket"
KiB = 1024
MiB = 1024 * KiB
#: Each kind of fault the soak draws from.
FAULTS = (
    "reset",
    "status",
    "slow",
    "no_such_upload",
    "sigkill",
    "truncated_checkpoint",
    "orphan_still_uploading",
    "bad_part_crc",
)
#: Faults after which the upload ID is gone or unusable, so a new one is expected: an expired upload,
#: and a damaged checkpoint (the engine then aborts the upload it finds for the key and starts clean).
NEW_UPLOAD_ALLOWED = frozenset({"no_such_upload", "truncated_checkpoint"})
SECRET_ENV = "SOAK_OSS_SECRET"


@dataclass
class RunReport:
    """What one soak run did."""

    number: int
    fault: str
    ok: bool
    resumed: bool = False
    same_upload_id: bool = False
    parts_total: int = 0
    parts_sent: int = 0
    bytes_resent: int = 0
    seconds: float = 0.0
    problem: str = ""
    #: the first attempt completed the object before the retry began (so nothing was left to continue)
    first_attempt_finished: bool = False


@dataclass
class SoakSummary:
    """Totals over all runs."""

    runs: list[RunReport] = field(default_factory=list)

    @property
    def failures(self) -> list[RunReport]:
        return [r for r in self.runs if not r.ok]

    def text(self) -> str:
        kinds = Counter(r.fault for r in self.runs)
        lines = [
            f"runs: {len(self.runs)}",
            "faults by kind: " + ", ".join(f"{k}={kinds[k]}" for k in FAULTS if kinds[k]),
            f"resumed (same upload ID continued): {sum(r.resumed and r.same_upload_id for r in self.runs)}",
            f"bytes resent: {sum(r.bytes_resent for r in self.runs)}",
            f"failures: {len(self.failures)}",
        ]
        lines += [f"  run {r.number} ({r.fault}): {r.problem}" for r in self.failures]
        return "\n".join(lines)


def _attempt_command(
    server: LocalOssServer, source: Path, key: str, checkpoints: Path, **opts: Any
) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "tests.soak_harness",
        "attempt",
        "--endpoint",
        server.endpoint,
        "--access-key-id",
        server.access_key_id,
        "--region",
        server.region,
        "--source",
        str(source),
        "--key",
        key,
        "--checkpoint-dir",
        str(checkpoints),
    ]
    for name, value in opts.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def _env(server: LocalOssServer) -> dict[str, str]:
    env = os.environ.copy()
    env[SECRET_ENV] = server.access_key_secret
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_attempt(
    server: LocalOssServer, source: Path, key: str, checkpoints: Path, **opts: Any
) -> dict[str, Any]:
    """Run one attempt in a new process; return its result dict, or {"error": ...} if it failed."""
    proc = subprocess.run(
        _attempt_command(server, source, key, checkpoints, **opts),
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return dict(json.loads(lines[-1]))
    return {"error": (lines[-1] if lines else proc.stderr.strip().splitlines()[-1:] or ["no output"])}


def _wait_for_parts(
    server: LocalOssServer, key: str, count: int, proc: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = [
            e
            for e in server.request_log()
            if e["op"] == "UploadPart" and e["key"] == key and e["status"] == 200
        ]
        if len(stored) >= count or proc.poll() is not None:
            return
        time.sleep(0.02)


def _completed_before(log: list[dict[str, Any]], first_id: str | None, new_id: str | None) -> bool:
    """
    Whether the first attempt completed ``first_id`` (and so removed its checkpoint) before any
    request of ``new_id``: an orphaned attempt that finishes before the retry starts leaves it
    nothing to continue, and a new upload is then right.
    """
    seqs = [e["seq"] for e in log if new_id and e.get("upload_id") == new_id]
    first_new = min(seqs, default=None)
    return any(
        e["op"] == "CompleteMultipartUpload"
        and e["status"] == 200
        and e.get("upload_id") == first_id
        and (first_new is None or e["seq"] < first_new)
        for e in log
    )


def _first_upload_id(server: LocalOssServer, key: str) -> str | None:
    """The upload ID of the first attempt: the first one any request for ``key`` names."""
    for entry in server.request_log():
        if entry["key"] == key and entry.get("upload_id"):
            return str(entry["upload_id"])
    return None


def one_run(
    server: LocalOssServer, number: int, fault: str, rng: random.Random, work: Path, size: int, part: int
) -> RunReport:
    """Upload a fresh source with ``fault`` injected into the first attempt, then retry to the end."""
    started = time.monotonic()
    key = f"soak/run-{number:03d}.bin"
    source = work / f"source-{number:03d}.bin"
    data = rng.randbytes(size)
    source.write_bytes(data)
    checkpoints = work / "checkpoints"
    parts = -(-size // part)
    nth = rng.randint(2, max(2, parts - 2))
    common = {"part_size": part, "parallelism": 3}
    report = RunReport(number, fault, ok=False, parts_total=parts)
    server.clear_faults()

    if fault == "reset":
        server.add_fault(
            "UploadPart", "reset", part_number=nth, times=2, after_bytes=rng.choice([None, part // 2])
        )
        first = _run_attempt(server, source, key, checkpoints, max_retries=1, **common)
    elif fault == "status":
        server.add_fault("UploadPart", "status", part_number=nth, times=2, status=rng.choice([500, 503]))
        first = _run_attempt(server, source, key, checkpoints, max_retries=1, **common)
    elif fault == "slow":
        server.add_fault("UploadPart", "delay", part_number=nth, times=2, delay=1.5)
        first = _run_attempt(server, source, key, checkpoints, max_retries=1, read_timeout=0.5, **common)
    elif fault == "bad_part_crc":
        server.add_fault("UploadPart", "bad_crc", part_number=nth, times=2)
        first = _run_attempt(server, source, key, checkpoints, max_retries=1, **common)
    elif fault == "no_such_upload":
        server.add_fault("UploadPart", "reset", part_number=nth, times=2)
        first = _run_attempt(server, source, key, checkpoints, max_retries=1, **common)
        upload_id = _first_upload_id(server, key)
        if upload_id:
            server.expire_upload(BUCKET, upload_id)
    elif fault in ("sigkill", "truncated_checkpoint", "orphan_still_uploading"):
        # Slow parts keep the first attempt mid-upload while it is killed or while the retry starts.
        server.add_fault(
            "UploadPart", "delay", times=10_000, delay=0.3 if fault == "orphan_still_uploading" else 0.03
        )
        proc = subprocess.Popen(
            _attempt_command(server, source, key, checkpoints, max_retries=1, **common),
            env=_env(server),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        upper = parts // 3 if fault == "orphan_still_uploading" else parts - 3
        _wait_for_parts(server, key, rng.randint(1, max(1, upper)), proc, timeout=60)
        if fault == "orphan_still_uploading":
            # The earlier try keeps uploading while the retry runs (a lost worker's task lives on).
            retry = _run_attempt(server, source, key, checkpoints, max_retries=1, **common)
            proc.communicate(timeout=120)
            server.clear_faults()
            return _check(server, report, key, source, data, retry, fault, started)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        first = {"error": "killed"}
        if fault == "truncated_checkpoint":
            for path in checkpoints.glob("*.json"):
                text = path.read_bytes()
                path.write_bytes(text[: rng.randint(0, max(0, len(text) - 1))])
    else:  # pragma: no cover - FAULTS lists every kind
        raise ValueError(fault)

    server.clear_faults()
    if "error" not in first:
        report.problem = f"the fault did not fail the first attempt ({first})"
        return report
    retry = _run_attempt(server, source, key, checkpoints, max_retries=3, **common)
    return _check(server, report, key, source, data, retry, fault, started)


def _check(
    server: LocalOssServer,
    report: RunReport,
    key: str,
    source: Path,
    data: bytes,
    retry: dict[str, Any],
    fault: str,
    started: float,
) -> RunReport:
    report.seconds = time.monotonic() - started
    if "error" in retry:
        report.problem = f"the retry failed: {retry['error']}"
        return report
    problems = []
    stored = server.object_path(BUCKET, key)
    if os.path.getsize(stored) != len(data):
        problems.append(f"size {os.path.getsize(stored)} != {len(data)}")
    if crc64.crc64_of_file(stored) != crc64.crc64(data) or retry.get("crc64") != str(crc64.crc64(data)):
        problems.append("CRC-64 differs")
    if not filecmp.cmp(stored, source, shallow=False):
        problems.append("bytes differ")
    in_progress = [u for u in server.list_uploads(BUCKET) if u["key"] == key]
    if in_progress:
        problems.append(f"{len(in_progress)} upload(s) left in progress")
    first_id = _first_upload_id(server, key)
    report.resumed = bool(retry.get("resumed"))
    report.same_upload_id = retry.get("upload_id") == first_id
    report.first_attempt_finished = _completed_before(server.request_log(), first_id, retry.get("upload_id"))
    if (
        fault not in NEW_UPLOAD_ALLOWED
        and not report.same_upload_id
        and not retry.get("already_complete")
        and not report.first_attempt_finished
    ):
        problems.append(f"a new upload ID {retry.get('upload_id')} instead of continuing {first_id}")
    uploads = [
        e for e in server.request_log() if e["op"] == "UploadPart" and e["key"] == key and e["status"] == 200
    ]
    report.parts_sent = len(uploads)
    report.bytes_resent = max(0, sum(e["bytes_received"] for e in uploads) - len(data))
    report.problem = "; ".join(problems)
    report.ok = not problems
    return report


def soak(runs: int, seed: int, size: int, part: int, *, time_budget: float = 1800.0) -> SoakSummary:
    """
    Run the soak: ``runs`` runs, faults drawn from ``FAULTS`` (each kind at least once when
    ``runs >= len(FAULTS)``), stopping early past ``time_budget`` seconds.
    """
    rng = random.Random(seed)
    kinds = list(FAULTS) * (runs // len(FAULTS)) + rng.sample(FAULTS, runs % len(FAULTS))
    rng.shuffle(kinds)
    summary = SoakSummary()
    deadline = time.monotonic() + time_budget
    with tempfile.TemporaryDirectory(prefix="oss-soak-") as tmp, LocalOssServer(buckets=(BUCKET,)) as server:
        work = Path(tmp)
        for number, fault in enumerate(kinds, start=1):
            if time.monotonic() > deadline:
                break
            report = one_run(server, number, fault, rng, work, size, part)
            summary.runs.append(report)
            print(
                f"run {number:3d} {fault:24s} {'ok' if report.ok else 'FAILED'} "
                f"resumed={report.resumed} same_id={report.same_upload_id} "
                f"resent={report.bytes_resent} {report.seconds:.1f}s {report.problem}"
                f"{' (the first attempt finished before the retry began)' if report.first_attempt_finished else ''}",
                flush=True,
            )
            (work / f"source-{number:03d}.bin").unlink(missing_ok=True)
    return summary


def _attempt(args: argparse.Namespace) -> int:
    """One upload attempt (a separate process, like an Airflow try); prints its result as JSON."""
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.upload import (
        FileCheckpointStore,
        ResumableUploader,
        TransferConfig,
        recommended_pool_size,
    )

    config = ClientConfig(
        region=args.region,
        endpoint=args.endpoint,
        addressing_style="path",
        max_retries=args.max_retries,
        read_timeout=args.read_timeout,
        backoff_base=0.01,
        backoff_max=0.05,
        pool_size=recommended_pool_size(args.parallelism),
    )
    client = OssClient(Credentials(args.access_key_id, os.environ[SECRET_ENV]), config)
    store = FileCheckpointStore(args.checkpoint_dir, BUCKET, args.key, args.source)
    try:
        result = ResumableUploader(
            client,
            BUCKET,
            args.key,
            args.source,
            config=TransferConfig(part_size=args.part_size, parallelism=args.parallelism),
            checkpoint_store=store,
        ).run()
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)
        return 1
    print(json.dumps(result.to_dict()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    attempt = sub.add_parser("attempt", help="one upload attempt (used by the soak itself)")
    for name in ("endpoint", "access-key-id", "region", "source", "key", "checkpoint-dir"):
        attempt.add_argument(f"--{name}", required=True)
    attempt.add_argument("--part-size", type=int, required=True)
    attempt.add_argument("--parallelism", type=int, default=3)
    attempt.add_argument("--max-retries", type=int, default=1)
    attempt.add_argument("--read-timeout", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=50, help="number of runs (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--size-mb", type=float, default=24, help="source size in MiB (default 24)")
    parser.add_argument(
        "--part-kb", type=int, default=512, help="part size in KiB (default 512, at least 100)"
    )
    parser.add_argument(
        "--time-budget", type=float, default=1800, help="stop starting runs after this many s"
    )
    args = parser.parse_args(argv)
    if args.command == "attempt":
        return _attempt(args)
    if args.runs < 1 or args.part_kb < 100:
        parser.error("--runs must be at least 1 and --part-kb at least 100")
    summary = soak(
        args.runs, args.seed, int(args.size_mb * MiB), args.part_kb * KiB, time_budget=args.time_budget
    )
    print(summary.text())
    return 1 if summary.failures or not summary.runs else 0


if __name__ == "__main__":
    sys.exit(main())
