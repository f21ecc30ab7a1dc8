"""
Discovery (``checkpoint="discover"``: nothing kept): a copy SIGKILLed mid-transfer is continued by
its retry, which finds its own partial upload through ListMultipartUploads, proves it with one probe
copy into a scratch upload, and copies only the missing parts; another writer's upload of the key,
or the upload of an earlier version of the source, is never adopted, aborted or written to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.copy import CopyDiscoveryStore
from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.errors import OssServiceError
from airflow_provider_oss.testing import LocalOssServer
from tests.copy.copy_support import DST, PART, SRC, MiB, copier, put_source
from tests.upload_support import entries, last_seq, make_client, since

REPO = Path(__file__).resolve().parents[2]

KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from airflow_provider_oss.copy import CopyDiscoveryStore, ServerSideCopier
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.upload import TransferConfig

    endpoint, region, key_id = sys.argv[1:4]
    client = OssClient(
        Credentials(key_id, os.environ["OSS_TEST_SECRET"]),
        ClientConfig(region=region, endpoint=endpoint, addressing_style="path", pool_size=8),
    )
    ServerSideCopier(
        client, "src-bucket", "big/source.bin", "dst-bucket", "big/copy.bin",
        config=TransferConfig(part_size=1024 * 1024, parallelism=4, multipart_threshold=1024 * 1024),
        checkpoint_store=CopyDiscoveryStore(client, "dst-bucket", "big/copy.bin", retry=False),
    ).run()
    print("COPY FINISHED")
    """
)


@pytest.fixture
def server() -> Iterator[LocalOssServer]:
    with LocalOssServer(buckets=(SRC, DST)) as srv:
        yield srv


def _part_copies(log: list[dict[str, Any]], upload_id: str) -> list[int]:
    return sorted(
        int(str(e["part_number"]))
        for e in entries(log, "UploadPartCopy")
        if e["upload_id"] == upload_id and e["status"] == 200
    )


def _discovering(server: LocalOssServer, key: str, *, retry: bool, **kwargs: Any) -> Any:
    client = make_client(server, **kwargs)
    return copier(server, key, key, CopyDiscoveryStore(client, DST, key, retry=retry), client=client)


def _killed_partial_copy(server: LocalOssServer, key: str, parts: int) -> str:
    """A first discovering try that stops after 2 of ``parts`` parts; returns its kept upload ID."""
    server.add_fault("UploadPartCopy", "status", status=500, nth=3, times=100)
    client = make_client(server, max_retries=0)
    with pytest.raises(OssServiceError):
        copier(
            server, key, key, CopyDiscoveryStore(client, DST, key, retry=False), client=client, parallelism=1
        ).run()
    server.clear_faults()
    [upload] = server.list_uploads(DST)
    assert sorted(p["part_number"] for p in upload["parts"]) == [1, 2] and parts > 2
    return str(upload["upload_id"])


