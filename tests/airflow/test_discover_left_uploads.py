"""
Discover mode says what it leaves: a try stopped between InitiateMultipartUpload and its first
stored part leaves a 0-part upload that the retry rightly does not adopt. The retry's log gives the
exact ``oss-uploads abort`` command (which works), and its result lists the upload ID.
"""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import PartUploadError, ResumableUploader, TransferConfig
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.uploads_cli import main
from tests.upload_support import BUCKET, KiB, MiB, make_client, make_file

REPO = Path(__file__).resolve().parents[2]
PART = 256 * KiB
KEY = "discover/left.bin"


def _first_try_without_a_part(server: LocalOssServer, path: Path) -> str:
    server.add_fault("UploadPart", "status", times=1000, status=503)
    client = make_client(server, max_retries=0)
    store = UploadDiscoveryStore(client, BUCKET, KEY, str(path), PART, retry=False)
    with pytest.raises(PartUploadError):
        ResumableUploader(
            client, BUCKET, KEY, path, config=TransferConfig(part_size=PART), checkpoint_store=store
        ).run()
    server.clear_faults()
    (left,) = server.list_uploads(BUCKET)
    assert left["parts"] == []
    return str(left["upload_id"])


def test_the_retry_logs_the_abort_command_that_removes_the_upload_it_left(
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "src.bin"
    data = make_file(path, 1 * MiB)
    left = _first_try_without_a_part(oss_server, path)
    hook = OssHook(oss_conn_id=oss_connection_env)

    def discover(client: object, bucket: str) -> UploadDiscoveryStore:
        return UploadDiscoveryStore(client, bucket, KEY, str(path), PART, retry=True)  # type: ignore[arg-type]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="left.uploads"):
        result = hook.upload_file(
            path,
            KEY,
            config=TransferConfig(part_size=PART),
            checkpoint_store=discover,
            logger=logging.getLogger("left.uploads"),
        )

    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert result.to_dict()["uploads_left_in_progress"] == [left] and result.upload_id != left
    (line,) = [r.getMessage() for r in caplog.records if left in r.getMessage()]
    assert "no part yet" in line
    command = re.search(r"oss-uploads (.+?);", line)
    assert command is not None
    args = shlex.split(command.group(1))
    assert args == ["--conn-id", oss_connection_env, "abort", f"oss://{BUCKET}/{KEY}", left]
    assert main(args) == 0
    assert f"Aborted upload ID {left}" in capsys.readouterr().out
    assert oss_server.list_uploads(BUCKET) == []


def test_the_docs_snippet_lists_the_left_uploads(
    oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (REPO / "docs" / "XCOM_RESULTS.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "big.bin"
    make_file(path, 17 * MiB)
    client = make_client(oss_server)
    left = client.initiate_multipart_upload(BUCKET, "backups/big.bin")  # a try killed before its first part
    assert oss_connection_env == "oss_default"

    exec(snippet.replace("/data/big.bin", str(path)), {})  # noqa: S102  # the documented snippet, as written

    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("oss-uploads")]
    assert printed == [f"oss-uploads --conn-id oss_default abort oss://{BUCKET}/backups/big.bin {left}"]
