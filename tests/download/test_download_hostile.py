"""
The download against servers that are not OSS (a loopback server with scripted answers): no CRC-64
is refused unless the connection allows it, and a server that ignores ``Range`` never yields a file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from airflow_provider_oss.core.errors import OssResponseError
from airflow_provider_oss.download import ResumableDownloader
from airflow_provider_oss.upload import TransferConfig
from tests.hostile_oss import Answer, HostileOss

BODY = bytes(range(256)) * 1000  # 256,000 bytes
ETAG = '"0123456789ABCDEF0123456789ABCDEF"'


def _no_crc(method: str, path: str) -> Answer:
    headers = {"ETag": ETAG, "x-oss-request-id": "R", "Content-Length": str(len(BODY))}
    if method == "HEAD":
        return Answer(200, headers)
    return Answer(206, {**headers, "Content-Range": f"bytes 0-{len(BODY) - 1}/{len(BODY)}"}, BODY)


def _ignores_range(method: str, path: str) -> Answer:
    headers = {"ETag": ETAG, "x-oss-request-id": "R", "x-oss-hash-crc64ecma": "1"}
    return Answer(200, {**headers, "Content-Length": str(len(BODY))}, b"" if method == "HEAD" else BODY)


def test_no_crc64_is_refused_by_default(tmp_path: Path) -> None:
    with HostileOss(_no_crc) as server:
        with pytest.raises(OssResponseError, match="require_crc64=false"):
            ResumableDownloader(server.client(), "bucket", "k.bin", tmp_path / "k.bin").run()
        assert [method for method, _ in server.requests] == ["HEAD"]
    assert os.listdir(tmp_path) == []


def test_no_crc64_with_require_crc64_false_downloads_unverified(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with HostileOss(_no_crc) as server, caplog.at_level(logging.WARNING):
        result = ResumableDownloader(
            server.client(require_crc64=False), "bucket", "k.bin", tmp_path / "k.bin"
        ).run()
    assert (tmp_path / "k.bin").read_bytes() == BODY and result.crc64 is None
    assert "UNVERIFIED" in caplog.text


def test_a_server_ignoring_range_never_yields_a_file(tmp_path: Path) -> None:
    with HostileOss(_ignores_range) as server:
        downloader = ResumableDownloader(
            server.client(),
            "bucket",
            "k.bin",
            tmp_path / "k.bin",
            config=TransferConfig(part_size=100 * 1024, parallelism=1),
        )
        with pytest.raises(OssResponseError, match="does not serve byte ranges"):
            downloader.run()
    assert os.listdir(tmp_path) == []
