"""OssHook.download_file: the hook owns the download (client pool sized from the config, engine built here)."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.download import DownloadCheckpointStore
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, TransferConfig

KiB = 1024


def test_download_file_sizes_the_pool_and_writes_the_verified_bytes(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = os.urandom(450 * KiB)
    hook = OssHook(oss_connection_env)
    hook.load_bytes(data, "hook/dl.bin")
    config = TransferConfig(part_size=100 * KiB, parallelism=3)
    store = DownloadCheckpointStore(MemoryCheckpointStore())
    result = hook.download_file("hook/dl.bin", tmp_path / "dl.bin", config=config, checkpoint_store=store)
    assert (tmp_path / "dl.bin").read_bytes() == data
    assert (result.size, result.crc64, result.ranges_total, result.ranges_fetched) == (
        len(data),
        crc64(data),
        5,
        5,
    )
    assert config.pool_size in [client.config.pool_size for client in hook._clients.values()]
    assert store.load() is None and store.backend.saves >= 1  # type: ignore[union-attr]


def test_download_file_keeps_the_old_call_shape_and_takes_oss_urls(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    hook = OssHook(oss_connection_env)
    hook.load_bytes(b"small object", "hook/small.txt")
    result = hook.download_file("hook/small.txt", str(tmp_path / "a.txt"), "test-bucket")
    assert (tmp_path / "a.txt").read_bytes() == b"small object" and result.ranges_total == 1
    hook.download_file("oss://test-bucket/hook/small.txt", str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").read_bytes() == b"small object"
