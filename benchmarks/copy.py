"""
Server-side copy on the local server (``python -m benchmarks.copy``): a 5 GiB object copied across
buckets with parallel UploadPartCopy, its requests and time, and parallel vs sequential as a ratio.

The 5 GiB source is built server-side from one 64 MiB object (81 UploadPartCopy of it, each a hard
link on the local server), so the copy's whole-segment parts are hard links too: the time measures
request handling (HEAD, initiate, parts, CRC-64 of each part read back, complete), not disk copying.
The ratio uses a 50 ms per-part server delay standing in for OSS's per-part copy latency.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from typing import Any

from airflow_provider_oss.copy import ServerSideCopier
from airflow_provider_oss.copy.calls import head_source, upload_part_copy
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig

MiB = 1024 * 1024
PART = 64 * MiB


def _client(server: LocalOssServer) -> OssClient:
    config = ClientConfig(
        region=server.region, endpoint=server.endpoint, addressing_style="path", pool_size=17
    )
    return OssClient(server.credentials, config)


def seed(server: LocalOssServer, parts: int, part: int = PART) -> int:
    """Make ``src/big.bin`` of ``parts`` x ``part`` bytes (64 MiB) server-side; return its size."""
    with _client(server) as client:
        client.put_object("src", "base.bin", os.urandom(part))
        base = head_source(client, "src", "base.bin")
        upload_id = client.initiate_multipart_upload("src", "big.bin")
        done = [
            upload_part_copy(client, base, "src", "big.bin", upload_id, n, 0, part)
            for n in range(1, parts + 1)
        ]
        client.complete_multipart_upload("src", "big.bin", upload_id, [(p.number, p.etag) for p in done])
    return parts * part


def copy_once(
    server: LocalOssServer, dest: str, parallelism: int, part_size: int, source: str = "big.bin"
) -> tuple[float, Counter[str]]:
    """Copy src/<source> to dst/<dest>; return (seconds, requests by operation)."""
    before = len(server.request_log())
    with _client(server) as client:
        started = time.perf_counter()
        result = ServerSideCopier(
            client, "src", source, "dst", dest,
            config=TransferConfig(part_size=part_size, parallelism=parallelism, multipart_threshold=part_size),
        ).run()  # fmt: skip
        seconds = time.perf_counter() - started
    assert result.crc64 is not None and result.method == "UploadPartCopy"
    return seconds, Counter(entry["op"] for entry in server.request_log()[before:])


def run(parts: int = 80, ratio_parts: int = 16, part: int = PART) -> dict[str, Any]:
    """
    The measurements (see the module docstring).

    :param parts: parts of ``part`` bytes in the big source (80 x 64 MiB = 5 GiB).
    :param ratio_parts: parts of the base object (``part`` bytes) in the parallel/sequential copies.
    :param part: the base object's size and the big copy's part size.
    :return: ``size``, ``seconds`` and ``requests`` (total) of the big copy, ``ops`` (its requests by
        operation), ``ratio_ops`` (the sequential copy's), ``sequential_s``, ``parallel_s``, ``ratio``.
    """
    with LocalOssServer(buckets=("src", "dst"), etag_mode="crc") as server:
        size = seed(server, parts, part)
        seconds, ops = copy_once(server, "big.bin", 16, part)
        server.add_fault("UploadPartCopy", "delay", delay=0.05, times=10**6)
        piece = part // ratio_parts  # the base object in ratio_parts parts
        seq, ratio_ops = copy_once(server, "seq.bin", 1, piece, "base.bin")
        par, _ = copy_once(server, "par.bin", 8, piece, "base.bin")
    return {"size": size, "seconds": seconds, "requests": sum(ops.values()), "ops": dict(ops),
            "ratio_ops": dict(ratio_ops), "sequential_s": seq, "parallel_s": par, "ratio": seq / par}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", type=int, default=80, help="64 MiB parts in the source (80 = 5 GiB)")
    args = parser.parse_args()
    got = run(args.parts)
    print(
        f"server-side copy of {got['size'] / 1024**3:.2f} GiB: {got['requests']:.0f} requests, {got['seconds']:.2f} s; "
        f"UploadPartCopy with 50 ms per part, 8 in parallel: {got['ratio']:.1f}x faster than one at a time "
        f"(sequential {got['sequential_s']:.2f} s, parallel {got['parallel_s']:.2f} s)"
    )


if __name__ == "__main__":
    main()
