"""
HTTP/1.1 message framing (RFC 9112) of the local server: any request whose body length two readers
could see differently is answered 400 and the connection closed, and nothing is stored.
"""

from __future__ import annotations

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient
from tests.raw_http import raw_exchange

B = "test-bucket"


def _put(headers: str, body: bytes) -> bytes:
    head = f"PUT /{B}/framed HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"
    return head.encode() + body


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("Content-Length: 3\r\nContent-Length: 5\r\n", b"abcde"),
        ("Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"),
        ("Transfer-Encoding: xchunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: gzip, chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b"0x3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b"+3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b" 3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b"-3\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b"3\r\nabcXYZ\r\n0\r\n\r\n"),
    ],
    ids=[
        "two-content-lengths",
        "two-equal-content-lengths",
        "xchunked",
        "coding-before-chunked",
        "chunked-twice",
        "te-and-content-length",
        "size-0x3",
        "size-1_0",
        "size-plus",
        "size-leading-space",
        "size-minus-3",
        "data-not-followed-by-crlf",
    ],
)
def test_ambiguous_framing_answers_400_closes_and_stores_nothing(
    oss_server: LocalOssServer, headers: str, body: bytes
) -> None:
    answer, closed = raw_exchange(oss_server, _put(headers, body), timeout=20)
    assert closed, f"the server kept the connection open: {answer[:200]!r}"
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after the body was read as a second request
    assert b"Connection: close" in answer
    with RawClient(oss_server) as client:
        assert client.request("HEAD", B, "framed").status_code == 404


def test_a_chunk_extension_and_a_plain_chunked_body_are_still_accepted(oss_server: LocalOssServer) -> None:
    answer, _ = raw_exchange(
        oss_server,
        _put(
            "Transfer-Encoding: Chunked\r\nConnection: close\r\n", b"3 ;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        ),
    )
    assert answer.startswith(b"HTTP/1.1 403")  # unsigned: framed correctly, then refused by auth
    assert b"InvalidArgument" not in answer


def test_control_api_refuses_a_chunked_body(oss_server: LocalOssServer) -> None:
    request = (
        b"POST /_local/buckets HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'11\r\n{"name": "b-te1"}\r\n0\r\n\r\n'
    )
    answer, closed = raw_exchange(oss_server, request, timeout=20)
    assert closed
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert "b-te1" not in oss_server.info()["buckets"]
