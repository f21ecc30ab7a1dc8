"""
Fault soak: many seeded runs of an upload that a random fault interrupts, each followed by a retry
in a new process, all against the local OSS server on 127.0.0.1.

Every run must end with the object byte-identical to the source (size, CRC-64 and a full compare),
the same upload ID continued whenever it was still valid, and no upload left in progress.

Full form (documented in the README, also ``make soak``)::

    python -m tests.soak_harness --runs 50 --seed 1
    python -m tests.soak_harness --kind download --runs 50 --seed 1   # killed downloads (tests/soak_download.py)
    python -m tests.soak_harness --kind folder --runs 50 --seed 1     # link swaps (tests/soak_folder.py)

The test suite runs a short form (``tests/upload/test_soak.py``). Each attempt is a separate process
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
from tests.soak_download import DownloadSoakSummary
from tests.soak_download import soak as download_soak
from tests.soak_folder import FolderSoakSummary, folder_soak

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
    "kill_after_complete",
    "not_oss",
    "two_writers_file",
    "two_writers_state_store",
    "two_writers_discover",
)
#: Faults after which the upload ID is gone, so a new one is expected: an expired upload, and a
#: first attempt that only ever talked to something that is not OSS.
NEW_UPLOAD_ALLOWED = frozenset({"no_such_upload", "not_oss"})
#: The checkpoint store each attempt uses: a file, a JSON file behind the key-value store (what
#: Airflow's task_state_store is to the engine), or nothing kept (discovery through OSS).
MODES = ("file", "state_store", "discover")
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
    #: AbortMultipartUpload requests for an upload that another writer started
    foreign_aborts: int = 0
    #: the retry of an upload already completed sent parts again
    full_reupload: bool = False


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
            f"wrong objects: {sum('differ' in r.problem or 'left in progress' in r.problem for r in self.runs)}",
            f"foreign uploads aborted: {sum(r.foreign_aborts for r in self.runs)}",
            f"full re-uploads of a completed file: {sum(r.full_reupload for r in self.runs)}",
            f"failures: {len(self.failures)}",
        ]
        lines += [f"  run {r.number} ({r.fault}): {r.problem}" for r in self.failures]
        return "\n".join(lines)


def _attempt_command(
    server: LocalOssServer,
    source: Path,
    key: str,
    checkpoints: Path,
    *,
    endpoint: str | None = None,
    **opts: Any,
) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "tests.soak_harness",
        "attempt",
        "--endpoint",
        endpoint or server.endpoint,
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
    server: LocalOssServer,
    source: Path,
    key: str,
    checkpoints: Path,
    *,
    endpoint: str | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Run one attempt in a new process; return its result dict, or {"error": ...} if it failed."""
    proc = subprocess.run(
        _attempt_command(server, source, key, checkpoints, endpoint=endpoint, **opts),
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return _attempt_result(proc.returncode, proc.stdout, proc.stderr)


def _attempt_result(returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if returncode == 0 and lines:
        return dict(json.loads(lines[-1]))
    if returncode < 0:
        return {"error": f"killed by signal {-returncode}"}
    return {"error": (lines[-1] if lines else stderr.strip().splitlines()[-1:] or ["no output"])}


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


def one_run(  # noqa: C901, PLR0912, PLR0915  # one branch per fault kind, side by side so a new fault is one more branch
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
    common: dict[str, Any] = {"part_size": part, "parallelism": 3}
    report = RunReport(number, fault, ok=False, parts_total=parts)
    server.clear_faults()

    if fault.startswith("two_writers_"):
        return _two_writers(
            server, report, fault.removeprefix("two_writers_"), rng, work, key, source, data, part
        )
    if fault == "kill_after_complete":
        first = _run_attempt(
            server,
            source,
            key,
            checkpoints,
            die_after_complete=rng.choice(["before_mark", "after_mark"]),
            **common,
        )
    elif fault == "not_oss":
        from tests.hostile_oss import Answer, HostileOss

        portal = b"<html><body>Please log in to the guest network.</body></html>"
        with HostileOss(lambda method, path: Answer(200, {"Content-Type": "text/html"}, portal)) as hostile:
            first = _run_attempt(server, source, key, checkpoints, endpoint=hostile.endpoint, **common)
        if "error" in first and "OssResponseError" not in str(first) and "OssXmlError" not in str(first):
            report.problem = f"the non-OSS answer failed the attempt without saying so: {first}"
            return report
    elif fault == "reset":
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
        if fault == "not_oss":
            report.problem = f"an answer that is not OSS's was reported as success ({first})"
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
    if fault == "kill_after_complete" and (retry.get("parts_sent") or not retry.get("already_complete")):
        report.full_reupload = True
        problems.append(f"the retry of a completed upload sent {retry.get('parts_sent')} part(s) again")
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


def _two_writers(
    server: LocalOssServer,
    report: RunReport,
    mode: str,
    rng: random.Random,
    work: Path,
    key: str,
    source_a: Path,
    data_a: bytes,
    part: int,
) -> RunReport:
    """
    Two tasks write different files to one key: writer A's first attempt fails part-way, then A's retry
    runs while writer B's first attempt is uploading. Both must succeed with their own uploads, nobody's
    upload may be aborted by the other, and the object must be whichever completed last.
    """
    started = time.monotonic()
    checkpoints = work / f"checkpoints-{mode}"
    source_b = work / f"{source_a.stem}-b.bin"
    data_b = rng.randbytes(len(data_a) + rng.choice([-part, 0, part]))
    source_b.write_bytes(data_b)
    common: dict[str, Any] = {"part_size": part, "parallelism": 2, "mode": mode}
    parts = -(-len(data_a) // part)
    server.add_fault("UploadPart", "reset", part_number=rng.randint(3, max(3, parts - 2)), times=2)
    first = _run_attempt(server, source_a, key, checkpoints, max_retries=1, writer="a", retry=0, **common)
    server.clear_faults()
    if "error" not in first:
        report.problem = f"the fault did not fail writer A's first attempt ({first})"
        return report
    a_upload = _first_upload_id(server, key)
    server.add_fault("UploadPart", "delay", times=10_000, delay=0.02)
    writer_b = subprocess.Popen(
        _attempt_command(server, source_b, key, checkpoints, max_retries=3, writer="b", retry=0, **common),
        env=_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_parts(server, key, 1 + len(_stored_parts(server, key)), writer_b, timeout=60)
    retry_a = _run_attempt(server, source_a, key, checkpoints, max_retries=3, writer="a", retry=1, **common)
    out, err = writer_b.communicate(timeout=180)
    server.clear_faults()
    result_b = _attempt_result(writer_b.returncode, out, err)
    report.seconds = time.monotonic() - started
    problems = []
    for name, result in (("A's retry", retry_a), ("B", result_b)):
        if "error" in result:
            problems.append(f"{name} failed: {result['error']}")
    log = server.request_log()
    b_upload = result_b.get("upload_id")
    mine = {a_upload, b_upload} - {None}
    report.foreign_aborts = len(
        [e for e in log if e["op"] == "AbortMultipartUpload" and e.get("upload_id") in mine]
    )
    if report.foreign_aborts:
        problems.append(
            f"{report.foreign_aborts} writer upload(s) aborted: each writer's upload must complete"
        )
    report.same_upload_id = retry_a.get("upload_id") == a_upload
    report.resumed = bool(retry_a.get("resumed"))
    if "error" not in retry_a and not report.same_upload_id:
        problems.append(f"A's retry used {retry_a.get('upload_id')} instead of continuing its {a_upload}")
    completes = [
        e for e in log if e["op"] == "CompleteMultipartUpload" and e["key"] == key and e["status"] == 200
    ]
    if completes:
        last = completes[-1].get("upload_id")
        expected = data_a if last == retry_a.get("upload_id") else data_b if last == b_upload else None
        stored = server.object_path(BUCKET, key)
        if expected is None or Path(stored).read_bytes() != expected:
            problems.append(
                f"the object is not the file of the writer that completed last ({last}): bytes differ"
            )
    if [u for u in server.list_uploads(BUCKET) if u["key"] == key]:
        problems.append("upload(s) left in progress")
    source_b.unlink(missing_ok=True)
    report.problem = "; ".join(problems)
    report.ok = not problems
    return report


def _stored_parts(server: LocalOssServer, key: str) -> list[dict[str, Any]]:
    return [
        e for e in server.request_log() if e["op"] == "UploadPart" and e["key"] == key and e["status"] == 200
    ]


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
        KeyValueCheckpointStore,
        ResumableUploader,
        TransferConfig,
        recommended_pool_size,
    )
    from airflow_provider_oss.upload.discovery import UploadDiscoveryStore

    if args.die_after_complete:
        _die_after_complete(args.die_after_complete)
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
    store: Any
    if args.mode == "file":
        store = FileCheckpointStore(args.checkpoint_dir, BUCKET, args.key, args.source)
    elif args.mode == "state_store":
        store = KeyValueCheckpointStore(JsonFileKV(Path(args.checkpoint_dir) / f"kv-{args.writer}.json"))
    else:
        store = UploadDiscoveryStore(client, BUCKET, args.key, args.source, args.part_size, retry=args.retry)
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


class JsonFileKV:
    """A key-value store in one JSON file: what Airflow's task_state_store is to the engine."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _all(self) -> dict[str, Any]:
        return dict(json.loads(self.path.read_text())) if self.path.exists() else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._all().get(key, default)

    def set(self, key: str, value: Any) -> None:
        values = self._all()
        values[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(values))
        os.replace(temp, self.path)

    def delete(self, key: str) -> None:
        values = self._all()
        values.pop(key, None)
        self.path.write_text(json.dumps(values))


def _die_after_complete(when: str) -> None:
    """Make this process die the moment its upload completes: a worker killed in those milliseconds."""
    from airflow_provider_oss.upload.multipart import MultipartUpload

    original = MultipartUpload.finish

    def finish(self: MultipartUpload, checkpoint: Any, mark: Any) -> None:
        if when == "after_mark":
            original(self, checkpoint, mark)
        os.kill(os.getpid(), signal.SIGKILL)

    MultipartUpload.finish = finish  # type: ignore[method-assign]


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
    attempt.add_argument("--mode", choices=MODES, default="file")
    attempt.add_argument("--writer", default="a", help="names this writer's key-value file")
    attempt.add_argument("--retry", type=int, default=0, help="1 for a retry (discovery adopts only then)")
    attempt.add_argument(
        "--die-after-complete",
        choices=("", "before_mark", "after_mark"),
        default="",
        help="SIGKILL this process right after CompleteMultipartUpload, before or after its record is marked",
    )
    parser.add_argument(
        "--kind",
        choices=("upload", "download", "folder"),
        default="upload",
        help="what to soak: upload (one file under faults, the default), download, or folder (a folder "
        "upload under link swaps)",
    )
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
    summary: SoakSummary | DownloadSoakSummary | FolderSoakSummary
    if args.kind == "download":
        summary = download_soak(args.runs, args.seed, int(args.size_mb * MiB), time_budget=args.time_budget)
    elif args.kind == "folder":
        summary = folder_soak(args.runs, args.seed, time_budget=args.time_budget)
    else:
        summary = soak(
            args.runs, args.seed, int(args.size_mb * MiB), args.part_kb * KiB, time_budget=args.time_budget
        )
    print(summary.text())
    return 1 if summary.failures or not summary.runs else 0


if __name__ == "__main__":
    sys.exit(main())
