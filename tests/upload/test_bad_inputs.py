"""
Bad input from a user, end to end against the local server: each gets an error that names what to
fix, and nothing reaches the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import ResumableUploader, SourceFileError, TransferConfig
from tests.upload_support import BUCKET, MiB, make_client, make_file

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534

UNREADABLE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.credentials import Credentials
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.upload import ResumableUploader, SourceFileError, TransferConfig
    args = json.loads(sys.argv[1])
    client = OssClient(Credentials(args["ak"], os.environ["SECRET"]), ClientConfig(
        region=args["region"], endpoint=args["endpoint"], addressing_style="path"))
    # Drop root only now: the interpreter's own files may live where an unprivileged user cannot read.
    os.setgid({gid}); os.setuid({uid})
    try:
        ResumableUploader(client, "test-bucket", "k.bin", args["path"], config=TransferConfig(part_size=102400)).run()
    except SourceFileError as err:
        print("SourceFileError:", err)
        sys.exit(3)
    print("uploaded")
    """
)


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A directory that an unprivileged user can traverse (pytest's tmp_path is 0700 under root)."""
    path = Path(tempfile.mkdtemp(prefix="oss-bad-input-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_file_is_a_clear_error(oss_server: LocalOssServer, world_dir: Path) -> None:
    """As an unprivileged user (root would read any file), a mode-000 file fails before any request."""
    source = world_dir / "secret-report.csv"
    make_file(source, MiB)
    source.chmod(0o000)
    args = {"ak": oss_server.access_key_id, "region": oss_server.region, "endpoint": oss_server.endpoint}
    args["path"] = str(source)
    env = {**os.environ, "SECRET": oss_server.access_key_secret, "PYTHONPATH": str(REPO)}
    if os.geteuid() == 0:
        script = UNREADABLE_SCRIPT.format(uid=NOBODY, gid=NOBODY)
    else:  # an unprivileged run: the file is unreadable to this user already
        script = UNREADABLE_SCRIPT.replace("os.setgid({gid}); os.setuid({uid})", "")
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"The source file {str(source)!r} cannot be opened: Permission denied." in proc.stdout
    assert oss_server.request_log() == []


def test_directory_and_missing_file(oss_server: LocalOssServer, tmp_path: Path) -> None:
    client = make_client(oss_server)
    with pytest.raises(SourceFileError, match="is not a regular file"):
        ResumableUploader(client, BUCKET, "k", tmp_path).run()
    with pytest.raises(SourceFileError, match="does not exist"):
        ResumableUploader(client, BUCKET, "k", tmp_path / "nope.bin").run()
    assert oss_server.request_log() == []


def test_empty_file_becomes_an_empty_object(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    result = ResumableUploader(make_client(oss_server), BUCKET, "empty.bin", path).run()
    assert result.size == 0 and result.crc64 == 0
    assert oss_server.object_bytes(BUCKET, "empty.bin") == b""


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "key must not be empty"),
        ("/leading-slash", "must not start with"),
        ("a" * 1024, "1023"),
        ("bad\x07key", "control character"),
    ],
)
def test_invalid_keys_are_refused_before_any_request(
    oss_server: LocalOssServer, tmp_path: Path, key: str, message: str
) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 1024)
    with pytest.raises(ValueError, match=message):
        ResumableUploader(make_client(oss_server), BUCKET, key, path).run()
    assert oss_server.request_log() == []


@pytest.mark.parametrize("bucket", ["ab", "Upper", "-dash", "a" * 64])
def test_invalid_bucket_names_are_refused(oss_server: LocalOssServer, tmp_path: Path, bucket: str) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 1024)
    with pytest.raises(
        ValueError, match=rf"Invalid bucket name '{bucket}': a bucket name is 3-63 characters"
    ):
        ResumableUploader(make_client(oss_server), bucket, "k", path).run()
    assert oss_server.request_log() == []


def test_unicode_key_round_trips(oss_server: LocalOssServer, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = make_file(path, 3 * 100 * 1024)
    key = "报表/2026 年/données ✓.bin"
    result = ResumableUploader(
        make_client(oss_server), BUCKET, key, path, config=TransferConfig(part_size=100 * 1024)
    ).run()
    assert oss_server.object_bytes(BUCKET, key) == data and result.parts_total == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"part_size": 10}, r"part_size 10 is below OSS's minimum part size of 102400 bytes \(100 KiB\)"),
        ({"part_size": 6 * 1024**3}, "5 GiB"),
        ({"parallelism": 0}, "parallelism must be an int from 1 to 64; got 0"),
    ],
)
def test_invalid_part_size_or_parallelism(
    oss_server: LocalOssServer, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 1024)
    with pytest.raises(ValueError, match=message):
        ResumableUploader(make_client(oss_server), BUCKET, "k", path, config=TransferConfig(**kwargs)).run()
    assert oss_server.request_log() == []
