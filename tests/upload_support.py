"""Helpers shared by the upload engine tests (tests/upload/test_upload_*.py)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.transport import RetryEvent
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"
KiB = 1024
MiB = 1024 * KiB


def make_client(
    server: LocalOssServer,
    credentials: Credentials | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
    **overrides: Any,
) -> OssClient:
    """
    A client of the local server (path-style), with short backoffs so retries stay fast.

    :param server: the local server to talk to.
    :param credentials: credentials other than the server's own (wrong or missing ones).
    :param on_retry: called on each retry the client makes.
    :param overrides: :class:`ClientConfig` fields that differ from these defaults.
    """
    settings: dict[str, Any] = {
        "region": server.region,
        "endpoint": server.endpoint,
        "addressing_style": "path",
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "pool_size": 8,
    }
    settings.update(overrides)
    return OssClient(credentials or server.credentials, ClientConfig(**settings), on_retry=on_retry)


def make_file(path: Path, size: int, seed: int = 1) -> bytes:
    """Write ``size`` deterministic pseudo-random bytes to ``path`` and return them."""
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def entries(log: Iterable[dict[str, Any]], op: str, **match: Any) -> list[dict[str, Any]]:
    """The request-log entries of operation ``op`` whose fields equal ``match``."""
    return [e for e in log if e["op"] == op and all(e.get(k) == v for k, v in match.items())]


def parts_stored(log: Iterable[dict[str, Any]]) -> set[int]:
    """Part numbers of the UploadPart requests that OSS answered 200 (stored)."""
    return {e["part_number"] for e in entries(log, "UploadPart") if e["status"] == 200}


def part_requests(log: Iterable[dict[str, Any]]) -> list[int]:
    """Part numbers of every UploadPart request, in log order (failed ones too)."""
    return [e["part_number"] for e in entries(log, "UploadPart")]


def since(log: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    """The entries after sequence number ``seq``."""
    return [e for e in log if e["seq"] > seq]


def last_seq(server: LocalOssServer) -> int:
    """The sequence number of the last logged request (0 when none)."""
    log = server.request_log()
    return max((e["seq"] for e in log), default=0)


def files_holding(root: Path, marker: bytes) -> list[str]:
    """The files under ``root`` (a local server's ``root_dir``: objects, parts in progress) holding ``marker``."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                if marker in f.read():
                    found.append(path)
    return found
