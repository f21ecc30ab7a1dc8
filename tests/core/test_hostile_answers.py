"""
What the client does when the "OSS" it talks to is not OSS: a captive portal's HTML, an empty 200,
a write answered without its ETag or CRC-64, garbage to CompleteMultipartUpload, bodies without end,
a redirect, a huge error body, and credentials that would leak through an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import (
    OssClientError,
    OssConnectionError,
    OssError,
    OssResponseError,
    OssServiceError,
)
from tests.hostile_oss import Answer, HostileOss

DATA = b"the bytes of a small object" * 100
DATA_CRC = crc64.crc64(DATA)
PORTAL = b"<html><body><h1>Welcome to Airport WiFi</h1>Please log in.</body></html>"
GOOD_WRITE = {"ETag": '"0123456789ABCDEF0123456789ABCDEF"', "x-oss-request-id": "RID"}


def _portal(method: str, path: str) -> Answer:
    return Answer(200, {"Content-Type": "text/html"}, PORTAL)


def _empty(method: str, path: str) -> Answer:
    return Answer(200)


def _etag_without_crc(method: str, path: str) -> Answer:
    return Answer(200, dict(GOOD_WRITE))


def _crc_without_etag(method: str, path: str) -> Answer:
    return Answer(200, {"x-oss-hash-crc64ecma": str(DATA_CRC), "x-oss-request-id": "RID"})


@pytest.mark.parametrize(
    ("script", "missing"),
    [
        (_portal, "ETag"),
        (_empty, "ETag"),
        (_etag_without_crc, "x-oss-hash-crc64ecma"),
        (_crc_without_etag, "ETag"),
    ],
    ids=["captive-portal-html", "empty-200", "etag-without-crc", "crc-without-etag"],
)
def test_put_object_answered_by_something_that_is_not_oss_fails(script, missing: str) -> None:  # type: ignore[no-untyped-def]
    with HostileOss(script) as server, server.client() as client, pytest.raises(OssResponseError) as caught:
        client.put_object("bucket", "key.bin", DATA)
    text = str(caught.value)
    assert server.endpoint in text
    assert missing in text
    assert "PutObject" in text


@pytest.mark.parametrize(
    ("script", "missing"),
    [(_portal, "ETag"), (_empty, "ETag"), (_etag_without_crc, "x-oss-hash-crc64ecma")],
    ids=["captive-portal-html", "empty-200", "etag-without-crc"],
)
def test_upload_part_answered_by_something_that_is_not_oss_fails(script, missing: str) -> None:  # type: ignore[no-untyped-def]
    with HostileOss(script) as server, server.client() as client, pytest.raises(OssResponseError) as caught:
        client.upload_part("bucket", "key.bin", "UPLOAD1", 3, DATA)
    text = str(caught.value)
    assert server.endpoint in text
    assert missing in text
    assert "part 3" in text


def test_a_server_without_crc64_can_be_allowed_explicitly_and_each_write_says_unverified(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_oss")
    with HostileOss(_etag_without_crc) as server, server.client(require_crc64=False) as client:
        result = client.put_object("bucket", "a.bin", DATA)
        part = client.upload_part("bucket", "b.bin", "UPLOAD1", 1, DATA)
    assert result.etag == "0123456789ABCDEF0123456789ABCDEF"
    assert part.etag == result.etag
    unverified = [r.getMessage() for r in caplog.records if "UNVERIFIED" in r.getMessage()]
    assert len(unverified) == 2
    assert "oss://bucket/a.bin" in unverified[0]
    assert "oss://bucket/b.bin" in unverified[1]


def test_require_crc64_must_be_a_bool() -> None:
    with pytest.raises(OssClientError, match="require_crc64"):
        ClientConfig(region="cn-hangzhou", require_crc64="no")  # type: ignore[arg-type]


def _complete_script(head: Answer) -> Callable[[str, str], Answer]:
    def script(method: str, path: str) -> Answer:
        if method == "POST":
            return Answer(200, {"Content-Type": "text/html"}, PORTAL)
        if method == "HEAD":
            return head
        return Answer(404)

    return script


def test_complete_answered_with_garbage_fails_when_the_object_does_not_prove_itself() -> None:
    head = Answer(404, {"x-oss-request-id": "RID"})
    with (
        HostileOss(_complete_script(head)) as server,
        server.client() as client,
        pytest.raises(OssResponseError) as caught,
    ):
        client.complete_multipart_upload(
            "bucket",
            "key.bin",
            "UPLOAD1",
            [(1, "ETAG1")],
            expected_crc64=DATA_CRC,
            expected_size=len(DATA),
        )
    assert server.endpoint in str(caught.value)
    assert "CompleteMultipartUpload" in str(caught.value)
    assert ("HEAD", "/bucket/key.bin") in server.requests


@pytest.mark.parametrize(
    ("crc", "size", "what"),
    [(DATA_CRC ^ 1, len(DATA), "CRC-64"), (DATA_CRC, len(DATA) + 1, "size")],
    ids=["another_crc", "another_size"],
)
def test_complete_answered_with_garbage_fails_when_the_object_differs(crc: int, size: int, what: str) -> None:
    head = Answer(200, {"ETag": '"E"', "x-oss-hash-crc64ecma": str(crc), "x-oss-request-id": "R"})
    head.headers["Content-Length"] = str(size)
    with (
        HostileOss(_complete_script(head)) as server,
        server.client() as client,
        pytest.raises(OssResponseError, match=what),
    ):
        client.complete_multipart_upload(
            "bucket",
            "key.bin",
            "UPLOAD1",
            [(1, "ETAG1")],
            expected_crc64=DATA_CRC,
            expected_size=len(DATA),
        )


def test_complete_answered_with_garbage_succeeds_when_a_head_proves_size_and_crc(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_oss")
    head = Answer(200, {"ETag": '"OBJ-ETAG"', "x-oss-hash-crc64ecma": str(DATA_CRC), "x-oss-request-id": "R"})
    head.headers["Content-Length"] = str(len(DATA))
    with HostileOss(_complete_script(head)) as server, server.client() as client:
        done = client.complete_multipart_upload(
            "bucket", "key.bin", "UPLOAD1", [(1, "ETAG1")], expected_crc64=DATA_CRC, expected_size=len(DATA)
        )
    assert done.crc64 == DATA_CRC
    assert done.etag == "OBJ-ETAG"
    assert any("proved" in r.getMessage() for r in caplog.records)


def test_a_huge_error_body_is_read_only_up_to_the_cap() -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(503, {"Content-Type": "application/xml"}, endless=True)

    with HostileOss(script) as server, server.client() as client, pytest.raises(OssServiceError) as caught:
        client.put_object("bucket", "key.bin", DATA)
    assert caught.value.status == 503
    # The client reads at most 1 MiB and hangs up (without the cap it would read until the test's
    # timeout); the socket buffers let the server push a few MiB more.
    assert server.bytes_sent < 16 * 1024 * 1024, server.bytes_sent


@pytest.mark.parametrize("method", ["put", "list"])
def test_a_success_answer_without_end_fails_instead_of_reading_forever(method: str) -> None:
    def script(m: str, path: str) -> Answer:
        return Answer(200, {**GOOD_WRITE, "x-oss-hash-crc64ecma": str(DATA_CRC)}, endless=True)

    with (
        HostileOss(script) as server,
        server.client() as client,
        pytest.raises(OssResponseError, match="MiB"),
    ):
        if method == "put":
            client.put_object("bucket", "key.bin", DATA)
        else:
            list(client.list_objects_v2("bucket"))
    assert server.bytes_sent < 256 * 1024 * 1024


def test_a_redirect_is_an_error_not_a_success() -> None:
    def script(method: str, path: str) -> Answer:
        return Answer(302, {"Location": "http://127.0.0.1:9/elsewhere"})

    with HostileOss(script) as server, server.client() as client, pytest.raises(OssServiceError) as caught:
        client.put_object("bucket", "key.bin", DATA)
    assert caught.value.status == 302
    assert server.requests == [("PUT", "/bucket/key.bin")]


@pytest.mark.parametrize(
    "token",
    ["sts-token-line1\nline2-SECRETPART", "sts-token\r\nX-Injected: 1", " padded-token-SECRETPART"],
    ids=["newline", "header-injection", "leading-space"],
)
def test_a_malformed_sts_token_is_refused_without_showing_it(token: str) -> None:
    with pytest.raises(OssError) as caught:
        Credentials("LTAI5tHostileTest", "hostile-secret-value", token)
    _assert_no_secret(caught.value, token, "hostile-secret-value")


@pytest.mark.parametrize(
    "secret", ["secret-with\nnewline-SECRETPART", "secret\twith-tab-SECRETPART"], ids=["newline", "tab"]
)
def test_a_malformed_secret_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(OssError) as caught:
        Credentials("LTAI5tHostileTest", secret, None)
    _assert_no_secret(caught.value, secret)


def test_a_connection_error_never_shows_the_token() -> None:
    token = "sts-token-SECRETPART/with+chars=="
    config = ClientConfig(
        region="cn-hangzhou", endpoint="http://127.0.0.1:9", max_retries=0, connect_timeout=1
    )
    from airflow_provider_oss.core.client import OssClient

    with (
        OssClient(Credentials("LTAI5tHostileTest", "hostile-secret-value", token), config) as client,
        pytest.raises(OssConnectionError) as caught,
    ):
        client.put_object("bucket", "key.bin", DATA)
    _assert_no_secret(caught.value, token, "hostile-secret-value")


def _assert_no_secret(err: BaseException, *secrets: str) -> None:
    texts = []
    seen: BaseException | None = err
    while seen is not None:  # the message, its repr, and every chained cause or context
        texts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob
        assert repr(secret)[1:-1] not in blob
        assert "SECRETPART" not in blob
    assert "hostile-secret-value" not in blob


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    yield


def test_the_engine_single_put_path_fails_on_a_captive_portal(tmp_path: Path) -> None:
    from airflow_provider_oss.upload.engine import ResumableUploader

    source = tmp_path / "small.bin"
    source.write_bytes(DATA)
    with HostileOss(_portal) as server, server.client() as client:
        uploader = ResumableUploader(client, "bucket", "small.bin", source)
        with pytest.raises(OssResponseError, match="ETag"):
            uploader.run()
    assert [m for m, _ in server.requests] == ["PUT"]


def test_the_engine_multipart_path_fails_when_complete_is_answered_with_garbage(tmp_path: Path) -> None:
    from airflow_provider_oss.upload.config import TransferConfig
    from airflow_provider_oss.upload.engine import ResumableUploader

    part = 100 * 1024
    data = bytes(range(256)) * (3 * part // 256)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    parts: dict[str, bytes] = {}

    def script(method: str, path: str) -> Answer:
        if method == "POST" and "uploads" in path:
            body = b"<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>"
            return Answer(200, {"x-oss-request-id": "R", "Content-Type": "application/xml"}, body)
        if method == "PUT":
            number = int(path.split("partNumber=")[1].split("&", maxsplit=1)[0])
            chunk = data[(number - 1) * part : number * part]
            parts[str(number)] = chunk
            return Answer(200, {**GOOD_WRITE, "x-oss-hash-crc64ecma": str(crc64.crc64(chunk))})
        if method == "POST":
            return Answer(200, {"Content-Type": "text/html"}, PORTAL)
        if method == "HEAD":
            return Answer(404, {"x-oss-request-id": "R"})
        return Answer(404, {"x-oss-request-id": "R"})

    with HostileOss(script) as server, server.client() as client:
        uploader = ResumableUploader(
            client, "bucket", "big.bin", source, config=TransferConfig(part_size=part, parallelism=1)
        )
        with pytest.raises(OssResponseError, match="CompleteMultipartUpload"):
            uploader.run()
    assert len(parts) == 3
