"""
The four download clients the download benchmark compares. Each function downloads one object to a
local file with ranged GETs and returns the CRC-64 it verified when it reports one (None otherwise;
:data:`CHECKS_CRC` says which clients check it).

Every function imports its library lazily, so that a child process pays only for the library it runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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

#: What to download and how (``path`` is the destination file).
DownloadTarget = Target


def prepare_ours() -> None:
    """Import what :func:`download_ours` needs."""
    import airflow_provider_oss.core.client
    import airflow_provider_oss.download  # noqa: F401


def download_ours(
    target: DownloadTarget, *, journal: bool = True, checkpoint_dir: str | None = None
) -> int | None:
    """
    This project's :class:`ResumableDownloader` with a file checkpoint (as resumable as the SDKs').

    :param target: what to download and how.
    :param journal: keep the range journal (the default; off only to measure what it costs).
    :param checkpoint_dir: where the checkpoint is kept (default: a temporary directory).
    """
    from airflow_provider_oss.download import ResumableDownloader, file_store
    from airflow_provider_oss.upload import TransferConfig

    with (
        our_client(target) as client,
        tempfile.TemporaryDirectory(prefix="ours-store-") as scratch,
    ):
        store_dir = checkpoint_dir or scratch
        result = ResumableDownloader(
            client,
            target.bucket,
            target.key,
            target.path,
            config=TransferConfig(part_size=target.part_size, parallelism=target.parallelism),
            checkpoint_store=file_store(store_dir, target.bucket, target.key, target.path),
            journal=journal,
        ).run()
    return result.crc64


def download_ours_without_journal(target: DownloadTarget) -> int | None:
    """:func:`download_ours` with the range journal off: the other side of the journal's cost."""
    return download_ours(target, journal=False)


def download_v2(target: DownloadTarget) -> int | None:
    """``alibabacloud_oss_v2``'s Downloader with its checkpoint on (V4 signatures, its default CRC-64 check)."""
    import alibabacloud_oss_v2 as oss

    client = v2_client(target)
    with tempfile.TemporaryDirectory(prefix="v2-store-") as store_dir:
        downloader = client.downloader(
            part_size=target.part_size,
            parallel_num=target.parallelism,
            enable_checkpoint=True,
            checkpoint_dir=store_dir,
        )
        downloader.download_file(
            oss.GetObjectRequest(bucket=target.bucket, key=target.key), filepath=target.path
        )
    head = client.head_object(oss.HeadObjectRequest(bucket=target.bucket, key=target.key))
    return int(head.hash_crc64) if head.hash_crc64 else None


def download_oss2(target: DownloadTarget) -> int | None:
    """``oss2.resumable_download`` (V4 signatures, its default CRC-64 check) with a temp store dir."""
    import oss2

    bucket = oss2_bucket(target)
    with tempfile.TemporaryDirectory(prefix="oss2-store-") as store_dir:
        oss2.resumable_download(
            bucket,
            target.key,
            target.path,
            store=oss2.ResumableDownloadStore(root=store_dir),
            multiget_threshold=target.part_size,
            part_size=target.part_size,
            num_threads=target.parallelism,
        )
    return None  # it checks the CRC-64 itself (enable_crc) and does not report it


def download_limit(target: DownloadTarget) -> int | None:
    """
    The ceiling: plain ``requests`` sessions in a thread pool, one signed ranged GET per part
    streamed with ``pwrite`` into a pre-sized file; no CRC-64, no checkpoint, no temporary name.
    """
    import requests

    from airflow_provider_oss.core import signing

    sessions = SignedSessions(target)
    url = f"{target.endpoint}/{target.bucket}/{signing.uri_encode(target.key, safe='/')}"

    def get(headers: dict[str, str], stream: bool) -> requests.Response:
        return sessions.send("GET" if stream else "HEAD", url, [], headers, stream=stream)

    size = int(get({}, False).headers["Content-Length"])
    fd = os.open(target.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)

        def fetch(offset: int) -> None:
            last = min(size, offset + target.part_size) - 1
            with get({"Range": f"bytes={offset}-{last}"}, True) as response:
                position = offset
                for chunk in response.iter_content(1 << 20):
                    os.pwrite(fd, chunk, position)
                    position += len(chunk)

        with ThreadPoolExecutor(target.parallelism) as pool:
            list(pool.map(fetch, range(0, size, target.part_size)))
    finally:
        os.close(fd)
    return None


#: name -> (description, prepare, download)
CLIENTS: dict[str, tuple[str, Callable[[], None], Callable[[DownloadTarget], int | None]]] = {
    "ours": ("airflow-provider-oss ResumableDownloader", prepare_ours, download_ours),
    "ours-nojournal": ("the same, range journal off", prepare_ours, download_ours_without_journal),
    "v2": ("alibabacloud-oss-v2 Downloader", prepare_v2, download_v2),
    "oss2": ("oss2.resumable_download", prepare_oss2, download_oss2),
    "limit": ("requests ranged GETs, no checksum (ceiling)", prepare_limit, download_limit),
}

#: Whether the client checks the file's CRC-64 against the object's (by default, as configured here).
CHECKS_CRC = {"ours": True, "ours-nojournal": True, "v2": True, "oss2": True, "limit": False}
