"""
Resume figures (``python -m benchmarks.resume``): a full upload against an upload SIGKILLed at 90%
and resumed by a new process, interleaved (full, kill+resume, full, kill+resume, ...), medians.

Reports the resume's wall time relative to a full upload, the parts it sent, the parts it read
back to CRC-check them (those stored after the checkpoint's last update of confirmed parts), and
what was sent twice: parts already stored before the kill (must be none) and parts in flight at the
kill (at most ``parallelism``). Targets: resume <= 20% of a full upload.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer

MIB = 1024 * 1024
BUCKET = "bench-bucket"
KEY = "bench/resume.bin"

CHILD = """
import json, sys, time
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.upload import FileCheckpointStore, ResumableUploader, TransferConfig, recommended_pool_size
spec = json.loads(sys.stdin.readline())
config = ClientConfig(region=spec["region"], endpoint=spec["endpoint"], addressing_style="path",
                      pool_size=recommended_pool_size(spec["parallelism"]))
client = OssClient(Credentials(spec["access_key_id"], spec["secret"]), config)
store = FileCheckpointStore(spec["checkpoint_dir"], spec["bucket"], spec["key"], spec["path"])
started = time.perf_counter()
transfer = TransferConfig(part_size=spec["part_size"], parallelism=spec["parallelism"])
result = ResumableUploader(client, spec["bucket"], spec["key"], spec["path"], config=transfer,
                           checkpoint_store=store).run()
print(json.dumps({**result.to_dict(), "wall": time.perf_counter() - started}), flush=True)
"""


def _start(spec: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    return proc


def _finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"upload process failed ({proc.returncode}): {err.strip()[-500:]}")
    return dict(json.loads(lines[-1]))


def _stored(server: LocalOssServer) -> set[int]:
    return {e["part_number"] for e in server.request_log() if e["op"] == "UploadPart" and e["status"] == 200}


def _check(server: LocalOssServer, size: int, expected: int) -> None:
    info = server.object_info(BUCKET, KEY)
    if info["size"] != size or server.stored_crc64(BUCKET, KEY) != expected:
        raise RuntimeError("the object in the server is not the file")
    if server.list_uploads(BUCKET):
        raise RuntimeError("an upload was left in progress")


def measure(size: int, part_size: int, parallelism: int, repeat: int, kill_at: float) -> dict[str, Any]:
    """Run the interleaved full / kill+resume rounds and return the medians and counts."""
    parts = -(-size // part_size)
    full_times: list[float] = []
    resume_times: list[float] = []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(
        prefix="oss-bench-resume-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    ) as work:
        source = Path(work) / "source.bin"
        expected = 0
        with source.open("wb") as f:
            for _ in range(-(-size // (4 * MIB))):
                block = os.urandom(min(4 * MIB, size - f.tell()))
                f.write(block)
                expected = crc64.update(expected, block)
        with LocalOssServer.spawn(
            buckets=[BUCKET], etag_mode="crc", root_dir=str(Path(work) / "server")
        ) as server:
            spec = {
                "endpoint": server.endpoint,
                "region": server.region,
                "access_key_id": server.access_key_id,
                "secret": server.access_key_secret,
                "bucket": BUCKET,
                "key": KEY,
                "path": str(source),
                "part_size": part_size,
                "parallelism": parallelism,
                "checkpoint_dir": str(Path(work) / "checkpoints"),
            }
            for _ in range(repeat):
                server.clear_request_log()
                full = _finish(_start(spec), 600)
                _check(server, size, expected)
                full_times.append(full["wall"])
                _delete(server)

                server.clear_request_log()
                victim = _start(spec)
                deadline = time.monotonic() + 600
                while len(_stored(server)) < kill_at * parts and victim.poll() is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the upload to kill did not progress")
                    time.sleep(0.005)
                victim.send_signal(signal.SIGKILL)
                victim.communicate(timeout=60)
                before = _stored(server)
                in_flight = {
                    e["part_number"]
                    for e in server.request_log()
                    if e["op"] == "UploadPart" and e["status"] != 200
                }
                mark = max((e["seq"] for e in server.request_log()), default=0)
                resumed = _finish(_start(spec), 600)
                _check(server, size, expected)
                after = [
                    e["part_number"]
                    for e in server.request_log()
                    if e["seq"] > mark and e["op"] == "UploadPart" and e["status"] == 200
                ]
                if not resumed["resumed"]:
                    raise RuntimeError("the second process did not resume the upload")
                resume_times.append(resumed["wall"])
                rows.append(
                    {
                        "stored_at_kill": len(before),
                        "resume_parts_sent": len(after),
                        "stored_parts_sent_again": len(set(after) & before),
                        "in_flight_at_kill_sent_again": len(set(after) & (in_flight - before)),
                        "bytes_sent_by_resume": resumed["bytes_sent"],
                        "parts_read_back": resumed["parts_reused"] - resumed["parts_reused_confirmed"],
                        "mib_sent_again": sum(
                            min(part_size, size - (n - 1) * part_size)
                            for n in set(after) & (before | in_flight)
                        )
                        / MIB,
                    }
                )
                _delete(server)
    full_s = statistics.median(full_times)
    resume_s = statistics.median(resume_times)
    return {
        "size": size,
        "parts": parts,
        "full_s": full_s,
        "resume_s": resume_s,
        "ratio": resume_s / full_s,
        "rows": rows,
    }


def _delete(server: LocalOssServer) -> None:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig

    config = ClientConfig(region=server.region, endpoint=server.endpoint, addressing_style="path")
    with OssClient(server.credentials, config) as admin:
        admin.delete_object(BUCKET, KEY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--part-size-mb", type=int, default=8)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kill-at", type=float, default=0.9, help="fraction of parts stored before the kill")
    parser.add_argument("--quick", action="store_true", help="smoke run: 128 MiB in 4 MiB parts")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.part_size_mb = 128, 4
    figures = measure(
        args.size_mb * MIB, args.part_size_mb * MIB, args.parallelism, args.repeat, args.kill_at
    )
    print(
        f"## Resume after a SIGKILL at {args.kill_at:.0%}: {args.size_mb} MiB, {figures['parts']} parts, parallelism {args.parallelism}\n"
    )
    print(
        "| full upload s (median) | resume s (median) | resume / full | target <= 0.20 | parts stored at kill "
        "| parts sent by resume | parts read back by resume | stored parts sent again | in-flight parts sent again | MiB sent again |"
    )
    print("|---:|---:|---:|---|---|---|---|---|---|---|")
    rows = figures["rows"]

    def cells(field: str) -> str:
        return ", ".join(str(r[field]) for r in rows)

    verdict = "PASS" if figures["ratio"] <= 0.20 else "FAIL"
    print(
        f"| {figures['full_s']:.2f} | {figures['resume_s']:.2f} | {figures['ratio']:.2f} | {verdict} | "
        f"{cells('stored_at_kill')} | {cells('resume_parts_sent')} | {cells('parts_read_back')} | "
        f"{cells('stored_parts_sent_again')} | {cells('in_flight_at_kill_sent_again')} | "
        f"{', '.join(format(r['mib_sent_again'], '.0f') for r in rows)} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
