"""
The distributed upload's overhead (``python -m benchmarks.distributed``): one 2 GiB file uploaded
side by side in one run, against one local OSS server, by

- the plain engine (``ResumableUploader``, one process);
- the distributed steps without Airflow (plan, N range uploads one after the other, complete);
- the ``distributed_upload`` task group under ``dag.test()`` (plan, N mapped range tasks, complete),

for N = 1, 2 and 4 range tasks: wall time, requests by operation, and correctness (the object's
size and CRC-64 equal the file's, one upload ID). Then the fixed cost per mapped task: the same
task group on a small file with 1 and with 16 range tasks, (t16 - t1) / 15.

This machine has 2 cores and ``dag.test()`` runs the tasks one after the other in one process, so
this measures overhead and correctness, not speed-up; BENCHMARKS.md estimates the scaling with N
workers on paper.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.testing import LocalOssServer

MIB = 1024 * 1024
BUCKET = "bench-bucket"
KEY = "bench/distributed.bin"
OPS = ("InitiateMultipartUpload", "UploadPart", "ListParts", "CompleteMultipartUpload", "HeadObject")

DAG_TEMPLATE = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_oss.operators.distributed_upload import distributed_upload

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    distributed_upload(
        task_id="big", filename={path!r}, bucket={bucket!r}, key={key!r}, part_size={part_size},
        ranges={ranges}, parallelism={parallelism}, checkpoint="state_store",
    )
"""


def _airflow_env(home: Path, server: LocalOssServer) -> None:
    """Point this process's Airflow at a fresh home (SQLite) and ``oss_default`` at the server."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_OSS_DEFAULT": json.dumps(
                {
                    "conn_type": "oss_resumable",
                    "login": server.access_key_id,
                    "password": server.access_key_secret,
                    "extra": {
                        "region": server.region,
                        "endpoint": server.endpoint,
                        "addressing_style": "path",
                    },
                }
            ),
        }
    )
    (home / "dags").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        capture_output=True,
        timeout=600,
    )


def _client(server: LocalOssServer, parallelism: int) -> OssClient:
    config = ClientConfig(
        region=server.region, endpoint=server.endpoint, addressing_style="path", pool_size=parallelism + 1
    )
    return OssClient(server.credentials, config)


class Bench:
    """One server, one file, and the rows measured on them."""

    def __init__(
        self, server: LocalOssServer, source: Path, expected_crc: int, part_size: int, parallelism: int
    ):
        self.server, self.source, self.expected_crc = server, source, expected_crc
        self.part_size, self.parallelism = part_size, parallelism
        self.size = source.stat().st_size
        self.rows: list[dict[str, Any]] = []

    def measure(
        self, label: str, ranges: int | None, run: Callable[[], None], *, check: bool = True
    ) -> float:
        """Run ``run`` from a clean bucket; record wall time and requests; check the object."""
        self.server.clear_request_log()
        started = time.perf_counter()
        run()
        wall = time.perf_counter() - started
        log = self.server.request_log()
        counts = collections.Counter(e["op"] for e in log)
        upload_ids = {e["upload_id"] for e in log if e.get("upload_id")}
        if check:
            info = self.server.object_info(BUCKET, KEY)
            if info["size"] != self.size or self.server.stored_crc64(BUCKET, KEY) != self.expected_crc:
                raise RuntimeError(f"{label}: the object is not the file")
            if len(upload_ids) != 1 or self.server.list_uploads(BUCKET):
                raise RuntimeError(f"{label}: {len(upload_ids)} upload IDs, or an upload left in progress")
            with _client(self.server, 1) as admin:
                admin.delete_object(BUCKET, KEY)
        self.rows.append(
            {
                "label": label,
                "ranges": ranges,
                "wall": wall,
                "requests": len(log),
                **{op: counts[op] for op in OPS},
            }
        )
        return wall

    def engine(self) -> None:
        from airflow_provider_oss.upload import MemoryCheckpointStore, ResumableUploader, TransferConfig

        with _client(self.server, self.parallelism) as client:
            config = TransferConfig(part_size=self.part_size, parallelism=self.parallelism)
            ResumableUploader(
                client, BUCKET, KEY, self.source, config=config, checkpoint_store=MemoryCheckpointStore()
            ).run()

    def steps(self, ranges: int, source: Path | None = None) -> None:
        from airflow_provider_oss.upload import MemoryCheckpointStore, TransferConfig
        from airflow_provider_oss.upload.distributed import start_plan, upload_range
        from airflow_provider_oss.upload.distributed_complete import complete_plan

        with _client(self.server, self.parallelism) as client:
            plan = start_plan(
                client,
                BUCKET,
                KEY,
                source or self.source,
                store=MemoryCheckpointStore(),
                part_size=self.part_size if source is None else 100 * 1024,
                ranges=ranges,
            )
            config = TransferConfig(parallelism=self.parallelism)
            results = [
                upload_range(client, plan, r, config=config, store=MemoryCheckpointStore())
                for r in plan.part_ranges()
            ]
            complete_plan(client, plan, results)

    def dag_test(self, ranges: int, source: Path | None = None) -> None:
        import importlib.util

        dag_id = f"bench_distributed_{ranges}_{time.monotonic_ns()}"
        path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
        path.write_text(
            DAG_TEMPLATE.format(
                dag_id=dag_id,
                path=str(source or self.source),
                bucket=BUCKET,
                key=KEY,
                part_size=self.part_size if source is None else 100 * 1024,
                ranges=ranges,
                parallelism=self.parallelism,
            )
        )
        spec = importlib.util.spec_from_file_location(dag_id, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        run = module.dag.test()
        if run.state != "success":
            raise RuntimeError(f"dag.test() of {dag_id} ended {run.state}")


def _medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (label, ranges), in first-seen order: the median wall time, the first round's counts."""
    groups: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["label"], row["ranges"]), []).append(row)
    out = []
    for group in groups.values():
        out.append(
            {
                **group[0],
                "wall": statistics.median(r["wall"] for r in group),
                "walls": [r["wall"] for r in group],
            }
        )
    return out


