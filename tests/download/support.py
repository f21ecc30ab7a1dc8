"""Helpers shared by the download tests."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from airflow_provider_oss.download import DownloadCheckpointStore, ResumableDownloader, file_store
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig
from tests.upload_support import BUCKET, KiB, entries, make_client

PART = 128 * KiB


def put(server: LocalOssServer, key: str, size: int, seed: int = 1) -> bytes:
    """Store ``size`` deterministic random bytes as ``key`` and return them."""
    data = random.Random(seed).randbytes(size)
    make_client(server).put_object(BUCKET, key, data)
    return data


def downloader(
    server: LocalOssServer,
    key: str,
    destination: Path,
    store: DownloadCheckpointStore | None,
    *,
    client_kwargs: dict[str, Any] | None = None,
    **tunables: Any,
) -> ResumableDownloader:
    """A downloader of the local server with small ranges (``PART``) and parallelism 2 by default."""
    tunables.setdefault("part_size", PART)
    tunables.setdefault("parallelism", 2)
    return ResumableDownloader(
        make_client(server, **(client_kwargs or {})),
        BUCKET,
        key,
        destination,
        config=TransferConfig(**tunables),
        checkpoint_store=store,
    )


def store_for(tmp_path: Path, key: str, destination: Path) -> DownloadCheckpointStore:
    """A file checkpoint store under ``tmp_path / "ckpt"``."""
    return file_store(tmp_path / "ckpt", BUCKET, key, destination)


def ranges_of(log: list[dict[str, Any]], **match: Any) -> list[tuple[int, int]]:
    """The (first, last) byte of every ranged GetObject that OSS answered 206."""
    spans = []
    for entry in entries(log, "GetObject", **match):
        if entry["status"] == 206 and entry["range"]:
            first, _, last = entry["range"].removeprefix("bytes=").partition("-")
            spans.append((int(first), int(last)))
    return spans
