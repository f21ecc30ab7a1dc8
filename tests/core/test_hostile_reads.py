"""
Reads held to the bar of writes: what the client's reads (``get_object`` whole and ranged,
``head_object``, ``object_exists``) do when the answer is not OSS's answer to what was asked. The
local server's ``ignore_range`` fault is a proxy that drops ``Range`` (200 with the whole object);
its ``portal`` fault is a captive portal (``200 text/html``, no ``x-oss-request-id``); the
scripted :class:`~tests.hostile_oss.HostileOss` sends the answers no OSS sends.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from airflow_provider_oss.core import OssClient
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.errors import CrcMismatchError, OssResponseError, OssServiceError
from airflow_provider_oss.core.numbers import ascii_int
from airflow_provider_oss.testing import LocalOssServer
from tests.hostile_oss import Answer, HostileOss
from tests.upload_support import make_client

BUCKET = "test-bucket"
KEY = "reads/object.bin"
DATA = os.urandom(300 * 1024)
ETAG = '"0123456789ABCDEF0123456789ABCDEF"'


@pytest.fixture
def stored(oss_server: LocalOssServer, oss_client: OssClient) -> OssClient:
    oss_client.put_object(BUCKET, KEY, DATA)
    return oss_client


# -- a proxy that ignores Range ---------------------------------------------------------------------


def test_a_ranged_read_answered_with_the_whole_object_fails(
    oss_server: LocalOssServer, stored: OssClient
) -> None:
    oss_server.add_fault("GetObject", "ignore_range")
    with pytest.raises(OssResponseError) as caught:
        stored.get_object(BUCKET, KEY, byte_range=(1000, 1009))
    text = str(caught.value)
    assert oss_server.endpoint in text
    assert "HTTP 200" in text and "bytes=1000-1009" in text
    assert f"oss://{BUCKET}/{KEY}" in text


@pytest.mark.parametrize(
    ("byte_range", "resumed_with"), [((1000, 200_000), "bytes=6000-200000"), (None, "bytes=5000-")]
)
def test_a_read_resumed_after_a_cut_is_refused_when_the_resume_ignores_range(
    oss_server: LocalOssServer, stored: OssClient, byte_range: tuple[int, int] | None, resumed_with: str
) -> None:
    oss_server.add_fault("GetObject", "reset", after_bytes=5000)
    oss_server.add_fault("GetObject", "ignore_range", nth=2)
    with pytest.raises(OssResponseError, match="does not serve byte ranges") as caught:
        stored.get_object(BUCKET, KEY, byte_range=byte_range)
    assert resumed_with in str(caught.value)


def test_a_read_cut_part_way_resumes_with_the_exact_range(
    oss_server: LocalOssServer, stored: OssClient
) -> None:
    oss_server.add_fault("GetObject", "reset", after_bytes=5000)
    assert stored.get_object(BUCKET, KEY, byte_range=(1000, 200_000)) == DATA[1000:200_001]
    oss_server.add_fault("GetObject", "reset", after_bytes=7000)
    assert stored.get_object(BUCKET, KEY) == DATA
    ranges = [entry["range"] for entry in oss_server.request_log() if entry["op"] == "GetObject"]
    assert ranges == ["bytes=1000-200000", "bytes=6000-200000", None, "bytes=7000-"]


# -- OSS's range semantics (x-oss-range-behavior: standard) ------------------------------------------


def test_a_range_past_the_end_gives_the_bytes_up_to_the_end(stored: OssClient) -> None:
    size = len(DATA)
    assert stored.get_object(BUCKET, KEY, byte_range=(size - 10, size + 100)) == DATA[-10:]
    assert stored.get_object(BUCKET, KEY, byte_range=(size - 1, size - 1)) == DATA[-1:]


def test_a_range_starting_past_the_end_is_oss_invalid_range(stored: OssClient) -> None:
    with pytest.raises(OssServiceError) as caught:
        stored.get_object(BUCKET, KEY, byte_range=(len(DATA), len(DATA) + 5))
    assert (caught.value.status, caught.value.code) == (416, "InvalidRange")


def _ranged(content_range: str, body: bytes, length: str | None = None) -> HostileOss:
    def script(method: str, path: str) -> Answer:
        headers = {"ETag": ETAG, "x-oss-request-id": "R", "Content-Range": content_range}
        if length is not None:
            headers["Content-Length"] = length
        return Answer(206, headers, body)

    return HostileOss(script)


@pytest.mark.parametrize(
    ("content_range", "asked", "why"),
    [
        ("bytes 0-9/1000", (5, 9), "another start"),
        ("bytes 5-20/1000", (5, 9), "more than asked"),
        ("bytes 5-7/1000", (5, 9), "less than asked, not at the end"),
        ("bytes 5-49/1000", (5, 99), "cut short, not at the object's end"),
        ("bytes */1000", (5, 9), "unsatisfied form"),
        ("items 5-9/1000", (5, 9), "another unit"),
        ("bytes 9-5/1000", (5, 9), "last before first"),
        ("bytes 5-9/9", (5, 9), "last past the total"),
    ],
)
def test_a_206_for_another_range_fails(content_range: str, asked: tuple[int, int], why: str) -> None:
    with (
        _ranged(content_range, b"x" * 5) as server,
        server.client() as client,
        pytest.raises(OssResponseError) as caught,
    ):
        client.get_object("bucket", "k.bin", byte_range=asked)
    assert server.endpoint in str(caught.value)
    assert "Content-Range" in str(caught.value)


def test_a_206_whose_content_length_is_not_its_span_fails() -> None:
    with _ranged("bytes 5-9/1000", b"x" * 5, length="5") as server, server.client() as client:
        assert client.get_object("bucket", "k.bin", byte_range=(5, 9)) == b"x" * 5
    with (
        _ranged("bytes 5-9/1000", b"x" * 8, length="8") as server,
        server.client() as client,
        pytest.raises(OssResponseError, match="Content-Length 8"),
    ):
        client.get_object("bucket", "k.bin", byte_range=(5, 9))


# -- a captive portal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("read", ["whole", "ranged", "head", "exists"])
def test_every_read_of_a_captive_portal_fails(
    oss_server: LocalOssServer, stored: OssClient, read: str
) -> None:
    oss_server.add_fault("*", "portal")
    with pytest.raises(OssResponseError) as caught:
        if read == "whole":
            stored.get_object(BUCKET, KEY)
        elif read == "ranged":
            stored.get_object(BUCKET, KEY, byte_range=(0, 99))
        elif read == "head":
            stored.head_object(BUCKET, KEY)
        else:
            stored.object_exists(BUCKET, KEY)
    text = str(caught.value)
    assert oss_server.endpoint in text
    assert "text/html" in text


def _no_request_id(method: str, path: str) -> Answer:
    headers = {"ETag": ETAG, "Content-Length": str(len(DATA)), "x-oss-hash-crc64ecma": str(crc64(DATA))}
    return Answer(200, headers, b"" if method == "HEAD" else DATA)


def test_a_whole_answer_without_request_id_fails_even_with_a_good_crc() -> None:
    with HostileOss(_no_request_id) as server, server.client() as client:
        with pytest.raises(OssResponseError, match="x-oss-request-id"):
            client.get_object("bucket", "k.bin")
        with pytest.raises(OssResponseError, match="x-oss-request-id"):
            client.head_object("bucket", "k.bin")


# -- the CRC-64 of a whole read -----------------------------------------------------------------------


def _whole(crc: str | None, body: bytes = DATA) -> HostileOss:
    def script(method: str, path: str) -> Answer:
        headers = {"ETag": ETAG, "x-oss-request-id": "R", "Content-Length": str(len(body))}
        if crc is not None:
            headers["x-oss-hash-crc64ecma"] = crc
        return Answer(200, headers, b"" if method == "HEAD" else body)

    return HostileOss(script)


def test_a_whole_read_without_crc64_fails_unless_require_crc64_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _whole(None) as server:
        with (
            server.client() as client,
            pytest.raises(OssResponseError, match="x-oss-hash-crc64ecma") as caught,
        ):
            client.get_object("bucket", "k.bin")
        assert "require_crc64=false" in str(caught.value)
        caplog.set_level(logging.WARNING, logger="airflow_provider_oss")
        with server.client(require_crc64=False) as client:
            assert client.get_object("bucket", "k.bin") == DATA
    assert any(
        "UNVERIFIED" in r.getMessage() and "oss://bucket/k.bin" in r.getMessage() for r in caplog.records
    )


def test_require_crc64_false_also_lets_an_answer_without_request_id_through_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_oss")
    with HostileOss(_no_request_id) as server, server.client(require_crc64=False) as client:
        assert client.get_object("bucket", "k.bin") == DATA  # its CRC-64 still checked
        assert client.head_object("bucket", "k.bin").size == len(DATA)
    unverified = [r.getMessage() for r in caplog.records if "UNVERIFIED" in r.getMessage()]
    assert len(unverified) == 2 and all("x-oss-request-id" in m for m in unverified)


def test_a_whole_read_whose_bytes_differ_from_the_crc64_fails(
    oss_server: LocalOssServer, stored: OssClient
) -> None:
    oss_server.add_fault("GetObject", "corrupt")
    with pytest.raises(CrcMismatchError, match=f"{len(DATA)} bytes received"):
        stored.get_object(BUCKET, KEY)


# -- numbers: ASCII digits only -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-Length": "\u00b2"}, "Content-Length"),
        ({"Content-Length": "1\u00b2"}, "Content-Length"),
        ({"Content-Length": "+5"}, "Content-Length"),
        ({"Content-Length": "5", "x-oss-hash-crc64ecma": "\u00b2"}, "x-oss-hash-crc64ecma"),
    ],
)
def test_a_header_number_in_other_digits_is_a_response_error_naming_it(
    headers: dict[str, str], named: str
) -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(200, {"ETag": ETAG, "x-oss-request-id": "R", **headers}, b"")

    with HostileOss(script) as server, server.client() as client:
        for read in (client.head_object, client.get_object):
            with pytest.raises(OssResponseError) as caught:
                read("bucket", "k.bin")
            assert named in str(caught.value)
            assert server.endpoint in str(caught.value)


def test_a_content_range_in_other_digits_is_a_response_error_naming_it() -> None:
    with (
        _ranged("bytes 5-\u00b2/1000", b"x" * 5) as server,
        server.client() as client,
        pytest.raises(OssResponseError, match="Content-Range"),
    ):
        client.get_object("bucket", "k.bin", byte_range=(5, 9))


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "1_000", "+5", " 5", "5 ", "", "-1", "0x10"])
def test_ascii_int_accepts_ascii_digits_only(text: str) -> None:
    assert ascii_int(text) is None
    assert ascii_int("0042") == 42


def test_a_read_through_the_local_server_still_works(oss_server: LocalOssServer, stored: OssClient) -> None:
    assert stored.get_object(BUCKET, KEY) == DATA
    assert stored.get_object(BUCKET, KEY, byte_range=(1000, 1009)) == DATA[1000:1010]
    info = stored.head_object(BUCKET, KEY)
    assert (info.size, info.crc64) == (len(DATA), crc64(DATA))
    with make_client(oss_server, signature_version="v1") as v1:
        assert v1.get_object(BUCKET, KEY, byte_range=(0, 0)) == DATA[:1]


def test_a_retry_after_in_other_digits_is_ignored_not_a_bare_value_error() -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(
            503, {"Retry-After": "\u00b2", "x-oss-request-id": "R", "Content-Type": "application/xml"}
        )

    with (
        HostileOss(script) as server,
        server.client(max_retries=1, backoff_base=0.01, backoff_max=0.02) as client,
        pytest.raises(OssServiceError) as caught,
    ):
        client.get_object("bucket", "k.bin")
    assert caught.value.status == 503
    assert len(server.requests) == 2  # retried, the Retry-After ignored


@pytest.mark.parametrize("size", ["\u0663", "1_000", "+3"])
def test_a_listed_size_in_other_digits_is_a_response_error(size: str) -> None:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Name>bucket</Name><IsTruncated>false</IsTruncated>"
        f'<Contents><Key>k.bin</Key><Size>{size}</Size><ETag>"E"</ETag></Contents></ListBucketResult>'
    ).encode()

    def script(method: str, path: str) -> Answer:
        return Answer(200, {"x-oss-request-id": "R", "Content-Type": "application/xml"}, body)

    with (
        HostileOss(script) as server,
        server.client() as client,
        pytest.raises(OssResponseError, match="Size"),
    ):
        list(client.list_objects_v2("bucket"))


def test_a_copy_source_head_with_other_digits_is_a_response_error_naming_the_header() -> None:
    from airflow_provider_oss.copy.calls import head_source

    def script(method: str, path: str) -> Answer:
        return Answer(200, {"ETag": ETAG, "x-oss-request-id": "R", "Content-Length": "\u00b2"})

    with (
        HostileOss(script) as server,
        server.client() as client,
        pytest.raises(OssResponseError, match="Content-Length") as caught,
    ):
        head_source(client, "bucket", "k.bin")
    assert server.endpoint in str(caught.value)


def test_the_documented_hostile_reads_snippet_runs() -> None:
    """docs/OBJECTS_AND_SENSORS.md's snippet, as written there."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "OBJECTS_AND_SENSORS.md").read_text()
    block = doc.split("<!-- snippet: hostile-reads", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "OBJECTS_AND_SENSORS.md", "exec"), {})  # noqa: S102  # the project's own doc


def test_a_resumed_answer_for_another_object_size_fails() -> None:
    body = bytes(range(250)) * 4
    headers = {"ETag": ETAG, "x-oss-request-id": "R", "x-oss-hash-crc64ecma": str(crc64(body))}
    answers = [
        # the whole object promised, half of it sent, then the connection closed
        Answer(200, {**headers, "Content-Length": "1000", "Connection": "close"}, body[:500]),
        # the rest, of an object that is now 1,500 bytes
        Answer(206, {**headers, "Content-Range": "bytes 500-1499/1500"}, b"y" * 1000),
    ]

    def script(method: str, path: str) -> Answer:
        return answers.pop(0)

    with (
        HostileOss(script) as server,
        server.client(max_retries=1, backoff_base=0.01, backoff_max=0.02) as client,
        pytest.raises(OssResponseError, match="not the rest of the first answer"),
    ):
        client.get_object("bucket", "k.bin")
