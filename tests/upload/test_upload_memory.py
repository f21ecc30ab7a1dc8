"""
Peak memory is bounded by ``parallelism x part_size``, whatever the file size: parts are read
straight into reusable buffers and sent without copies. The server runs in another process so that
only the uploader's allocations are traced.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    MemoryCheckpointStore,
    ResumableUploader,
    TransferConfig,
    recommended_pool_size,
)
from tests.upload_support import BUCKET, MiB, make_client, parts_stored


@pytest.fixture(scope="module")
def spawned_server() -> Iterator[LocalOssServer]:
    server = LocalOssServer.spawn(buckets=(BUCKET,), etag_mode="crc")
    try:
        yield server
    finally:
        server.stop()


def write_big_file(path: Path, size: int) -> int:
    """Write ``size`` bytes in 1 MiB blocks (never the whole file in memory); return its CRC-64."""
    crc = 0
    with path.open("wb") as f:
        for i in range(size // MiB):
            block = i.to_bytes(8, "little") * (MiB // 8)
            f.write(block)
            crc = crc64.update(crc, block)
    return crc


def test_peak_memory_is_about_parallelism_times_part_size(
    spawned_server: LocalOssServer, tmp_path: Path
) -> None:
    size = 64 * MiB
    path = tmp_path / "big.bin"
    file_crc = write_big_file(path, size)
    parallelism, part_size = 4, MiB
    client = make_client(spawned_server, pool_size=recommended_pool_size(parallelism))
    uploader = ResumableUploader(
        client,
        BUCKET,
        "memory/big.bin",
        path,
        config=TransferConfig(part_size=part_size, parallelism=parallelism),
        checkpoint_store=MemoryCheckpointStore(),
    )
    gc.collect()
    tracemalloc.start()
    try:
        result = uploader.run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.crc64 == file_crc and result.size == size and result.parts_sent == 64
    info = spawned_server.object_info(BUCKET, "memory/big.bin")
    assert (info["size"], info["crc64"]) == (size, file_crc)
    assert spawned_server.stored_crc64(BUCKET, "memory/big.bin") == file_crc  # the bytes on the server's disk
    assert parts_stored(spawned_server.request_log()) == set(range(1, 65))
    # 4 part buffers (4 MiB) plus small change; the 64 MiB file is never held, nor are parts copied
    assert peak < parallelism * part_size * 2, f"peak {peak / MiB:.1f} MiB"
    assert peak >= parallelism * part_size  # the buffers themselves are traced: the test measures something
