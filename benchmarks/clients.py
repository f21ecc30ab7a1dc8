"""
The four upload clients the benchmark compares. Each function uploads one file as a multipart
upload and returns the object's CRC-64 as the client reported it (None when it reports none).

Every function imports its library lazily, so that a child process pays only for the library it runs.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.etree import ElementTree

from benchmarks.client_setup import (
    SignedSessions,
    Target,
    oss2_bucket,
    our_client,
    prepare_limit,
    prepare_oss2,
    prepare_v2,
    v2_client,
)

__all__ = ["CLIENTS", "Target", "prepare_ours", "upload_limit", "upload_oss2", "upload_ours", "upload_v2"]


def prepare_ours() -> None:
    """Import what :func:`upload_ours` needs."""
    import airflow_provider_oss.core.client
    import airflow_provider_oss.upload  # noqa: F401


def upload_ours(target: Target) -> int | None:
    """This project's :class:`ResumableUploader` with an in-memory checkpoint store."""
    from airflow_provider_oss.upload import MemoryCheckpointStore, ResumableUploader, TransferConfig

    with our_client(target) as client:
        result = ResumableUploader(
            client,
            target.bucket,
            target.key,
            target.path,
            config=TransferConfig(part_size=target.part_size, parallelism=target.parallelism),
            checkpoint_store=MemoryCheckpointStore(),
        ).run()
    return result.crc64


def upload_v2(target: Target) -> int | None:
    """``alibabacloud_oss_v2``'s Uploader (V4 signatures, its default CRC-64 checks)."""
    import alibabacloud_oss_v2 as oss

    uploader = v2_client(target).uploader(part_size=target.part_size, parallel_num=target.parallelism)
    result = uploader.upload_file(
        oss.PutObjectRequest(bucket=target.bucket, key=target.key), filepath=target.path
    )
    return int(result.hash_crc64) if result.hash_crc64 else None


def upload_oss2(target: Target) -> int | None:
    """``oss2.resumable_upload`` (V4 signatures, its default CRC-64 checks) with a temp store dir."""
    import oss2

    bucket = oss2_bucket(target)
    with tempfile.TemporaryDirectory(prefix="oss2-store-") as store_dir:
        result = oss2.resumable_upload(
            bucket,
            target.key,
            target.path,
            store=oss2.ResumableStore(root=store_dir),
            multipart_threshold=target.part_size,
            part_size=target.part_size,
            num_threads=target.parallelism,
        )
    return int(result.crc) if result.crc is not None else None


def upload_limit(target: Target) -> int | None:
    """
    The floor: plain ``requests`` sessions in a thread pool, each part read with ``preadv`` into a
    per-thread buffer, signed with V4, no CRC-64 or MD5 work; completed with ``x-oss-complete-all``.
    """
    import requests

    from airflow_provider_oss.core import signing

    sessions = SignedSessions(target)
    size = os.path.getsize(target.path)
    parts = max(1, -(-size // target.part_size))
    local = threading.local()

    def url(query: list[tuple[str, str]]) -> str:
        qs = "&".join(
            f"{signing.uri_encode(n)}={signing.uri_encode(v)}" if v else signing.uri_encode(n)
            for n, v in query
        )
        return f"{target.endpoint}/{target.bucket}/{signing.uri_encode(target.key, safe='/')}?{qs}"

    def send(
        method: str, query: list[tuple[str, str]], headers: dict[str, str], data: Any = b""
    ) -> requests.Response:
        return sessions.send(method, url(query), query, headers, data=data)

    init = send("POST", [("uploads", "")], {})
    upload_id = ElementTree.fromstring(init.content).findtext("UploadId") or ""  # noqa: S314  # local server
    fd = os.open(target.path, os.O_RDONLY)
    try:

        def put(number: int) -> None:
            if not hasattr(local, "buffer"):
                local.buffer = bytearray(target.part_size)
            offset = (number - 1) * target.part_size
            length = min(target.part_size, size - offset)
            view = memoryview(local.buffer)[:length]
            got = os.preadv(fd, [view], offset)
            if got != length:
                raise RuntimeError(f"short read of part {number}: {got} of {length} bytes")
            send("PUT", [("partNumber", str(number)), ("uploadId", upload_id)], {}, view)

        with ThreadPoolExecutor(target.parallelism) as pool:
            list(pool.map(put, range(1, parts + 1)))
    finally:
        os.close(fd)
    done = send("POST", [("uploadId", upload_id)], {"x-oss-complete-all": "yes"})
    value = done.headers.get("x-oss-hash-crc64ecma")
    return int(value) if value else None


#: name -> (label, prepare, upload), in the order the table shows them.
CLIENTS: dict[str, tuple[str, Callable[[], None], Callable[[Target], int | None]]] = {
    "ours": ("airflow-provider-oss ResumableUploader", prepare_ours, upload_ours),
    "v2": ("alibabacloud-oss-v2 Uploader (V4)", prepare_v2, upload_v2),
    "oss2": ("oss2.resumable_upload (V4)", prepare_oss2, upload_oss2),
    "limit": ("limit: requests + thread pool, no checksums", prepare_limit, upload_limit),
}
