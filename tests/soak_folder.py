"""
The soak's ``folder`` kind: seeded folder uploads during which files and directories are swapped
for symbolic links to outside files and directories (and some swapped back) at random moments,
against the local OSS server on 127.0.0.1.

Every run must end with not one byte of the outside files anywhere on the server (its object and
in-progress part files are searched for the outside files' marker), every object under the run's
prefix byte-identical to the file it was uploaded from, every file that was never swapped
uploaded, and no multipart upload left in progress.

Full form (``make soak`` runs it after the upload kind)::

    python -m tests.soak_harness --kind folder --runs 50 --seed 1

The test suite runs a short form (``tests/upload/test_soak.py``).
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig
from airflow_provider_oss.upload.folder import FolderUploadConfig, FolderUploader
from airflow_provider_oss.upload.folder_result import FolderUploadSummary
from airflow_provider_oss.upload.folder_scan import scan_folder
from tests.upload_support import KiB, files_holding, make_client

BUCKET = "soak-folder"
#: Marks every byte of the outside files (inside files are random bytes, which never hold it).
MARKER = b"<outside-the-folder>"
PART = 256 * KiB
#: The swaps a run draws from: a file for a link to an outside file, a directory for a link to an
#: outside directory holding the same names.
SWAPS = ("file", "dir")


@dataclass
class FolderRunReport:
    """What one folder soak run did."""

    number: int
    swaps: Counter[str] = field(default_factory=Counter)
    restored: int = 0
    uploaded: int = 0
    failed: int = 0
    outside_files_on_server: int = 0
    wrong_objects: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class FolderSoakSummary:
    """Totals over all folder runs."""

    runs: list[FolderRunReport] = field(default_factory=list)

    @property
    def failures(self) -> list[FolderRunReport]:
        return [r for r in self.runs if not r.ok]

    def text(self) -> str:
        swaps: Counter[str] = Counter()
        for run in self.runs:
            swaps.update(run.swaps)
        lines = [
            f"runs: {len(self.runs)} (kind folder)",
            "swaps by kind: " + ", ".join(f"{kind}={swaps[kind]}" for kind in SWAPS),
            f"swaps undone during the upload: {sum(r.restored for r in self.runs)}",
            f"files uploaded: {sum(r.uploaded for r in self.runs)}, failed (each a swapped one): "
            f"{sum(r.failed for r in self.runs)}",
            f"server files holding outside bytes: {sum(r.outside_files_on_server for r in self.runs)}",
            f"objects differing from their file: {sum(r.wrong_objects for r in self.runs)}",
            f"failures: {len(self.failures)}",
        ]
        lines += [f"  run {r.number}: {'; '.join(r.problems)}" for r in self.failures]
        return "\n".join(lines)


def _tree(rng: random.Random) -> dict[str, int]:
    """Relative path -> size: small files (one PutObject) and big ones (parts), in nested directories."""
    files = {}
    for number in range(rng.randint(4, 7)):
        directory = rng.choice(["", "a/", "a/b/", "c/"])
        big = rng.random() < 0.4
        files[f"{directory}f{number}.bin"] = (
            rng.randint(3 * PART, 6 * PART) if big else rng.randint(1, 64 * KiB)
        )
    return files


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class _Swapper:
    """Swaps entries of the folder for links to the outside tree at random moments, some back again."""

    def __init__(
        self, rng: random.Random, src: Path, outside: Path, moved: Path, files: dict[str, int]
    ) -> None:
        self.rng = rng
        self.src = src
        self.outside = outside
        self.moved = moved
        self.files = files
        self.dirs = sorted({str(Path(rel).parent) for rel in files} - {"."})
        self.done: list[tuple[str, Path]] = []  # (relative path swapped, where its original went)
        self.swaps: Counter[str] = Counter()
        self.restored = 0
        self.ever: set[str] = set()  # every relative path swapped at some moment

    def _free(self, rel: str) -> bool:
        """Neither it, nor a directory above or below it, is swapped already."""
        return all(not (rel == s or rel.startswith(s + "/") or s.startswith(rel + "/")) for s, _ in self.done)

    def swap(self, kind: str) -> None:
        pool = self.dirs if kind == "dir" and self.dirs else list(self.files)
        candidates = [rel for rel in pool if self._free(rel)]
        if not candidates:
            return
        rel = self.rng.choice(candidates)
        kept = self.moved / f"{len(self.done)}"
        os.rename(self.src / rel, kept)
        os.symlink(self.outside / rel, self.src / rel, target_is_directory=kind == "dir")
        self.done.append((rel, kept))
        self.ever.add(rel)
        self.swaps["dir" if rel in self.dirs else "file"] += 1

    def restore_last(self) -> None:
        rel, kept = self.done.pop()
        os.unlink(self.src / rel)
        os.rename(kept, self.src / rel)
        self.restored += 1

    def run(self, delays: list[tuple[float, str]]) -> None:
        started = time.monotonic()
        for at, action in delays:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if action == "restore":
                if self.done:
                    self.restore_last()
            else:
                self.swap(action)


def _check(
    report: FolderRunReport,
    client: OssClient,
    prefix: str,
    originals: dict[str, bytes],
    swapped: set[str],
    summary: FolderUploadSummary,
    server_root: Path,
) -> None:
    report.uploaded = summary.count("uploaded")
    report.failed = summary.count("failed")
    report.outside_files_on_server = len(files_holding(server_root, MARKER))
    if report.outside_files_on_server:
        report.problems.append(f"{report.outside_files_on_server} server file(s) hold outside bytes")
    for outcome in summary.outcomes:
        rel = outcome.file.relpath
        touched = any(rel == s or rel.startswith(s + "/") for s in swapped)
        if outcome.status != "uploaded" and not touched:
            report.problems.append(f"{rel} was never swapped but ended {outcome.status}: {outcome.error}")
    listed = {o.key: o for o in client.list_objects_v2(BUCKET, prefix=prefix)}
    uploaded = {o.file.key for o in summary.outcomes if o.status == "uploaded"}
    if set(listed) != uploaded:
        report.problems.append(f"objects {sorted(listed)} are not the uploaded files {sorted(uploaded)}")
    for key in listed:
        rel = key[len(prefix) :]
        if client.get_object(BUCKET, key) != originals.get(rel):
            report.wrong_objects += 1
            report.problems.append(f"{key} differs from its file")
        client.delete_object(BUCKET, key)
    left = list(client.list_multipart_uploads(BUCKET, prefix=prefix))
    if left:
        report.problems.append(f"{len(left)} multipart upload(s) left in progress")


def one_run(
    server: LocalOssServer, server_root: Path, number: int, rng: random.Random, work: Path
) -> FolderRunReport:
    """One seeded run: build the folder, scan it, upload it while swaps happen, check the server."""
    started = time.monotonic()
    report = FolderRunReport(number)
    run_dir = work / f"run-{number:03d}"
    src, outside, moved = run_dir / "src", run_dir / "outside", run_dir / "moved"
    moved.mkdir(parents=True)
    files = _tree(rng)
    data_rng = random.Random(rng.random())
    originals = {rel: data_rng.randbytes(size) for rel, size in sorted(files.items())}
    _write(src, originals)
    _write(outside, {rel: (MARKER * (size // len(MARKER) + 1))[:size] for rel, size in files.items()})
    prefix = f"run-{number:03d}/"
    listing = scan_folder(src, prefix, follow_symlinks=rng.random() < 0.5)
    moments = sorted((rng.uniform(0.0, 0.4), rng.choice(SWAPS)) for _ in range(rng.randint(1, 3)))
    moments += [(at + rng.uniform(0.0, 0.2), "restore") for at, _ in moments if rng.random() < 0.3]
    swapper = _Swapper(rng, src, outside, moved, files)
    cfg = FolderUploadConfig(concurrency=2, transfer=TransferConfig(part_size=PART, parallelism=2))
    client = make_client(server, pool_size=cfg.pool_size, max_retries=0)
    thread = threading.Thread(target=swapper.run, args=(sorted(moments),), name=f"soak-swapper-{number}")
    thread.start()
    try:
        summary = FolderUploader(client, BUCKET, listing, config=cfg).run()
    finally:
        thread.join()
    report.swaps, report.restored = swapper.swaps, swapper.restored
    _check(report, client, prefix, originals, swapper.ever, summary, server_root)
    report.seconds = time.monotonic() - started
    return report


def folder_soak(runs: int, seed: int, *, time_budget: float = 1800.0) -> FolderSoakSummary:
    """``runs`` seeded folder runs against one local server, stopping early past ``time_budget`` s."""
    rng = random.Random(seed)
    summary = FolderSoakSummary()
    deadline = time.monotonic() + time_budget
    with tempfile.TemporaryDirectory(prefix="oss-soak-folder-") as tmp:
        work, server_root = Path(tmp) / "work", Path(tmp) / "server"
        with LocalOssServer(buckets=(BUCKET,), root_dir=str(server_root)) as server:
            # each stored byte takes a little while, so that swaps land before, between and during parts
            server.add_fault("UploadPart", "delay", delay=0.02, times=10**9)
            server.add_fault("PutObject", "delay", delay=0.02, times=10**9)
            for number in range(1, runs + 1):
                if time.monotonic() > deadline:
                    break
                report = one_run(server, server_root, number, rng, work)
                summary.runs.append(report)
                print(
                    f"run {number:3d} folder {'ok' if report.ok else 'FAILED'} swaps={dict(report.swaps)} "
                    f"restored={report.restored} uploaded={report.uploaded} failed={report.failed} "
                    f"outside_on_server={report.outside_files_on_server} {report.seconds:.1f}s "
                    f"{'; '.join(report.problems)}",
                    flush=True,
                )
    return summary
