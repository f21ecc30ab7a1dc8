"""Helpers of the copy tests: a server with two buckets, sources, and a copier with small parts."""

from __future__ import annotations

import random
from typing import Any

from airflow_provider_oss.copy import CopyCheckpointStore, ServerSideCopier
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig
from tests.upload_support import make_client

SRC = "src-bucket"
DST = "dst-bucket"
KiB = 1024
MiB = 1024 * KiB
PART = 256 * KiB


def put_source(
    server: LocalOssServer,
    key: str,
    size: int,
    seed: int = 1,
    bucket: str = SRC,
    headers: dict[str, str] | None = None,
) -> bytes:
    """Store ``size`` deterministic pseudo-random bytes as ``oss://bucket/key`` (PutObject) and return them."""
    data = random.Random(seed).randbytes(size)
    with make_client(server) as client:
        client.transport.send("PUT", bucket, key, headers=headers or {}, body=data, op="PutObject")
    return data


def copier(
    server: LocalOssServer,
    key: str,
    dest_key: str,
    store: CopyCheckpointStore | None,
    *,
    client: OssClient | None = None,
    dest_bucket: str = DST,
    part_size: int = PART,
    parallelism: int = 2,
    threshold: int | None = PART,
    **kwargs: Any,
) -> ServerSideCopier:
    """A copier of ``oss://src-bucket/key`` to ``oss://dest_bucket/dest_key`` with small parts."""
    return ServerSideCopier(
        client if client is not None else make_client(server),
        SRC,
        key,
        dest_bucket,
        dest_key,
        config=TransferConfig(part_size=part_size, parallelism=parallelism, multipart_threshold=threshold),
        checkpoint_store=store,
        **kwargs,
    )
