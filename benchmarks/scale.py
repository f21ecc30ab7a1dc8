"""
Scale figures (``python -m benchmarks.scale``): a 10,000-part upload's plan, ListParts and resume,
and how this project's engine's wall time and memory grow with the file size.

Table 1: a file of N x 100 KiB (OSS's smallest part; N = 10,000 by default) goes up with 100 KiB
parts, parallelism 4 and a :class:`FileCheckpointStore`, while the server fails part N every time,
so that an upload holding parts 1..N-1 and its checkpoint remain. A fresh process then times
:func:`plan_parts`, a paginated ListParts of that upload through :class:`OssClient`, and the engine's
resume with the same checkpoint (which must send part N only). Re-seeded for every repeat; medians.
Targets: plan + ListParts under 2 s.

Table 2: files of 64 MiB to 4 GiB, 8 MiB parts, parallelism 4, each upload in its own process
(:func:`benchmarks.run.run_child`), interleaved rounds, medians; every object checked (size, CRC-64)
and deleted. Target: time linear in the size, peak RSS at most ``parallelism x part_size + 64 MiB``
over the interpreter's baseline.

The server is ``LocalOssServer.spawn(etag_mode="crc")`` in its own process; the files and its
storage go to ``/dev/shm`` when it has room, else ``.bench/`` in the repository. Prints the machine,
then the two markdown tables; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.testing.server import LocalOssServer
from airflow_provider_oss.upload import MIN_PART_SIZE
from benchmarks.clients import Target
from benchmarks.machine import describe
from benchmarks.run import (
    BUCKET,
    KEY,
    MIB,
    REPO_ROOT,
    BenchmarkError,
    complete_seconds,
    make_file,
    run_child,
    run_module,
    verify,
)

GIB = 1024 * MIB
#: The plan + ListParts target for a 10,000-part upload, in seconds.
TARGET_SECONDS = 2.0
#: Peak RSS may exceed ``parallelism x part_size`` by this much over the baseline.
RSS_HEADROOM = 64 * MIB
PARALLELISM = 4
GROWTH_PART_SIZE = 8 * MIB
#: ListParts' largest page (what the engine asks for).
PAGE_SIZE = 1000
#: How many times the server refuses the last part while seeding (more than the client's retries).
FAULT_TIMES = 1000
#: Free space kept on top of what the files and the server's storage need.
SPARE = 256 * MIB


@dataclass(frozen=True)
class Settings:
    """
    What to run.

    :param parts: parts of the table 1 file (0: skip table 1).
    :param sizes: table 2 file sizes in bytes (empty: skip table 2).
    :param parts_repeat: table 1 repeats.
    :param growth_repeat: table 2 interleaved rounds.
    :param work_dir: where the files and the server's storage go (None: chosen by free space).
    :param timeout: seconds before a child process is killed.
    """

    parts: int
    sizes: tuple[int, ...]
    parts_repeat: int
    growth_repeat: int
    work_dir: str | None
    timeout: float


def progress(message: str) -> None:
    """
    Print a progress line to stderr.

    :param message: the line.
    """
    print(message, file=sys.stderr, flush=True)


def work_root(needed: int, override: str | None) -> str:
    """
    ``/dev/shm`` when it has ``needed`` bytes free (and some spare), else ``.bench/`` in the repository.

    :param needed: bytes the files and the server's storage take at most.
    :param override: the ``--work-dir`` option, used as given when set.
    """
    if override:
        return override
    try:
        if shutil.disk_usage("/dev/shm").free >= needed + SPARE:
            return "/dev/shm"
    except OSError:
        pass
    fallback = REPO_ROOT / ".bench"
    fallback.mkdir(exist_ok=True)
    if shutil.disk_usage(fallback).free < needed + SPARE:
        raise BenchmarkError(f"neither /dev/shm nor {fallback} has {needed / GIB:.1f} GiB free")
    return str(fallback)


@contextmanager
def spawned_server(work: str) -> Iterator[tuple[LocalOssServer, OssClient]]:
    """
    The local server in its own process, storing under ``work``, and an admin client for it.

    :param work: the run's work directory.
    """
    with LocalOssServer.spawn(
        buckets=[BUCKET], etag_mode="crc", root_dir=str(Path(work) / "server")
    ) as server:
        config = ClientConfig(region=server.region, endpoint=server.endpoint, addressing_style="path")
        with OssClient(server.credentials, config) as admin:
            yield server, admin


def make_target(server: LocalOssServer, path: Path, part_size: int) -> Target:
    """
    The upload of ``path`` to the benchmark's bucket and key on ``server``.

    :param server: the local server.
    :param path: the file.
    :param part_size: bytes per part.
    """
    return Target(
        endpoint=server.endpoint,
        region=server.region,
        access_key_id=server.access_key_id,
        access_key_secret=server.access_key_secret,
        bucket=BUCKET,
        key=KEY,
        path=str(path),
        part_size=part_size,
        parallelism=PARALLELISM,
    )


def run_scale_child(mode: str, target: Target, checkpoint_dir: str, timeout: float) -> dict[str, Any]:
    """
    Run :mod:`benchmarks.scale_child` in ``mode`` and return its JSON line.

    :param mode: ``seed`` or ``measure``.
    :param target: where and how to upload.
    :param checkpoint_dir: the checkpoint directory.
    :param timeout: seconds before the child is killed.
    """
    spec = {"mode": mode, "checkpoint_dir": checkpoint_dir, **asdict(target)}
    return run_module("benchmarks.scale_child", spec, timeout, f"the {mode} process")


def seed_upload(
    server: LocalOssServer, target: Target, checkpoint_dir: str, parts: int, timeout: float
) -> float:
    """
    Leave an upload holding parts 1..parts-1 and its checkpoint: the engine runs while the server
    refuses part ``parts``. Returns the seeding run's seconds.

    :param server: the local server.
    :param target: the upload.
    :param checkpoint_dir: the checkpoint directory.
    :param parts: the plan's part count (the refused part).
    :param timeout: seconds before the child is killed.
    """
    server.clear_faults()
    server.add_fault("UploadPart", "status", status=500, times=FAULT_TIMES, part_number=parts, key=KEY)
    try:
        seeded = run_scale_child("seed", target, checkpoint_dir, timeout)
    finally:
        server.clear_faults()
    if seeded["failed_part"] != parts:
        raise BenchmarkError(f"the seeding run failed on part {seeded['failed_part']}, not {parts}")
    uploads = server.list_uploads(BUCKET)
    stored = [len(u["parts"]) for u in uploads]
    if stored != [parts - 1]:
        raise BenchmarkError(f"expected one upload holding {parts - 1} parts, found {stored}")
    return float(seeded["seconds"])


def resume_figures(log: list[dict[str, Any]], measured: dict[str, Any], parts: int) -> dict[str, Any]:
    """
    Split the server's log of one measuring process into its ListParts pages and the resume's
    requests.

    :param log: the server's request log since the measuring process started.
    :param measured: the process's result (its step start times).
    :param parts: the plan's part count (the one part the resume must send).
    """
    resume_epoch = float(measured["resume_epoch"])
    listing = [e for e in log if e["op"] == "ListParts" and float(e["time"]) < resume_epoch]
    resume = [e for e in log if float(e["time"]) >= resume_epoch]
    sent = [e for e in resume if e["op"] == "UploadPart"]
    completes = [e for e in resume if e["op"] == "CompleteMultipartUpload"]
    if not sent or not completes:
        raise BenchmarkError("the resume sent no part or did not complete")
    return {
        "pages": len(listing),
        "ops": dict(Counter(str(e["op"]) for e in resume)),
        "resent": sum(1 for e in sent if e["part_number"] != parts),
        "first_part_s": min(float(e["time"]) for e in sent) - resume_epoch,
        "complete_at_s": min(float(e["time"]) for e in completes) - resume_epoch,
        "complete_s": complete_seconds(completes),
    }


def check_resume(measured: dict[str, Any], parts: int) -> None:
    """
    Fail unless the measuring process planned and listed what it should and its resume reused every
    stored part and sent the missing one.

    :param measured: the measuring process's result.
    :param parts: the plan's part count.
    """
    result = measured["result"]
    if measured["planned"] != parts or measured["listed"] != parts - 1:
        raise BenchmarkError(
            f"planned {measured['planned']} and listed {measured['listed']} parts of {parts}"
        )
    if not result["resumed"] or result["parts_reused"] != parts - 1 or result["parts_sent"] != 1:
        raise BenchmarkError(
            f"the resume reused {result['parts_reused']} and sent {result['parts_sent']} part(s) "
            f"(resumed={result['resumed']}); expected {parts - 1} and 1"
        )


def parts_runs(settings: Settings) -> tuple[list[dict[str, Any]], str]:
    """
    Seed and resume the N-part upload ``parts_repeat`` times; return each repeat's figures and the
    work root.

    :param settings: what to run.
    """
    parts = settings.parts
    size = parts * MIN_PART_SIZE
    root = work_root(2 * size, settings.work_dir)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="oss-scale-parts-", dir=root) as work:
        path = Path(work) / "source.bin"
        progress(f"writing {parts} x 100 KiB ({size / MIB:.0f} MiB) of random bytes to {path} ...")
        expected_crc = make_file(path, size)
        checkpoint_dir = str(Path(work) / "checkpoints")
        with spawned_server(work) as (server, admin):
            target = make_target(server, path, MIN_PART_SIZE)
            for repeat in range(1, settings.parts_repeat + 1):
                seed_s = seed_upload(server, target, checkpoint_dir, parts, settings.timeout)
                server.clear_request_log()
                measured = run_scale_child("measure", target, checkpoint_dir, settings.timeout)
                check_resume(measured, parts)
                figures = {**measured, **resume_figures(server.request_log(), measured, parts)}
                verify(server, "resume", size, expected_crc, measured["result"]["crc64"])
                admin.delete_object(BUCKET, KEY)
                runs.append(figures)
                progress(
                    f"parts {repeat}/{settings.parts_repeat}: seeded in {seed_s:.1f} s; plan "
                    f"{figures['plan_s'] * 1e3:.1f} ms, ListParts {figures['list_s'] * 1e3:.0f} ms "
                    f"({figures['pages']} pages), resume {figures['resume_s']:.2f} s, first part after "
                    f"{figures['first_part_s']:.2f} s, Complete sent after {figures['complete_at_s']:.2f} s and answered "
                    f"in {figures['complete_s']:.2f} s, requests {figures['ops']}"
                )
    return runs, root


def _median(runs: list[dict[str, Any]], field: str) -> float:
    return float(statistics.median(float(r[field]) for r in runs))


def _same_or_list(values: list[Any]) -> str:
    """One value when every repeat agrees, else all of them."""
    return str(values[0]) if len(set(map(str, values))) == 1 else ", ".join(map(str, values))


def _ops(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(ops.items()))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def parts_table(runs: list[dict[str, Any]], parts: int) -> list[str]:
    """
    Table 1's markdown lines (medians of the repeats).

    :param runs: each repeat's figures.
    :param parts: the plan's part count.
    """
    plan_list = statistics.median(float(r["plan_s"]) + float(r["list_s"]) for r in runs)
    first = _median(runs, "first_part_s")
    return [
        "| parts | plan ms | ListParts ms | ListParts pages | plan + ListParts ms | < 2 s "
        "| resume s | resume: first UploadPart after s | < 2 s | resume: Complete sent after s "
        "| server complete s | resume requests | stored parts re-sent |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---|---:|",
        f"| {parts:,} | {_median(runs, 'plan_s') * 1e3:.2f} | {_median(runs, 'list_s') * 1e3:.0f} "
        f"| {_same_or_list([r['pages'] for r in runs])} | {plan_list * 1e3:.0f} "
        f"| {_verdict(plan_list < TARGET_SECONDS)} | {_median(runs, 'resume_s'):.2f} | {first:.2f} "
        f"| {_verdict(first < TARGET_SECONDS)} | {_median(runs, 'complete_at_s'):.2f} "
        f"| {_median(runs, 'complete_s'):.2f} "
        f"| {_same_or_list([_ops(r['ops']) for r in runs])} "
        f"| {_same_or_list([r['resent'] for r in runs])} |",
    ]


# -- table 2: growth --------------------------------------------------------------------------------


def growth_runs(settings: Settings) -> tuple[dict[int, list[dict[str, Any]]], str]:
    """
    Upload every size once per round, interleaved, each in its own process; return each size's runs
    and the work root.

    :param settings: what to run.
    """
    sizes = settings.sizes
    root = work_root(sum(sizes) + 2 * max(sizes), settings.work_dir)
    results: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory(prefix="oss-scale-growth-", dir=root) as work:
        files: dict[int, tuple[Path, int]] = {}
        for size in sizes:
            path = Path(work) / f"source-{size // MIB}.bin"
            progress(f"writing {size // MIB} MiB of random bytes to {path} ...")
            files[size] = (path, make_file(path, size))
        with spawned_server(work) as (server, admin):
            # The largest file warms up: on a VM, memory touched for the first time is slow, and the
            # first round would pay for the server storage's fresh pages.
            largest = max(sizes)
            progress(f"warm-up upload ({largest // MIB} MiB, not counted) ...")
            upload_once(
                server,
                admin,
                make_target(server, files[largest][0], GROWTH_PART_SIZE),
                files[largest][1],
                settings.timeout,
            )
            for round_number in range(1, settings.growth_repeat + 1):
                for size in sizes:
                    path, crc = files[size]
                    result = upload_once(
                        server, admin, make_target(server, path, GROWTH_PART_SIZE), crc, settings.timeout
                    )
                    results[size].append(result)
                    progress(
                        f"round {round_number}/{settings.growth_repeat} {size // MIB:5} MiB: "
                        f"{result['seconds']:.2f} s, {size / result['seconds'] / 1e6:.0f} MB/s, peak "
                        f"+{(result['peak_rss'] - result['baseline_rss']) / MIB:.0f} MiB, server complete "
                        f"{result['complete_s']:.2f} s"
                    )
    return results, root


def upload_once(
    server: LocalOssServer, admin: OssClient, target: Target, crc: int, timeout: float
) -> dict[str, Any]:
    """
    One upload by this project's engine in its own process, checked on the server and deleted.

    :param server: the local server.
    :param admin: a client to delete the object with.
    :param target: the upload.
    :param crc: the file's CRC-64.
    :param timeout: seconds before the child is killed.
    """
    server.clear_request_log()
    result = run_child("ours", target, timeout)
    result["complete_s"] = complete_seconds(server.request_log())
    verify(server, "ours", os.path.getsize(target.path), crc, result["crc64"])
    admin.delete_object(BUCKET, KEY)
    os.sync()  # no writeback of this run's bytes during the next one
    return result


def growth_table(results: dict[int, list[dict[str, Any]]]) -> list[str]:
    """
    Table 2's markdown lines (medians of the rounds; the largest peak RSS of any round).

    :param results: file size -> its runs.
    """
    per_gib = {size: _median(runs, "seconds") / (size / GIB) for size, runs in results.items()}
    reference = GIB if GIB in per_gib else max(per_gib)
    budget = PARALLELISM * GROWTH_PART_SIZE + RSS_HEADROOM
    lines = [
        f"| size MiB | parts | wall s | MB/s | s per GiB | s per GiB vs {reference // MIB} MiB "
        "| server complete s | peak RSS over baseline MiB (max) | RSS budget MiB | within budget |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size, runs in results.items():
        seconds = _median(runs, "seconds")
        peak = max(int(r["peak_rss"]) - int(r["baseline_rss"]) for r in runs)
        lines.append(
            f"| {size // MIB} | {math.ceil(size / GROWTH_PART_SIZE)} | {seconds:.2f} | {size / seconds / 1e6:.0f} "
            f"| {per_gib[size]:.2f} | {per_gib[size] / per_gib[reference]:.2f} | {_median(runs, 'complete_s'):.2f} "
            f"| {peak / MIB:.0f} | {budget // MIB} | {_verdict(peak <= budget)} |"
        )
    return lines


# -- main ---------------------------------------------------------------------------------------------


def parse_settings(argv: list[str] | None) -> Settings:
    """
    The command line's settings.

    :param argv: the arguments (None: ``sys.argv``).
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--parts", type=int, default=10_000, help="parts of the table 1 upload (default 10000)"
    )
    parser.add_argument("--sizes-mb", default="64,256,1024,4096", help="table 2 file sizes in MiB")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="repeats of both tables (default: 3 for table 1, 2 for table 2)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1,000 parts, 16 and 64 MiB, 1 repeat"
    )
    parser.add_argument("--no-parts", action="store_true", help="skip table 1")
    parser.add_argument("--no-growth", action="store_true", help="skip table 2")
    parser.add_argument(
        "--work-dir", default=None, help="where files and server storage go (default: by free space)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a child process is killed"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.parts, args.sizes_mb, args.repeat = 1000, "16,64", 1
    try:
        sizes = tuple(int(s) * MIB for s in args.sizes_mb.split(",") if s.strip())
    except ValueError:
        parser.error(f"--sizes-mb must be comma-separated integers; got {args.sizes_mb!r}")
    if not 2 <= args.parts <= 10_000:
        parser.error("--parts must be from 2 to 10000")
    if any(s < 1 for s in sizes) or (args.repeat is not None and args.repeat < 1):
        parser.error("--sizes-mb and --repeat must be at least 1")
    return Settings(
        parts=0 if args.no_parts else args.parts,
        sizes=() if args.no_growth else sizes,
        parts_repeat=args.repeat or 3,
        growth_repeat=args.repeat or 2,
        work_dir=args.work_dir,
        timeout=args.timeout,
    )


def print_parts(runs: list[dict[str, Any]], settings: Settings, root: str) -> None:
    """
    Print table 1 with its heading and notes.

    :param runs: each repeat's figures.
    :param settings: what ran.
    :param root: where the file and the server's storage were.
    """
    parts = settings.parts
    print(
        f"### {parts:,} parts of 100 KiB: plan, ListParts and resume ({parts * MIN_PART_SIZE / MIB:.0f} MiB, "
        f"parallelism {PARALLELISM}, FileCheckpointStore; medians of {settings.parts_repeat}; files in {root})"
    )
    print()
    print(*parts_table(runs, parts), sep="\n")
    print()
    print(
        f"An upload holding parts 1..{parts - 1:,} (the engine ran while the server refused part {parts:,}) is "
        "re-seeded for every repeat; a fresh process then times plan_parts plus building every part of the "
        "plan (plan ms), a paginated ListParts of the upload through OssClient (1,000 parts a page), and a new "
        "ResumableUploader.run() with the same checkpoint store (resume s, to the completed and verified object). "
        "First UploadPart after = from run() to the server's arrival of the resume's first UploadPart (plan, "
        "checkpoint, ListParts and matching, and any local checking the engine does before it sends), the wait "
        "a user sees before new bytes go up. "
        "Complete sent after = from run() to the arrival of its CompleteMultipartUpload; server complete s = the "
        "server's time answering it (both part of resume s). "
        "Resume requests are the server's log of the resume; stored parts re-sent = UploadParts of parts other "
        f"than {parts:,}."
    )
    print()


def print_growth(results: dict[int, list[dict[str, Any]]], settings: Settings, root: str) -> None:
    """
    Print table 2 with its heading and notes.

    :param results: file size -> its runs.
    :param settings: what ran.
    :param root: where the files and the server's storage were.
    """
    print(
        f"### Growth: {GROWTH_PART_SIZE // MIB} MiB parts, parallelism {PARALLELISM} "
        f"({settings.growth_repeat} interleaved round(s), medians; files in {root})"
    )
    print()
    print(*growth_table(results), sep="\n")
    print()
    print(
        "Wall s = the upload in its own process (client construction to completed object, imports excluded), "
        "every object checked (size, CRC-64) and deleted. s per GiB should stay flat (linear time). Peak RSS "
        "over baseline = the child's VmHWM during the upload minus its RSS after imports, the largest of the "
        f"rounds; budget = parallelism x part size + {RSS_HEADROOM // MIB} MiB. Server complete s = the "
        "server's time answering CompleteMultipartUpload, part of wall s."
    )


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the selected tables, print the machine and the tables."""
    settings = parse_settings(argv)
    started = time.monotonic()
    parts = parts_runs(settings) if settings.parts else None
    growth = growth_runs(settings) if settings.sizes else None
    elapsed = time.monotonic() - started
    print("## Scale benchmark")
    print()
    print(*describe(), sep="\n")
    print(
        "- server: LocalOssServer.spawn(etag_mode='crc') in its own process on 127.0.0.1; every upload and "
        f"measurement in its own process ({elapsed:.0f} s in all)"
    )
    print()
    if parts is not None:
        print_parts(parts[0], settings, parts[1])
    if growth is not None:
        print_growth(growth[0], settings, growth[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
