"""
An open file reads one version of its object: every block's GET is pinned to the ETag seen at
``open()`` (``If-Match``), so an object rewritten between two block reads is an error, never a mix
of the old and new bytes (the same size makes the rewrite invisible to a size check).
"""

from __future__ import annotations

import errno

import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.fs.filesystem import OssFileSystem

BUCKET = "test-bucket"
BLOCK = 128 * 1024


def test_a_rewrite_between_two_block_reads_is_an_error_not_a_mix(oss_client: OssClient) -> None:
    fs = OssFileSystem(oss_client, block_size=BLOCK)
    old, new = b"o" * (4 * BLOCK), b"n" * (4 * BLOCK)  # same size: only the ETag tells them apart
    oss_client.put_object(BUCKET, "data.bin", old)
    with fs.open(f"{BUCKET}/data.bin", "rb", cache_type="none") as file:
        assert file.read(BLOCK) == old[:BLOCK]
        oss_client.put_object(BUCKET, "data.bin", new)
        with pytest.raises(OSError) as caught:
            file.read(BLOCK)
    assert caught.value.errno == errno.ESTALE
    assert "oss://test-bucket/data.bin changed while it was read" in str(caught.value)


def test_an_unchanged_object_reads_whole_through_pinned_blocks(oss_client: OssClient) -> None:
    fs = OssFileSystem(oss_client, block_size=BLOCK)
    data = bytes(range(256)) * (3 * BLOCK // 256 + 7)
    oss_client.put_object(BUCKET, "data.bin", data)
    with fs.open(f"{BUCKET}/data.bin", "rb", cache_type="none") as file:
        file.seek(BLOCK + 5)
        assert file.read() == data[BLOCK + 5 :]
