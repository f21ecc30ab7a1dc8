"""
The four download clients the download benchmark compares. Each function downloads one object to a
local file with ranged GETs and returns the CRC-64 it verified when it reports one (None otherwise;
:data:`CHECKS_CRC` says which clients check it).

Every function imports its library lazily, so that a child process pays only for the library it runs.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class DownloadTarget:
    """
    What to download and how.

    :param endpoint: the local server's ``http://127.0.0.1:PORT``.
    :param region: the server's region.
    :param access_key_id: the access key id.
    :param access_key_secret: its secret (never printed).
    :param bucket: the bucket.
    :param key: the object key.
    :param path: the destination file.
    :param part_size: bytes per ranged GET.
    :param parallelism: ranges in flight at once.
    """

    endpoint: str
    region: str
    access_key_id: str
    access_key_secret: str
    bucket: str
    key: str
    path: str
    part_size: int
    parallelism: int

    def __repr__(self) -> str:
        return f"DownloadTarget(endpoint={self.endpoint!r}, key={self.key!r}, path={self.path!r})"


def prepare_ours() -> None:
    """Import what :func:`download_ours` needs."""
    import airflow_provider_oss.core.client
    import airflow_provider_oss.download  # noqa: F401


def download_ours(target: DownloadTarget) -> int | None:
    """This project's :class:`ResumableDownloader` with a file checkpoint (as resumable as the SDKs')."""
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.download import ResumableDownloader, file_store
    from airflow_provider_oss.upload import TransferConfig, recommended_pool_size

    config = ClientConfig(
        region=target.region,
        endpoint=target.endpoint,
        addressing_style="path",
        pool_size=recommended_pool_size(target.parallelism),
    )
    with (
        OssClient(Credentials(target.access_key_id, target.access_key_secret), config) as client,
        tempfile.TemporaryDirectory(prefix="ours-store-") as store_dir,
    ):
        result = ResumableDownloader(
            client,
            target.bucket,
            target.key,
            target.path,
            config=TransferConfig(part_size=target.part_size, parallelism=target.parallelism),
            checkpoint_store=file_store(store_dir, target.bucket, target.key, target.path),
        ).run()
    return result.crc64


def prepare_v2() -> None:
    """Import what :func:`download_v2` needs."""
    import alibabacloud_oss_v2  # noqa: F401


def download_v2(target: DownloadTarget) -> int | None:
    """``alibabacloud_oss_v2``'s Downloader with its checkpoint on (V4 signatures, its default CRC-64 check)."""
    import alibabacloud_oss_v2 as oss

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        target.access_key_id, target.access_key_secret
    )
    cfg.region = target.region
    cfg.endpoint = target.endpoint
    cfg.use_path_style = True
    client = oss.Client(cfg)
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


def prepare_oss2() -> None:
    """Import what :func:`download_oss2` needs."""
    import oss2  # noqa: F401


def download_oss2(target: DownloadTarget) -> int | None:
    """``oss2.resumable_download`` (V4 signatures, its default CRC-64 check) with a temp store dir."""
    import oss2

    auth = oss2.AuthV4(target.access_key_id, target.access_key_secret)
    bucket = oss2.Bucket(auth, target.endpoint, target.bucket, region=target.region)
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


def prepare_limit() -> None:
    """Import what :func:`download_limit` needs."""
    import requests  # noqa: F401

    import airflow_provider_oss.core.signing  # noqa: F401


def download_limit(target: DownloadTarget) -> int | None:
    """
    The ceiling: plain ``requests`` sessions in a thread pool, one signed ranged GET per part
    streamed with ``pwrite`` into a pre-sized file; no CRC-64, no checkpoint, no temporary name.
    """
    import requests

    from airflow_provider_oss.core import signing
    from airflow_provider_oss.core.credentials import Credentials

    credentials = Credentials(target.access_key_id, target.access_key_secret)
    url = f"{target.endpoint}/{target.bucket}/{signing.uri_encode(target.key, safe='/')}"
    local = threading.local()

    def get(headers: dict[str, str], stream: bool) -> requests.Response:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        signing.sign_v4(
            signing.SigningRequest("GET" if stream else "HEAD", target.bucket, target.key, [], headers),
            credentials,
            target.region,
            datetime.now(timezone.utc),
        )
        session: requests.Session = local.session
        response = session.request(
            "GET" if stream else "HEAD", url, headers=headers, stream=stream, timeout=120
        )
        response.raise_for_status()
        return response

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
    "v2": ("alibabacloud-oss-v2 Downloader", prepare_v2, download_v2),
    "oss2": ("oss2.resumable_download", prepare_oss2, download_oss2),
    "limit": ("requests ranged GETs, no checksum (ceiling)", prepare_limit, download_limit),
}

#: Whether the client checks the file's CRC-64 against the object's (by default, as configured here).
CHECKS_CRC = {"ours": True, "v2": True, "oss2": True, "limit": False}