def test_sigkill_mid_copy_then_the_discovering_retry_adopts_the_upload_and_copies_only_the_missing_parts(
    server: LocalOssServer, tmp_path: Path
) -> None:
    data = put_source(server, "big/source.bin", 24 * MiB + 5, seed=3)  # 25 parts of 1 MiB
    script = tmp_path / "copy_script.py"
    script.write_text(KILL_SCRIPT)
    server.add_fault("UploadPartCopy", "delay", delay=0.15, times=10_000)
    env = {**os.environ, "OSS_TEST_SECRET": server.access_key_secret, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, str(script), server.endpoint, server.region, server.access_key_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(entries(server.request_log(), "UploadPartCopy", status=200)) < 6:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the copy subprocess made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        out, _ = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL and b"COPY FINISHED" not in out
    time.sleep(0.5)  # let the server finish the requests in flight at the kill
    server.clear_faults()
    [upload] = server.list_uploads(DST)
    own = str(upload["upload_id"])
    in_oss = {p["part_number"] for p in upload["parts"]}
    assert 6 <= len(in_oss) < 25

    mark = last_seq(server)
    result = copier(
        server,
        "big/source.bin",
        "big/copy.bin",
        CopyDiscoveryStore(make_client(server), DST, "big/copy.bin", retry=True),
        part_size=MiB,
        parallelism=4,
        threshold=MiB,
    ).run()

    retry = since(server.request_log(), mark)
    [probe] = [str(e["upload_id"]) for e in entries(retry, "AbortMultipartUpload")]
    assert probe != own, "only the probe's scratch upload is aborted"
    initiates = entries(server.request_log(), "InitiateMultipartUpload")
    assert len(initiates) == 2, "one upload for the copy across both tries, plus the retry's probe"
    assert _part_copies(retry, probe) == [1], "one probe copy"
    assert _part_copies(retry, own) == sorted(set(range(1, 26)) - in_oss), "only the missing parts, once"
    assert [e["upload_id"] for e in entries(retry, "CompleteMultipartUpload")] == [own]
    assert (result.upload_id, result.resumed, result.parts_reused, result.parts_copied) == (
        own,
        True,
        len(in_oss),
        25 - len(in_oss),
    )
    assert server.object_bytes(DST, "big/copy.bin") == data
    assert result.crc64 == crc64.crc64(data) == server.stored_crc64(DST, "big/copy.bin")
    assert server.list_uploads(DST) == []


def test_a_first_try_never_adopts_even_its_own_partial_upload(server: LocalOssServer) -> None:
    data = put_source(server, "first.bin", 5 * PART)
    earlier = _killed_partial_copy(server, "first.bin", 5)
    result = _discovering(server, "first.bin", retry=False).run()
    assert result.upload_id != earlier and result.parts_copied == 5
    assert server.object_bytes(DST, "first.bin") == data
    assert [u["upload_id"] for u in server.list_uploads(DST)] == [earlier], "left alone, not aborted"


def test_another_writers_partial_upload_of_the_key_is_not_adopted_aborted_or_written_to(
    server: LocalOssServer,
) -> None:
    data = put_source(server, "shared.bin", 5 * PART, seed=4)
    other = put_source(server, "other.bin", 5 * PART, seed=5)
    with make_client(server) as client:  # a second writer uploading other bytes, same part size
        foreign = client.initiate_multipart_upload(DST, "shared.bin")
        client.upload_part(DST, "shared.bin", foreign, 1, other[:PART])
        client.upload_part(DST, "shared.bin", foreign, 2, other[PART : 2 * PART])
    before = server.list_uploads(DST)
    mark = last_seq(server)
    result = _discovering(server, "shared.bin", retry=True).run()
    log = since(server.request_log(), mark)
    assert result.upload_id != foreign and result.parts_copied == 5 and not result.resumed
    assert foreign not in {e["upload_id"] for e in entries(log, "AbortMultipartUpload")}
    assert _part_copies(log, foreign) == [] and entries(log, "UploadPart") == []
    assert server.list_uploads(DST) == before, "the foreign upload and its parts are untouched"
    assert server.object_bytes(DST, "shared.bin") == data


def test_an_upload_with_parts_of_another_size_is_left_alone_without_a_probe(server: LocalOssServer) -> None:
    data = put_source(server, "sized.bin", 5 * PART, seed=6)
    with make_client(server) as client:
        foreign = client.initiate_multipart_upload(DST, "sized.bin")
        client.upload_part(DST, "sized.bin", foreign, 1, data[: 2 * PART])  # the source's bytes, 2x parts
    mark = last_seq(server)
    result = _discovering(server, "sized.bin", retry=True).run()
    log = since(server.request_log(), mark)
    assert len(entries(log, "InitiateMultipartUpload")) == 1 and entries(log, "AbortMultipartUpload") == []
    assert result.upload_id != foreign and server.object_bytes(DST, "sized.bin") == data
    assert [u["upload_id"] for u in server.list_uploads(DST)] == [foreign]


def test_the_partial_upload_of_an_earlier_source_version_is_not_adopted(server: LocalOssServer) -> None:
    put_source(server, "moving.bin", 5 * PART, seed=7)
    earlier = _killed_partial_copy(server, "moving.bin", 5)
    new = put_source(server, "moving.bin", 5 * PART, seed=8)  # same size, other bytes, new ETag
    result = _discovering(server, "moving.bin", retry=True).run()
    assert result.upload_id != earlier and result.parts_copied == 5 and result.parts_reused == 0
    assert server.object_bytes(DST, "moving.bin") == new
    assert result.crc64 == crc64.crc64(new)
    assert [u["upload_id"] for u in server.list_uploads(DST)] == [earlier], "left alone, not aborted"


def test_an_own_partial_upload_is_adopted_in_process_too(server: LocalOssServer) -> None:
    data = put_source(server, "own.bin", 5 * PART, seed=9)
    earlier = _killed_partial_copy(server, "own.bin", 5)
    mark = last_seq(server)
    result = _discovering(server, "own.bin", retry=True).run()
    log = since(server.request_log(), mark)
    assert (result.upload_id, result.parts_reused, result.parts_copied) == (earlier, 2, 3)
    assert _part_copies(log, earlier) == [3, 4, 5]
    assert server.object_bytes(DST, "own.bin") == data and server.list_uploads(DST) == []
