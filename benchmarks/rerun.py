"""
What recognising a completed upload costs (``python -m benchmarks.rerun``): a file of 10,000 parts
of 100 KiB goes up once; then the same upload runs again, as a retry of a try killed right after
completing or a re-run of a cleared task would, three ways, each in this process, medians of 3:

- ``mark``: the checkpoint record is marked completed (the default): one HEAD, nothing read;
- ``no mark``: no record (``completed_retention=0``, or the ``discover`` mode): one HEAD and one
  read of the file for its CRC-64;
- ``first upload``: the upload itself, for scale.

Every re-run must send no part. Prints a markdown table with the seconds, the ratio to the first
upload, the requests and the bytes read from the file. The server runs in its own process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.testing.server import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, ResumableUploader, TransferConfig
from airflow_provider_oss.upload import reader as reader_mod
from benchmarks.run import make_file

PART = 100 * 1024
BUCKET = "bench-bucket"


def _client(server: LocalOssServer) -> OssClient:
    config = ClientConfig(
        region=server.region, endpoint=server.endpoint, addressing_style="path", pool_size=8
    )
    return OssClient(server.credentials, config)


def _run(
    server: LocalOssServer, path: Path, store: MemoryCheckpointStore, retention: float
) -> dict[str, float]:
    read = [0]
    into, whole = reader_mod.PartReader.read_into, crc64_mod.crc64_of_file

    def counted_into(self: reader_mod.PartReader, view: memoryview, offset: int) -> int:
        n = into(self, view, offset)
        read[0] += n
        return n

    def counted_whole(name: str, *args: object, **kwargs: object) -> int:
        read[0] += Path(name).stat().st_size
        return whole(name, *args, **kwargs)  # type: ignore[arg-type]

    reader_mod.PartReader.read_into = counted_into  # type: ignore[method-assign]
    crc64_mod.crc64_of_file = counted_whole  # type: ignore[assignment]
    try:
        before = len(server.request_log())
        started = time.perf_counter()
        result = ResumableUploader(
            _client(server),
            BUCKET,
            "big.bin",
            path,
            config=TransferConfig(part_size=PART, parallelism=4, completed_retention=retention),
            checkpoint_store=store,
        ).run()
        seconds = time.perf_counter() - started
        requests = len(server.request_log()) - before
    finally:
        reader_mod.PartReader.read_into = into  # type: ignore[method-assign]
        crc64_mod.crc64_of_file = whole
    return {"seconds": seconds, "requests": requests, "read": read[0], "sent": result.parts_sent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", type=int, default=10_000, help="parts of 100 KiB (default 10,000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows: dict[str, list[dict[str, float]]] = {"first upload": [], "mark": [], "no mark": []}
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        path = Path(tmp) / "big.bin"
        make_file(path, args.parts * PART)
        server = LocalOssServer.spawn(buckets=(BUCKET,), etag_mode="crc")
        try:
            for _ in range(args.repeat):
                with _client(server) as client:
                    client.delete_object(BUCKET, "big.bin")  # each round starts without the object
                marked = MemoryCheckpointStore()
                rows["first upload"].append(_run(server, path, marked, 7 * 86400.0))
                rows["mark"].append(_run(server, path, marked, 7 * 86400.0))
                rows["no mark"].append(_run(server, path, MemoryCheckpointStore(), 0.0))
        finally:
            server.stop()
    full = statistics.median(r["seconds"] for r in rows["first upload"])
    size_mib = args.parts * PART / (1 << 20)
    print(
        f"| {args.parts:,} parts ({size_mib:.0f} MiB) | seconds (median of {args.repeat}) | of the first upload | requests | MiB read | parts sent |"
    )
    print("|---|---|---|---|---|---|")
    for name, runs in rows.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        print(
            f"| {name} | {seconds:.3f} | {seconds / full:.4f} | {int(statistics.median(r['requests'] for r in runs))} "
            f"| {statistics.median(r['read'] for r in runs) / (1 << 20):.0f} | {int(max(r['sent'] for r in runs))} |"
        )
    failed = [name for name in ("mark", "no mark") if any(r["sent"] for r in rows[name])]
    if failed:
        print(f"FAIL: the re-run sent parts again ({', '.join(failed)})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
