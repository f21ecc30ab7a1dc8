"""
Issue 11 edges of the upload: a FIFO or other non-regular source fails at once (never hangs in
open()), the XCom result's CRC-64 survives JavaScript, and progress lines after a resume count the
reused parts from the first line, in MiB and MiB/s, never "0.0 MiB/s, ETA ?".
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.upload import (
    Checkpoint,
    MemoryCheckpointStore,
    ResumableUploader,
    SourceFileError,
    SourceFingerprint,
    TransferConfig,
    UploadResult,
)
from airflow_provider_oss.upload.object_match import options_digest
from airflow_provider_oss.upload.plan import plan_parts
from airflow_provider_oss.upload.reader import PartReader
from tests.fake_upload_api import FakeUploadAPI

KiB = 1024
PART = 100 * KiB

# Runs in a child with a hard timeout, so that a regression (a blocking open()) fails the test
# instead of hanging the suite.
FIFO_CHILD = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {root!r})
    from airflow_provider_oss.upload import ResumableUploader, SourceFileError
    from tests.fake_upload_api import FakeUploadAPI
    api = FakeUploadAPI()
    try:
        ResumableUploader(api, "b", "k", sys.argv[1]).run()
    except SourceFileError as err:
        print("SourceFileError:", err)
        print("calls:", api.calls)
        sys.exit(3)
    print("uploaded")
    """
)


def test_fifo_source_fails_with_a_clear_error_instead_of_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", FIFO_CHILD.format(root=root), str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,  # the child needs well under a second; a blocking open() would hang it
        check=False,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "is not a regular file (a FIFO (named pipe))" in proc.stdout
    assert "calls: []" in proc.stdout  # refused before any request


def test_socket_source_is_refused_with_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        with pytest.raises(SourceFileError, match=r"not a regular file \(a socket\)"):
            SourceFingerprint.of_file(path)
    finally:
        sock.close()


def test_part_reader_refuses_a_path_swapped_for_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SourceFileError, match="is not a regular file any more"):
        PartReader(str(fifo))


def test_xcom_crc64_is_a_decimal_string_that_javascript_cannot_round() -> None:
    value = 0x995DC9BBDF1939FA  # the CRC-64/XZ check value: above 2**53
    result = UploadResult(
        bucket="b",
        key="k",
        etag="e",
        crc64=value,
        size=9,
        upload_id=None,
        parts_total=1,
        parts_reused=0,
        parts_sent=1,
        bytes_sent=9,
        bytes_reused=0,
        resumed=False,
        seconds=0.0123456,
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["crc64"] == "11051210869376104954" and int(data["crc64"]) == value
    assert int(float(value)) != value  # what a JavaScript number would have shown
    assert data["seconds"] == 0.012
    assert json.loads(json.dumps({**result.to_dict(), "crc64": None}))["crc64"] is None


def _progress_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == name and r.getMessage().startswith("Upload oss://")
    ]


def test_progress_after_a_resume_counts_reused_parts_from_the_first_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(20 * PART)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    api, store = FakeUploadAPI(), MemoryCheckpointStore()
    upload_id = api.initiate_multipart_upload("b", "k")
    plan = plan_parts(len(data), PART)
    confirmed = {}
    for part in plan:
        if part.number <= 15:  # 75 % stored and confirmed by an earlier try
            chunk = data[part.offset : part.end]
            api.upload_part("b", "k", upload_id, part.number, chunk)
            confirmed[part.number] = crc.crc64(chunk)
    fingerprint = SourceFingerprint.of_file(path)
    store.save(
        Checkpoint(
            bucket="b",
            key="k",
            upload_id=upload_id,
            part_size=PART,
            file_size=len(data),
            fingerprint=fingerprint,
            source_path=str(path),
            options_digest=options_digest(None),
            confirmed_parts=confirmed,
        )
    )
    logger = logging.getLogger("test.progress.resume")
    with caplog.at_level(logging.INFO, logger=logger.name):
        result = ResumableUploader(
            api,
            "b",
            "k",
            path,
            config=TransferConfig(part_size=PART, parallelism=1),
            checkpoint_store=store,
            logger=logger,
        ).run()
    assert result.parts_reused_confirmed == 15
    lines = _progress_lines(caplog, logger.name)
    assert len(lines) >= 2, lines
    first = lines[0]
    assert first.startswith("Upload oss://b/k: 75.0% (1.5 of 2.0 MiB, 15 of 20 parts; 1.5 MiB reused)"), first
    assert first.endswith("no part sent yet")  # not "0.0 MiB/s, ETA ?": nothing has been sent
    percents = [float(re.search(r": ([\d.]+)%", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert percents == sorted(percents) and percents[0] >= 75.0  # never below what OSS already held
    for line in lines[1:]:
        assert re.search(r"\d+\.\d MiB/s, ETA \d", line), line  # bytes flowed: a rate and an ETA
    for line in lines:
        assert " MB" not in line and "ETA ?" not in line, line  # one unit: MiB and MiB/s
