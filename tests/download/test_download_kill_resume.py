"""
Kill and retry: a download process SIGKILLed part-way, then a new process continues with exactly the
ranges the first one had not written (proved from the local server's request log and the checkpoint).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from airflow_provider_oss.core import crc64
from airflow_provider_oss.download import temp_path_for
from airflow_provider_oss.testing import LocalOssServer
from tests.download.support import downloader, put, ranges_of, store_for
from tests.upload_support import MiB, last_seq, since

REPO = Path(__file__).resolve().parents[2]

KILL_SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.download import ResumableDownloader, file_store
    from airflow_provider_oss.upload import TransferConfig

    logging.basicConfig(level=logging.INFO)
    endpoint, region, access_key_id, destination, checkpoint_dir, key = sys.argv[1:7]
    credentials = Credentials(access_key_id, os.environ["OSS_TEST_SECRET"])
    config = ClientConfig(region=region, endpoint=endpoint, addressing_style="path", pool_size=4)
    ResumableDownloader(
        OssClient(credentials, config), "test-bucket", key, destination,
        config=TransferConfig(part_size=1024 * 1024, parallelism=2, checkpoint_save_interval=0.1),
        checkpoint_store=file_store(checkpoint_dir, "test-bucket", key, destination),
    ).run()
    print("DOWNLOAD FINISHED")
    """
)


def test_sigkill_mid_download_then_retry_fetches_only_the_missing_ranges(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    key = "killed/download.bin"
    data = put(oss_server, key, 30 * MiB + 12345, seed=11)  # 31 ranges of 1 MiB
    destination = tmp_path / "out" / "download.bin"
    destination.parent.mkdir()
    script = tmp_path / "download_script.py"
    script.write_text(KILL_SCRIPT)
    store = store_for(tmp_path, key, destination)
    oss_server.add_fault("GetObject", "delay", delay=0.15, times=10_000)
    env = {**os.environ, "OSS_TEST_SECRET": oss_server.access_key_secret, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), oss_server.endpoint, oss_server.region, oss_server.access_key_id]
    process = subprocess.Popen(
        [*args, str(destination), str(tmp_path / "ckpt"), key],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the download subprocess made no progress"
            record = store.load()  # replaced atomically: never a half-written record
            if record is not None and len(record.done) >= 6:
                break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        out, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert b"DOWNLOAD FINISHED" not in out
    assert oss_server.access_key_secret.encode() not in err
    time.sleep(0.5)  # let the server finish the requests in flight at the kill
    oss_server.clear_faults()

    assert not destination.exists(), "a killed download never leaves a destination file"
    assert os.path.getsize(temp_path_for(str(destination))) == len(data)
    written = store.load()
    assert written is not None and 6 <= len(written.done) < 31
    try1 = {first // MiB + 1 for first, _ in ranges_of(oss_server.request_log())}
    assert set(written.done) <= try1

    mark = last_seq(oss_server)
    result = downloader(oss_server, key, destination, store, part_size=4 * MiB, parallelism=4).run()

    try2 = ranges_of(since(oss_server.request_log(), mark))
    fetched = {first // MiB + 1 for first, _ in try2}
    assert fetched.isdisjoint(written.done), "no range written by the killed try is fetched again"
    assert fetched == set(range(1, 32)) - set(written.done)
    assert all(last - first + 1 <= MiB for first, last in try2), "the retry keeps the first try's ranges"
    assert (result.resumed, result.ranges_reused, result.ranges_fetched) == (
        True,
        len(written.done),
        len(fetched),
    )
    assert result.bytes_fetched == sum(last - first + 1 for first, last in try2)
    assert destination.read_bytes() == data and result.crc64 == crc64.crc64(data)
    assert store.load() is None and not os.path.exists(temp_path_for(str(destination)))
