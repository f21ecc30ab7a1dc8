"""
Kill and retry: a copy process SIGKILLed mid-transfer leaves its upload and checkpoint; the retry in a
new process continues the same upload ID and copies only the parts OSS does not hold (proved from
the local server's request log).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from airflow_provider_oss.copy import FileCopyCheckpointStore, ServerSideCopier
from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import TransferConfig
from tests.copy.copy_support import DST, SRC, MiB, put_source
from tests.upload_support import entries, last_seq, make_client, since

REPO = Path(__file__).resolve().parents[2]

KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from airflow_provider_oss.copy import FileCopyCheckpointStore, ServerSideCopier
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.upload import TransferConfig

    endpoint, region, key_id, checkpoint_dir = sys.argv[1:5]
    client = OssClient(
        Credentials(key_id, os.environ["OSS_TEST_SECRET"]),
        ClientConfig(region=region, endpoint=endpoint, addressing_style="path", pool_size=8),
    )
    ServerSideCopier(
        client, "src-bucket", "big/source.bin", "dst-bucket", "big/copy.bin",
        config=TransferConfig(part_size=1024 * 1024, parallelism=4, multipart_threshold=1024 * 1024),
        checkpoint_store=FileCopyCheckpointStore(
            checkpoint_dir, "src-bucket", "big/source.bin", "dst-bucket", "big/copy.bin"
        ),
    ).run()
    print("COPY FINISHED")
    """
)


def stored_parts(log: list[dict[str, object]]) -> set[int]:
    return {int(str(e["part_number"])) for e in entries(log, "UploadPartCopy") if e["status"] == 200}


def test_sigkill_mid_copy_then_retry_copies_only_the_missing_parts(tmp_path: Path) -> None:
    with LocalOssServer(buckets=(SRC, DST)) as server:
        data = put_source(server, "big/source.bin", 24 * MiB + 5, seed=3)
        checkpoint_dir = tmp_path / "ckpt"
        script = tmp_path / "copy_script.py"
        script.write_text(KILL_SCRIPT)
        server.add_fault("UploadPartCopy", "delay", delay=0.15, times=10_000)
        env = {**os.environ, "OSS_TEST_SECRET": server.access_key_secret, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            [
                sys.executable,
                str(script),
                server.endpoint,
                server.region,
                server.access_key_id,
                str(checkpoint_dir),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while len(stored_parts(server.request_log())) < 6:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the copy subprocess made no progress"
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            out, err = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        assert b"COPY FINISHED" not in out
        assert server.access_key_secret.encode() not in err
        time.sleep(0.5)  # let the server finish the requests in flight at the kill
        server.clear_faults()

        store = FileCopyCheckpointStore(checkpoint_dir, SRC, "big/source.bin", DST, "big/copy.bin")
        checkpoint = store.load()
        assert checkpoint is not None  # saved before the first part
        [upload] = server.list_uploads(DST)
        assert upload["upload_id"] == checkpoint.upload_id
        in_oss = {p["part_number"] for p in upload["parts"]}
        assert 6 <= len(in_oss) < 25
        mark = last_seq(server)
        result = ServerSideCopier(
            make_client(server),
            SRC,
            "big/source.bin",
            DST,
            "big/copy.bin",
            config=TransferConfig(part_size=MiB, parallelism=4, multipart_threshold=MiB),
            checkpoint_store=store,
        ).run()

        retry = since(server.request_log(), mark)
        assert entries(retry, "InitiateMultipartUpload") == []
        assert {e["upload_id"] for e in retry if e["upload_id"]} == {checkpoint.upload_id}
        sent = sorted(int(str(e["part_number"])) for e in entries(retry, "UploadPartCopy"))
        assert sent == sorted(set(range(1, 26)) - in_oss)  # only the missing parts, each once
        assert (result.resumed, result.parts_reused, result.parts_copied) == (
            True,
            len(in_oss),
            25 - len(in_oss),
        )
        assert server.object_bytes(DST, "big/copy.bin") == data
        assert result.crc64 == crc64.crc64(data) == server.stored_crc64(DST, "big/copy.bin")
        assert server.list_uploads(DST) == []
