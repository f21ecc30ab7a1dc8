"""
Measure how fast the local server ingests a multipart upload (``python -m airflow_provider_oss.testing.bench``).

A client with ``requests`` uploads ``--size-mb`` MiB in ``--part-mb`` MiB parts from ``--threads``
threads (one session each, every part signed with V4 just before it is sent) and completes the
upload; the script prints the rate and checks the server's CRC-64 of the object.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree

import requests

from airflow_provider_oss.core import crc64, signing
from airflow_provider_oss.testing.server import LocalOssServer

MIB = 1024 * 1024


def _url(server: LocalOssServer, bucket: str, key: str, query: list[tuple[str, str]]) -> str:
    qs = "&".join(
        f"{signing.uri_encode(n)}={signing.uri_encode(v)}" if v else signing.uri_encode(n) for n, v in query
    )
    return f"{server.endpoint}/{bucket}/{signing.uri_encode(key, safe='/')}" + (f"?{qs}" if qs else "")


def _send(
    session: requests.Session,
    server: LocalOssServer,
    method: str,
    key: str,
    query: list[tuple[str, str]],
    data: Any = b"",
) -> requests.Response:
    headers: dict[str, str] = {}
    signing.sign_v4(
        signing.SigningRequest(method, "bench", key, query, headers),
        server.credentials,
        server.region,
        datetime.now(timezone.utc),
    )
    response = session.request(
        method, _url(server, "bench", key, query), headers=headers, data=data, timeout=120
    )
    response.raise_for_status()
    return response


def run(
    size_mb: int, part_mb: int, threads: int, etag_mode: str, spawn: bool = False, root_dir: str | None = None
) -> float:
    """Upload once and return the ingest rate in MB/s (10^6 bytes per second)."""
    part_size = part_mb * MIB
    size = size_mb * MIB
    block = os.urandom(part_size)
    parts = -(-size // part_size)
    local = threading.local()

    if spawn:
        server = LocalOssServer.spawn(buckets=["bench"], etag_mode=etag_mode, root_dir=root_dir)
    else:
        server = LocalOssServer(buckets=["bench"], etag_mode=etag_mode, root_dir=root_dir).start()
    with server:

        def session() -> requests.Session:
            current: requests.Session | None = getattr(local, "session", None)
            if current is None:
                current = requests.Session()
                current.trust_env = False
                local.session = current
            return current

        init = _send(session(), server, "POST", "big.bin", [("uploads", "")])
        upload_id = ElementTree.fromstring(init.content).findtext("UploadId") or ""  # noqa: S314

        def put(number: int) -> None:
            length = min(part_size, size - (number - 1) * part_size)
            query = [("partNumber", str(number)), ("uploadId", upload_id)]
            _send(session(), server, "PUT", "big.bin", query, memoryview(block)[:length])

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, range(1, parts + 1)))
        parts_done = time.perf_counter()
        headers = {"x-oss-complete-all": "yes"}
        query = [("uploadId", upload_id)]
        signing.sign_v4(
            signing.SigningRequest("POST", "bench", "big.bin", query, headers),
            server.credentials,
            server.region,
            datetime.now(timezone.utc),
        )
        complete = session().post(_url(server, "bench", "big.bin", query), headers=headers, timeout=120)
        complete.raise_for_status()
        elapsed = time.perf_counter() - started
        print(
            f"  parts: {size / (parts_done - started) / 1e6:.0f} MB/s; "
            f"complete (assembling {size_mb} MiB): {time.perf_counter() - parts_done:.3f} s"
        )
        expected = crc64.crc64(b"".join(block[: min(part_size, size - i * part_size)] for i in range(parts)))
        if int(complete.headers["x-oss-hash-crc64ecma"]) != expected:
            raise RuntimeError("the server's CRC-64 of the object differs from the uploaded bytes")
    return size / elapsed / 1e6


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print the rate."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--part-mb", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--etag-mode", choices=("md5", "crc"), default="md5")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spawn", action="store_true", help="run the server in a child process")
    parser.add_argument("--root-dir", default=None, help="server storage directory (default: a temp dir)")
    args = parser.parse_args(argv)
    rates = [
        run(args.size_mb, args.part_mb, args.threads, args.etag_mode, args.spawn, args.root_dir)
        for _ in range(args.repeat)
    ]
    print(
        f"{args.size_mb} MiB in {args.part_mb} MiB parts, {args.threads} threads, etag_mode={args.etag_mode}, "
        f"server {'in a child process' if args.spawn else 'in-process'}: "
        f"best {max(rates):.0f} MB/s, median {sorted(rates)[len(rates) // 2]:.0f} MB/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