def _write_file(path: Path, size: int) -> int:
    value = 0
    with path.open("wb") as f:
        while f.tell() < size:
            block = os.urandom(min(8 * MIB, size - f.tell()))
            f.write(block)
            value = crc64.update(value, block)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--part-size-mb", type=int, default=16)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--ranges", default="1,2,4", help="range task counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds (medians reported)")
    parser.add_argument("--small-ranges", type=int, default=16, help="range tasks of the fixed-cost run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 MiB in 4 MiB parts, ranges 1,2")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.part_size_mb, args.ranges, args.small_ranges, args.repeat = 64, 4, "1,2", 4, 1
    counts = [int(n) for n in args.ranges.split(",")]
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="oss-bench-distributed-", dir=shm) as work:
        root = Path(work)
        source, small = root / "source.bin", root / "small.bin"
        expected = _write_file(source, args.size_mb * MIB)
        small_crc = _write_file(small, args.small_ranges * 100 * 1024)
        with LocalOssServer.spawn(buckets=[BUCKET], etag_mode="crc", root_dir=str(root / "server")) as server:
            started = time.perf_counter()
            _airflow_env(root / "airflow", server)
            migrate_s = time.perf_counter() - started
            fixed = Bench(server, small, small_crc, 100 * 1024, args.parallelism)
            # warm-up, not reported: imports, the first connections, Airflow's first DAG bundle sync
            fixed.measure("warm-up", 1, fixed.engine)
            fixed.measure("warm-up", 1, lambda: fixed.steps(1, small))
            fixed.measure("warm-up", 1, lambda: fixed.dag_test(1, small))
            fixed.rows.clear()
            bench = Bench(server, source, expected, args.part_size_mb * MIB, args.parallelism)
            cases: list[tuple[str, int | None, Callable[[], None]]] = [
                ("engine (ResumableUploader)", None, bench.engine),
                *(("steps without Airflow", n, functools.partial(bench.steps, n)) for n in counts),
                *(("task group under dag.test()", n, functools.partial(bench.dag_test, n)) for n in counts),
            ]
            for round_ in range(args.repeat):  # interleaved rounds, each starting one case later; medians
                shift = round_ % len(cases)
                for label, n_ranges, run in cases[shift:] + cases[:shift]:
                    bench.measure(label, n_ranges, run)
            big_rows = _medians(bench.rows)
            big_rows.sort(key=lambda row: [c[:2] for c in cases].index((row["label"], row["ranges"])))
            fixed_rows: dict[tuple[str, int], float] = {}
            for _ in range(args.repeat):
                for how, method in (("steps", fixed.steps), ("dag.test()", fixed.dag_test)):
                    for n in (1, args.small_ranges):
                        fixed.measure(f"{how} small", n, functools.partial(method, n, small))
            for row in _medians(fixed.rows):
                fixed_rows[(row["label"].split()[0], row["ranges"])] = row["wall"]
    _report(args, big_rows, fixed_rows, migrate_s)
    return 0


def _report(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    fixed: dict[tuple[str, int], float],
    migrate_s: float,
) -> None:
    parts = -(-args.size_mb // args.part_size_mb)
    engine = next(row["wall"] for row in rows if row["ranges"] is None)
    print(
        f"## Distributed upload: {args.size_mb} MiB, {args.part_size_mb} MiB parts ({parts} parts), "
        f"parallelism {args.parallelism} per task, median of {args.repeat} interleaved round(s)\n"
    )
    print("| how | range tasks | wall s | vs engine | MB/s | requests | " + " | ".join(OPS) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(OPS))
    for row in rows:
        ranges = "-" if row["ranges"] is None else str(row["ranges"])
        rate = args.size_mb * MIB / row["wall"] / 1e6
        print(
            f"| {row['label']} | {ranges} | {row['wall']:.2f} | {row['wall'] / engine:.2f}x | {rate:.0f} | "
            f"{row['requests']} | " + " | ".join(str(row[op]) for op in OPS) + " |"
        )
    n = args.small_ranges
    steps_cost = (fixed[("steps", n)] - fixed[("steps", 1)]) / (n - 1)
    dag_cost = (fixed[("dag.test()", n)] - fixed[("dag.test()", 1)]) / (n - 1)
    print(
        f"\nFixed cost per range task ({n} x 100 KiB parts, 1 range vs {n} ranges, (t{n} - t1) / {n - 1}): "
        f"steps without Airflow {steps_cost * 1000:.1f} ms (t1 {fixed[('steps', 1)]:.2f} s, t{n} "
        f"{fixed[('steps', n)]:.2f} s); dag.test() mapped task {dag_cost * 1000:.0f} ms (t1 "
        f"{fixed[('dag.test()', 1)]:.2f} s, t{n} {fixed[('dag.test()', n)]:.2f} s). Airflow db migrate: {migrate_s:.1f} s."
    )
    print("Every row's object was checked: size and CRC-64 equal the file's, one upload ID, no upload left.")


if __name__ == "__main__":
    sys.exit(main())
