"""
The local server never destroys data on a request it does not implement: allow-list routing
answers 501 NotImplemented and changes nothing; a missing bucket answers NoSuchBucket first.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator

import pytest

from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.xmlutil import OssXmlError, parse_error, parse_xml
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.cli import main
from airflow_provider_oss.testing.netaddr import is_loopback_host
from airflow_provider_oss.testing.rawclient import RawClient, error_code
from airflow_provider_oss.testing.server import RemoteBindWarning
from tests.raw_http import raw_exchange

B = "test-bucket"


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


@pytest.mark.parametrize("version", ["v4", "v1"])
@pytest.mark.parametrize(
    ("method", "key", "query", "headers"),
    [
        ("DELETE", None, [("style", ""), ("styleName", "s")], {}),
        ("DELETE", None, [("cors", "")], {}),
        ("DELETE", None, [("lifecycle", "")], {}),
        ("DELETE", None, [("x-oss-unknown-thing", "")], {}),
        ("PUT", None, [("acl", "")], {"x-oss-acl": "public-read"}),
        ("PUT", "k", [("retention", "")], {}),
        ("PUT", "k", [("tagging", "")], {}),
        ("PUT", "k", [("symlink", "")], {"x-oss-symlink-target": "other"}),
        ("PUT", "k", [("someNewFeature", "")], {}),
        ("PUT", "k", [], {"x-oss-tagging": "a=b"}),
        ("GET", "k", [], {"x-oss-traffic-limit": "819200"}),
        ("POST", "k", [("uploads", "")], {"x-oss-object-worm-mode": "GOVERNANCE"}),
        ("POST", "k", [("restore", "")], {}),
        ("POST", "k", [("append", ""), ("position", "0"), ("x-oss-process", "x")], {}),
        ("DELETE", "k", [("tagging", "")], {}),
        ("GET", "k", [("x-oss-process", "image/resize,w_10")], {}),
        ("PUT", "k", [], {"x-oss-copy-source": f"/{B}/k", "x-oss-tagging-directive": "Replace"}),
    ],
)
def test_unimplemented_requests_answer_501_and_change_nothing(
    oss_server: LocalOssServer,
    version: str,
    method: str,
    key: str | None,
    query: list[tuple[str, str]],
    headers: dict[str, str],
) -> None:
    with RawClient(oss_server, version=version) as raw:
        assert raw.request("PUT", B, "k", data=b"original bytes").status_code == 200
        answer = raw.request(method, B, key, query, dict(headers), data=b"<Retention>new bytes</Retention>")
        assert (answer.status_code, error_code(answer)) == (501, "NotImplemented")
        assert "nothing was changed" in answer.text
        assert raw.request("HEAD", B).status_code == 200  # the bucket is still there
        assert oss_server.object_bytes(B, "k") == b"original bytes"
        assert oss_server.object_info(B, "k")["meta"].get("x-oss-tagging") is None
        log = oss_server.request_log()[-2]
        assert (log["op"], log["status"]) == ("Unsupported", 501)


def test_unknown_method_changes_nothing(oss_server: LocalOssServer, client: RawClient) -> None:
    client.request("PUT", B, "k", data=b"x")
    answer = client.session.request("PATCH", client.url(B, "k"), data=b"y", timeout=10)
    assert answer.status_code == 501
    assert oss_server.object_bytes(B, "k") == b"x"


@pytest.mark.parametrize(
    ("method", "query"),
    [("GET", [("acl", "")]), ("DELETE", [("style", ""), ("styleName", "s")]), ("GET", []), ("HEAD", [])],
)
def test_missing_bucket_is_no_such_bucket_before_501_and_before_auth(
    oss_server: LocalOssServer, method: str, query: list[tuple[str, str]]
) -> None:
    with RawClient(oss_server) as raw:
        answer = raw.request(method, "missing-bucket", None, query)
        assert answer.status_code == 404
        if method != "HEAD":
            assert error_code(answer) == "NoSuchBucket"
    wrong = Credentials(oss_server.access_key_id, "not-the-secret")
    with RawClient(oss_server, credentials=wrong) as raw:
        answer = raw.request("GET", "missing-bucket", None, [("acl", "")])
        assert (answer.status_code, error_code(answer)) == (404, "NoSuchBucket")
        existing = raw.request("GET", B)
        assert (existing.status_code, error_code(existing)) == (403, "SignatureDoesNotMatch")


def test_sdk_is_bucket_exist_sees_a_missing_bucket(oss_server: LocalOssServer) -> None:
    import alibabacloud_oss_v2 as oss

    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        oss_server.access_key_id, oss_server.access_key_secret
    )
    config.region = oss_server.region
    config.endpoint = oss_server.endpoint
    config.use_path_style = True
    sdk = oss.Client(config)
    assert sdk.is_bucket_exist("missing-bucket") is False
    assert sdk.is_bucket_exist(B) is True


def test_huge_content_length_is_answered_at_once_and_closed(oss_server: LocalOssServer) -> None:
    started = time.monotonic()
    answer, _ = raw_exchange(
        oss_server,
        b"PUT /test-bucket/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000000000000000000\r\n\r\nab",
    )
    assert time.monotonic() - started < 3
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"<Code>EntityTooLarge</Code>" in answer
    assert b"Connection: close" in answer


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ([("partNumber", "\u00b2"), ("uploadId", "u")], {}),
        ([("partNumber", "\u0661"), ("uploadId", "u")], {}),
        ([("max-keys", "\u00b2")], {}),
        ([], {"Range": "bytes=\u00b2-3"}),
    ],
)
def test_non_ascii_digits_answer_400(
    oss_server: LocalOssServer, client: RawClient, query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    client.request("PUT", B, "k", data=b"0123456789")
    upload = client.request("POST", B, "k", [("uploads", "")])
    assert upload.status_code == 200
    method, key = ("PUT", "k") if any(n == "partNumber" for n, _ in query) else ("GET", None)
    if headers:
        method, key = "GET", "k"
    encoded = {name: value.encode("utf-8").decode("latin-1") for name, value in headers.items()}
    answer = client.request(method, B, key, query, encoded, data=b"x" if method == "PUT" else b"")
    if headers:  # an unparseable Range is ignored, as HTTP says: the whole object
        assert (answer.status_code, answer.content) == (200, b"0123456789")
    else:
        assert (answer.status_code, error_code(answer)) == (400, "InvalidArgument")


def test_non_ascii_content_length_answers_400(oss_server: LocalOssServer) -> None:
    answer, _ = raw_exchange(
        oss_server,
        "PUT /test-bucket/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \u00b2\r\n\r\nab".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"InternalError" not in answer


def test_traffic_limit_takes_effect_on_upload(oss_server: LocalOssServer, client: RawClient) -> None:
    data = b"t" * 204_800  # 1.6 Mbit: two seconds at the lowest limit, 819200 bit/s
    started = time.monotonic()
    put = client.request("PUT", B, "slow", headers={"x-oss-traffic-limit": "819200"}, data=data)
    elapsed = time.monotonic() - started
    assert put.status_code == 200
    assert elapsed >= 1.8
    assert oss_server.object_bytes(B, "slow") == data
    too_low = client.request("PUT", B, "slow2", headers={"x-oss-traffic-limit": "100"}, data=b"x")
    assert (too_low.status_code, error_code(too_low)) == (400, "InvalidArgument")
    on_get = client.request("GET", B, "slow", headers={"x-oss-traffic-limit": "819200"})
    assert (on_get.status_code, error_code(on_get)) == (501, "NotImplemented")


_UTF16_ENTITY_DELETE = (
    '<?xml version="1.0" encoding="UTF-16"?>'
    '<!DOCTYPE Delete [<!ENTITY victim "keep-me">]>'
    "<Delete><Quiet>true</Quiet><Object><Key>&victim;</Key></Object></Delete>"
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8"])
def test_dtd_in_any_encoding_is_refused_and_deletes_nothing(
    oss_server: LocalOssServer, client: RawClient, encoding: str
) -> None:
    client.request("PUT", B, "keep-me", data=b"precious")
    text = _UTF16_ENTITY_DELETE
    if encoding != "utf-16":
        text = text.replace('encoding="UTF-16"', f'encoding="{encoding.upper()}"')
    body = text.encode(encoding)
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    answer = client.request("POST", B, None, [("delete", "")], {"Content-MD5": md5}, data=body)
    assert (answer.status_code, error_code(answer)) == (400, "MalformedXML")
    assert oss_server.object_bytes(B, "keep-me") == b"precious"


@pytest.mark.parametrize(
    ("encoding", "why"),
    [("utf-16", "DOCTYPE or ENTITY"), ("utf-8", "DOCTYPE or ENTITY"), ("utf-16-le", "not well-formed")],
)
def test_client_refuses_a_dtd_in_any_encoding(encoding: str, why: str) -> None:
    text = '<?xml version="1.0" encoding="ENC"?><!DOCTYPE Error [<!ENTITY e "x">]><Error><Code>&e;</Code></Error>'
    body = text.replace("ENC", encoding.upper()).encode(encoding)
    with pytest.raises(OssXmlError, match=why):
        parse_xml(body)
    assert parse_error(body) == {}
    plain = '<?xml version="1.0" encoding="UTF-16"?><Error><Code>NoSuchKey</Code></Error>'.encode("utf-16")
    assert parse_error(plain) == {"Code": "NoSuchKey"}


def test_client_refuses_xml_in_an_encoding_expat_cannot_check() -> None:
    body = '<?xml version="1.0" encoding="cp1252"?><!DOCTYPE E [<!ENTITY e "x">]><E>&e;</E>'.encode("cp1252")
    with pytest.raises(OssXmlError, match="refusing to parse"):
        parse_xml(body)


def test_binding_beyond_loopback_needs_a_flag_and_warns() -> None:
    with pytest.raises(ValueError, match="allow_remote=True"):
        LocalOssServer(host="0.0.0.0")  # the point of the test
    server = LocalOssServer(host="0.0.0.0", allow_remote=True)
    with pytest.warns(RemoteBindWarning, match="beyond loopback"):
        server.start()
    try:
        assert server.info()["buckets"] == ["test-bucket"]
    finally:
        server.stop()
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 1


def test_cli_warns_on_stderr_when_allowed_to_listen_beyond_loopback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_oss.testing", "--host", "0.0.0.0", "--allow-remote"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b"OSS local server ready: ")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert b"WARNING" in err
    assert b"beyond loopback" in err


def _control_get(server: LocalOssServer, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/_local/info", headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example:80"}, 403),
        ({"Host": "rebound.attacker.test"}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Host": "localhost"}, 200),
        ({"Origin": "http://127.0.0.1:1234"}, 200),
        ({}, 200),
    ],
)
def test_control_api_refuses_foreign_host_and_origin(
    oss_server: LocalOssServer, headers: dict[str, str], status: int
) -> None:
    got, body = _control_get(oss_server, headers)
    assert got == status, body
    if status == 403:
        assert b"secret" not in body
        assert b"access_key_id" not in body


def test_ipv4_mapped_loopback_client_of_a_dual_stack_listener_uses_the_control_api() -> None:
    assert is_loopback_host("::ffff:127.0.0.1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("::ffff:10.0.0.1")
    assert not is_loopback_host("0.0.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RemoteBindWarning)
        server = LocalOssServer(host="::", allow_remote=True).start()
    try:
        status, body = _control_get(server, {})  # connects to 127.0.0.1: seen as ::ffff:127.0.0.1
        assert status == 200, body
    finally:
        server.stop()
