"""
A folder upload SIGKILLed mid-way, then run again in a new process (an Airflow retry): the files
finished before the kill are skipped (a HEAD each, no PUT) and the big file in flight continues
its multipart upload ID, sending only the parts OSS does not hold.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import Checkpoint, TransferConfig
from airflow_provider_oss.upload.folder import FolderUploadConfig, FolderUploader
from airflow_provider_oss.upload.folder_scan import scan_folder
from airflow_provider_oss.upload.stores import FileCheckpointStore
from tests.upload_support import BUCKET, KiB, entries, last_seq, make_client, make_file, parts_stored, since

REPO = Path(__file__).resolve().parents[2]
PART = 256 * KiB
BIG_PARTS = 24

KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.upload import FileCheckpointStore, TransferConfig
    from airflow_provider_oss.upload.folder import FolderUploadConfig, FolderUploader
    from airflow_provider_oss.upload.folder_scan import scan_folder

    endpoint, region, access_key_id, folder, checkpoint_dir = sys.argv[1:6]
    credentials = Credentials(access_key_id, os.environ["OSS_TEST_SECRET"])
    cfg = FolderUploadConfig(concurrency=2, transfer=TransferConfig(part_size=256 * 1024, parallelism=2))
    client = OssClient(credentials, ClientConfig(region=region, endpoint=endpoint, addressing_style="path",
                                                 pool_size=cfg.pool_size))
    FolderUploader(
        client, "test-bucket", scan_folder(folder, "daily"), prefix="daily/", config=cfg,
        store_for=lambda f: FileCheckpointStore(checkpoint_dir, "test-bucket", f.key, f.path),
    ).run()
    print("FOLDER FINISHED")
    """
)


def _kill_mid_folder(server: LocalOssServer, src: Path, checkpoint_dir: Path, tmp_path: Path) -> Checkpoint:
    """Run the folder upload in a child process, SIGKILL it once the small files and 6 big parts are
    stored, and return the big file's checkpoint (its upload still in progress)."""
    script = tmp_path / "folder_script.py"
    script.write_text(KILL_SCRIPT)
    server.add_fault("UploadPart", "delay", delay=0.1, times=10_000)
    env = {**os.environ, "OSS_TEST_SECRET": server.access_key_secret, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), server.endpoint, server.region, server.access_key_id]
    process = subprocess.Popen(
        [*args, str(src), str(checkpoint_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            log = server.request_log()
            done_small = {e["key"] for e in entries(log, "PutObject") if e["status"] == 200}
            if len(done_small) == 6 and len(parts_stored(log)) >= 6:
                break
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the folder upload made no progress"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        out, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert b"FOLDER FINISHED" not in out
    assert server.access_key_secret.encode() not in err
    time.sleep(0.5)  # the parts in flight at the kill land or fail
    server.clear_faults()
    [upload] = server.list_uploads(BUCKET)
    assert upload["key"] == "daily/a_big.bin"
    store = FileCheckpointStore(checkpoint_dir, BUCKET, "daily/a_big.bin", src / "a_big.bin")
    checkpoint = store.load()
    assert checkpoint is not None and checkpoint.upload_id == upload["upload_id"]

    return checkpoint


def test_a_retry_after_a_sigkill_skips_finished_files_and_resumes_the_big_one(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = {"a_big.bin": make_file(src / "a_big.bin", BIG_PARTS * PART, seed=3)}
    for i in range(6):
        data[f"small{i}.txt"] = make_file(src / f"small{i}.txt", 1000 + i, seed=10 + i)
    checkpoint_dir = tmp_path / "ckpt"
    checkpoint = _kill_mid_folder(oss_server, src, checkpoint_dir, tmp_path)

    mark = last_seq(oss_server)
    cfg = FolderUploadConfig(concurrency=2, transfer=TransferConfig(part_size=PART, parallelism=2))
    summary = FolderUploader(
        make_client(oss_server, pool_size=cfg.pool_size),
        BUCKET,
        scan_folder(src, "daily"),
        prefix="daily/",
        config=cfg,
        store_for=lambda f: FileCheckpointStore(checkpoint_dir, BUCKET, f.key, f.path),
    ).run()

    log = oss_server.request_log()
    retry = since(log, mark)
    stored_before = parts_stored([e for e in log if e["seq"] <= mark])
    assert entries(retry, "PutObject") == []  # every small file was skipped
    assert sorted(e["key"] for e in entries(retry, "HeadObject") if e["key"] != "daily/a_big.bin") == [
        f"daily/small{i}.txt" for i in range(6)
    ]
    assert entries(retry, "InitiateMultipartUpload") == []
    assert {e["upload_id"] for e in retry if e["upload_id"]} == {checkpoint.upload_id}
    sent = {e["part_number"] for e in entries(retry, "UploadPart")}
    assert sent == set(range(1, BIG_PARTS + 1)) - stored_before
    result = summary.to_dict()
    assert summary.ok
    assert (result["uploaded"], result["skipped"], result["resumed"]) == (1, 6, 1)
    assert result["bytes_sent"] == len(sent) * PART
    for rel, content in data.items():
        assert oss_server.object_bytes(BUCKET, f"daily/{rel}") == content
    assert oss_server.list_uploads(BUCKET) == []
