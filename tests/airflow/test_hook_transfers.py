"""OssHook.upload_file: the hook owns the transfer (client pool sized from the config, engine built here)."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, TransferConfig
from airflow_provider_oss.upload.stores import CheckpointStore

KiB = 1024


def test_upload_file_sizes_the_pool_and_uploads_the_bytes(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = os.urandom(350 * KiB)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    hook = OssHook(oss_connection_env)
    config = TransferConfig(part_size=100 * KiB, parallelism=3)
    result = hook.upload_file(
        path, "hook/f.bin", config=config, options=ObjectOptions(content_type="application/x-test")
    )
    assert oss_server.object_bytes("test-bucket", "hook/f.bin") == data
    assert (result.size, result.crc64, result.parts_total, result.parts_sent) == (
        len(data),
        crc64(data),
        4,
        4,
    )
    # The hook, not the caller, sized the client's pool: one connection per part in flight plus one.
    assert [client.config.pool_size for client in hook._clients.values()] == [config.pool_size] == [4]
    assert hook.head_object("hook/f.bin").content_type == "application/x-test"


def test_upload_file_builds_a_client_dependent_store_with_the_hooks_client(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(250 * KiB))
    hook = OssHook(oss_connection_env)
    seen: list[tuple[OssClient, str]] = []
    store = MemoryCheckpointStore()

    def factory(client: OssClient, bucket: str) -> CheckpointStore:
        seen.append((client, bucket))
        return store

    result = hook.upload_file(
        path, "hook/g.bin", config=TransferConfig(part_size=100 * KiB), checkpoint_store=factory
    )
    assert result.upload_id is not None and result.parts_total == 3
    assert [(c.config.pool_size, b) for c, b in seen] == [(TransferConfig().pool_size, "test-bucket")]
    # saved before the first part, marked completed after completion
    record = store.load()
    assert store.saves >= 2 and record is not None and record.completed is not None
