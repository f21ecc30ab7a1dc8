"""
AppendObject and append_file against the local server: a growing file is kept in one appendable
object and what the object held is never overwritten; an append whose answer was lost counts once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.errors import OssServiceError
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"


def test_append_object_creates_then_continues(oss_client: OssClient, oss_server: LocalOssServer) -> None:
    first = oss_client.append_object(BUCKET, "a.log", b"one\n", position=0)
    second = oss_client.append_object(
        BUCKET, "a.log", b"two\n", position=first.next_position, object_crc64=first.crc64
    )
    assert (first.next_position, second.next_position) == (4, 8)
    assert second.crc64 == crc64(b"one\ntwo\n")
    assert oss_server.object_bytes(BUCKET, "a.log") == b"one\ntwo\n"


def test_append_at_a_wrong_position_is_refused(oss_client: OssClient) -> None:
    oss_client.append_object(BUCKET, "a.log", b"one\n", position=0)
    with pytest.raises(OssServiceError) as caught:
        oss_client.append_object(BUCKET, "a.log", b"two\n", position=0)
    assert caught.value.code == "PositionNotEqualToLength"


def test_append_whose_answer_was_lost_is_stored_once(
    oss_client: OssClient, oss_server: LocalOssServer
) -> None:
    oss_client.append_object(BUCKET, "a.log", b"one\n", position=0)
    oss_server.add_fault("AppendObject", "drop_answer")
    result = oss_client.append_object(BUCKET, "a.log", b"two\n", position=4, object_crc64=crc64(b"one\n"))
    assert result.next_position == 8
    assert oss_server.object_bytes(BUCKET, "a.log") == b"one\ntwo\n"


def test_append_file_sends_only_what_the_object_lacks(
    oss_client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "attempt=1.log"
    path.write_bytes(b"before defer\n")
    assert oss_client.append_file(BUCKET, "t.log", path).continued is False
    with path.open("ab") as grown:
        grown.write(b"after resume\n")
    result = oss_client.append_file(BUCKET, "t.log", path)
    assert (result.appended, result.continued) == (len(b"after resume\n"), True)
    assert oss_server.object_bytes(BUCKET, "t.log") == b"before defer\nafter resume\n"
    assert oss_client.append_file(BUCKET, "t.log", path).appended == 0  # nothing new: nothing sent


def test_append_file_from_another_disk_keeps_the_first_half(
    oss_client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """The resumed half was written on a machine without the first half: both are kept, in order."""
    first, second = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    first.write_bytes(b"first half\n")
    second.write_bytes(b"second half\n")
    oss_client.append_file(BUCKET, "t.log", first)
    result = oss_client.append_file(BUCKET, "t.log", second)
    assert result.continued is False
    assert oss_server.object_bytes(BUCKET, "t.log") == b"first half\nsecond half\n"


def test_append_file_after_a_put_object_keeps_its_bytes(
    oss_client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    oss_client.put_object(BUCKET, "t.log", b"written by PutObject\n")
    path = tmp_path / "attempt=1.log"
    path.write_bytes(b"appended\n")
    oss_client.append_file(BUCKET, "t.log", path)
    assert oss_server.object_bytes(BUCKET, "t.log") == b"written by PutObject\nappended\n"


def test_read_text_of_a_missing_key_is_none_and_a_missing_bucket_raises(oss_client: OssClient) -> None:
    assert oss_client.read_text(BUCKET, "absent.log") is None
    with pytest.raises(OssServiceError):
        oss_client.read_text("no-such-bucket", "absent.log")
