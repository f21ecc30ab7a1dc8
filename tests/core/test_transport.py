"""
The transport over real HTTP against the local OSS server: bodies, retries, timeouts, unreachable
endpoints, clock skew, typed errors, and credentials kept out of logs and exceptions.
"""

from __future__ import annotations

import array
import logging
import os
import socket
import sys
import time
import traceback
from typing import Any

import pytest

from airflow_provider_oss.core import ClientConfig, Credentials, OssClient
from airflow_provider_oss.core import transport as transport_mod
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.errors import (
    OssAuthError,
    OssClientError,
    OssConnectionError,
    OssNotFoundError,
    OssServiceError,
)
from airflow_provider_oss.core.transport import RetryEvent, Transport, as_body
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"


_SEND_AUDIT: list[list[object]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "http.client.send" and _SEND_AUDIT:
        _SEND_AUDIT[-1].append(args[1])


sys.addaudithook(_audit)  # inert unless a test appends a list to _SEND_AUDIT


def make_client(
    server: LocalOssServer,
    credentials: Credentials | None = None,
    events: list[RetryEvent] | None = None,
    **overrides: Any,
) -> OssClient:
    settings: dict[str, Any] = {
        "region": server.region,
        "endpoint": server.endpoint,
        "backoff_base": 0.01,
        "backoff_max": 0.02,
    }
    settings.update(overrides)
    hook = events.append if events is not None else None
    return OssClient(credentials or server.credentials, ClientConfig(**settings), on_retry=hook)


def ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


def wait_for_ops(server: LocalOssServer, op: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The logged requests of ``op`` once there are ``count`` (a delayed request is logged when it wakes)."""
    deadline = time.monotonic() + timeout
    while True:
        found = ops(server, op)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def free_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- bodies ----------------------------------------------------------------------------------------


class TestBodies:
    def test_memoryview_slice_arrives_intact_with_content_length(self, oss_server: LocalOssServer) -> None:
        backing = bytearray(range(256)) * 1200  # 300 KiB
        view = memoryview(backing)[1000:250_000]
        with make_client(oss_server) as client:
            result = client.put_object(BUCKET, "mv/slice.bin", view)
        assert oss_server.object_bytes(BUCKET, "mv/slice.bin") == bytes(backing[1000:250_000])
        assert result.crc64 == crc64(bytes(backing[1000:250_000]))
        (put,) = ops(oss_server, "PutObject")
        # PutObject is refused without Content-Length (MissingContentLength): this one had it.
        assert put["status"] == 200
        assert put["bytes_received"] == 249_000

    def test_buffers_reach_socket_sendall_without_a_copy(self, oss_server: LocalOssServer) -> None:
        # http.client.HTTPConnection.send() audits the object it hands to socket.sendall().
        sent: list[object] = []
        _SEND_AUDIT.append(sent)
        try:
            backing = bytearray(os.urandom(200_000))
            view = memoryview(backing)[100:]
            with make_client(oss_server) as client:
                upload_id = client.initiate_multipart_upload(BUCKET, "zero-copy")
                client.upload_part(BUCKET, "zero-copy", upload_id, 1, view)
                client.upload_part(BUCKET, "zero-copy", upload_id, 2, backing)
        finally:
            _SEND_AUDIT.remove(sent)
        assert any(item is view for item in sent)
        assert any(item is backing for item in sent)
        (upload,) = oss_server.list_uploads(BUCKET)
        assert [p["crc64"] for p in upload["parts"]] == [crc64(view), crc64(backing)]

    def test_memoryview_of_wide_items_is_sent_as_bytes(self, oss_server: LocalOssServer) -> None:
        numbers = array.array("I", range(10_000))
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "mv/ints.bin", memoryview(numbers))
        assert oss_server.object_bytes(BUCKET, "mv/ints.bin") == numbers.tobytes()

    @pytest.mark.parametrize("empty", [b"", bytearray(), memoryview(b"")])
    def test_empty_bodies_make_empty_objects(self, oss_server: LocalOssServer, empty: Any) -> None:
        with make_client(oss_server) as client:
            result = client.put_object(BUCKET, "empty", empty)
        assert oss_server.object_bytes(BUCKET, "empty") == b""
        assert result.crc64 == 0

    def test_body_types_are_checked(self) -> None:
        with pytest.raises(OssClientError, match="bytes, bytearray or memoryview; got str"):
            as_body("text")  # type: ignore[arg-type]
        with pytest.raises(OssClientError, match="C-contiguous"):
            as_body(memoryview(b"abcdef")[::2])


# -- retries ---------------------------------------------------------------------------------------


class TestRetries:
    def test_503_twice_then_success(self, oss_server: LocalOssServer) -> None:
        events: list[RetryEvent] = []
        with make_client(oss_server, events=events) as client:
            upload_id = client.initiate_multipart_upload(BUCKET, "retry/obj")
            oss_server.add_fault("UploadPart", "status", status=503, times=2)
            part = client.upload_part(BUCKET, "retry/obj", upload_id, 1, b"x" * 1000)
            assert client.transport.retry_count == 2
        attempts = ops(oss_server, "UploadPart")
        assert [a["status"] for a in attempts] == [503, 503, 200]
        assert [a["error_code"] for a in attempts[:2]] == ["ServiceUnavailable", "ServiceUnavailable"]
        assert [(e.op, e.attempt, e.reason) for e in events] == [
            ("UploadPart", 1, "HTTP 503 ServiceUnavailable"),
            ("UploadPart", 2, "HTTP 503 ServiceUnavailable"),
        ]
        assert all(0 <= e.delay <= 0.02 for e in events)
        (uploaded,) = oss_server.list_uploads(BUCKET)[0]["parts"]
        assert uploaded["size"] == 1000
        assert part.etag

    @pytest.mark.parametrize(("status", "code"), [(429, "Throttling"), (500, "InternalError"), (502, None)])
    def test_other_retryable_statuses(
        self, oss_server: LocalOssServer, status: int, code: str | None
    ) -> None:
        oss_server.add_fault("PutObject", "status", status=status, code=code)
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "retry/k", b"data")
        assert [a["status"] for a in ops(oss_server, "PutObject")] == [status, 200]
        assert oss_server.object_bytes(BUCKET, "retry/k") == b"data"

    def test_slowdown_code_is_retried_even_on_a_4xx(self, oss_server: LocalOssServer) -> None:
        oss_server.add_fault("PutObject", "status", status=400, code="SlowDown")
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "retry/slow", b"data")
        assert [a["status"] for a in ops(oss_server, "PutObject")] == [400, 200]

    def test_plain_4xx_is_not_retried(self, oss_server: LocalOssServer) -> None:
        oss_server.add_fault("PutObject", "status", status=400)
        with make_client(oss_server) as client, pytest.raises(OssServiceError) as info:
            client.put_object(BUCKET, "retry/bad", b"data")
        assert (info.value.status, info.value.code) == (400, "InvalidArgument")
        assert len(ops(oss_server, "PutObject")) == 1

    def test_gives_up_after_max_retries(self, oss_server: LocalOssServer) -> None:
        oss_server.add_fault("PutObject", "status", status=503, times=10)
        with make_client(oss_server, max_retries=3) as client, pytest.raises(OssServiceError) as info:
            client.put_object(BUCKET, "retry/never", b"data")
        assert info.value.status == 503
        assert info.value.retryable
        assert len(ops(oss_server, "PutObject")) == 4

    def test_connection_reset_is_retried(self, oss_server: LocalOssServer) -> None:
        events: list[RetryEvent] = []
        payload = bytes(range(256)) * 400
        oss_server.add_fault("PutObject", "reset", after_bytes=1000)
        with make_client(oss_server, events=events) as client:
            client.put_object(BUCKET, "retry/reset", payload)
        attempts = ops(oss_server, "PutObject")
        assert [(a["status"], a["error_code"]) for a in attempts] == [(0, "ConnectionReset"), (200, None)]
        assert oss_server.object_bytes(BUCKET, "retry/reset") == payload
        assert len(events) == 1
        assert "Connection" in events[0].reason

    def test_read_timeout_is_retried(self, oss_server: LocalOssServer) -> None:
        events: list[RetryEvent] = []
        with make_client(oss_server, events=events, read_timeout=0.2) as client:
            client.put_object(BUCKET, "slow", b"payload")
            oss_server.add_fault("GetObject", "delay", delay=0.7)
            assert client.get_object(BUCKET, "slow") == b"payload"
        assert len(wait_for_ops(oss_server, "GetObject", 2)) == 2
        assert [e.reason.split(" ")[0] for e in events] == ["ReadTimeout"]

    def test_read_timeout_without_retries_names_the_setting(self, oss_server: LocalOssServer) -> None:
        oss_server.add_fault("HeadObject", "delay", delay=1.5)
        client = make_client(oss_server, read_timeout=0.2, max_retries=0)
        with client, pytest.raises(OssConnectionError, match="read_timeout") as info:
            client.head_object(BUCKET, "whatever")
        assert info.value.attempts == 1
        assert oss_server.endpoint in str(info.value)

    def test_unreachable_endpoint_raises_after_max_retries(self) -> None:
        port = free_closed_port()
        events: list[RetryEvent] = []
        config = ClientConfig(
            region="cn-hangzhou",
            endpoint=f"http://127.0.0.1:{port}",
            max_retries=2,
            backoff_base=0.01,
            backoff_max=0.01,
            connect_timeout=2,
        )
        client = OssClient(Credentials("ak", "secret-value"), config, on_retry=events.append)
        with client, pytest.raises(OssConnectionError) as info:
            client.put_object(BUCKET, "k", b"data")
        err = info.value
        assert err.attempts == 3
        assert (err.method, err.key) == ("PUT", "k")
        assert f"http://127.0.0.1:{port}" in str(err)
        assert "after 3 attempt(s)" in str(err)
        assert len(events) == 2
        assert all(e.delay <= 0.01 for e in events)  # bounded by backoff_max
        assert client.transport.request_count == 3


class TestBackoff:
    def test_full_jitter_under_an_exponential_ceiling(self) -> None:
        config = ClientConfig(region="cn-hangzhou", backoff_base=0.5, backoff_max=3.0)
        transport = Transport(config, Credentials("ak", "sk"))
        for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
            delays = [transport.backoff_delay(attempt) for _ in range(200)]
            assert all(0 <= d <= ceiling for d in delays)
            assert max(delays) > ceiling / 2  # jittered over the whole range, not fixed
        assert transport.backoff_delay(1, retry_after=2.0) == 2.0
        assert transport.backoff_delay(1, retry_after=60.0) == 3.0
        transport.close()


# -- clock skew ------------------------------------------------------------------------------------


class TestClockSkew:
    @pytest.mark.parametrize("offset", [1200, -1200])
    def test_skew_is_corrected_once_and_remembered(self, oss_server: LocalOssServer, offset: int) -> None:
        oss_server.set_clock_offset(offset)
        events: list[RetryEvent] = []
        with make_client(oss_server, events=events) as client:
            client.put_object(BUCKET, "skew/a", b"first")
            assert abs(client.transport.clock_offset - offset) < 5
            client.put_object(BUCKET, "skew/b", b"second")
        attempts = ops(oss_server, "PutObject")
        assert [(a["status"], a["error_code"]) for a in attempts] == [
            (403, "RequestTimeTooSkewed"),
            (200, None),
            (200, None),
        ]
        assert [e.reason for e in events] == ["RequestTimeTooSkewed"]
        assert oss_server.object_bytes(BUCKET, "skew/a") == b"first"

    def test_head_skew_is_recognised_from_the_x_oss_err_header(self, oss_server: LocalOssServer) -> None:
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "skew/head", b"x")
            oss_server.set_clock_offset(3600)
            info = client.head_object(BUCKET, "skew/head")
        assert info.size == 1
        assert [a["status"] for a in ops(oss_server, "HeadObject")] == [403, 200]

    def test_v1_skew_is_corrected_too(self, oss_server: LocalOssServer) -> None:
        oss_server.set_clock_offset(-2000)
        with make_client(oss_server, signature_version="v1") as client:
            client.put_object(BUCKET, "skew/v1", b"v1")
        assert [a["status"] for a in ops(oss_server, "PutObject")] == [403, 200]


# -- typed errors and secrets ----------------------------------------------------------------------


class TestErrors:
    def test_no_such_key_is_typed_with_code_and_request_id(self, oss_server: LocalOssServer) -> None:
        with make_client(oss_server) as client, pytest.raises(OssNotFoundError) as info:
            client.get_object(BUCKET, "missing/key")
        err = info.value
        (entry,) = ops(oss_server, "GetObject")
        assert (err.status, err.code, err.method, err.bucket, err.key) == (
            404,
            "NoSuchKey",
            "GET",
            BUCKET,
            "missing/key",
        )
        assert err.request_id == entry["request_id"]
        assert err.ec
        assert err.details.get("Key") == "missing/key"
        assert f"RequestId={entry['request_id']}" in str(err)

    def test_head_error_is_built_from_headers(self, oss_server: LocalOssServer) -> None:
        with make_client(oss_server) as client, pytest.raises(OssNotFoundError) as info:
            client.head_object(BUCKET, "missing")
        (entry,) = ops(oss_server, "HeadObject")
        assert info.value.status == 404
        assert info.value.request_id == entry["request_id"]
        assert info.value.ec  # from x-oss-ec

    def test_wrong_secret_is_an_auth_error_without_retries(self, oss_server: LocalOssServer) -> None:
        wrong = Credentials(oss_server.access_key_id, "not-the-secret-1234")
        with make_client(oss_server, credentials=wrong) as client, pytest.raises(OssAuthError) as info:
            client.put_object(BUCKET, "k", b"data")
        assert (info.value.status, info.value.code) == (403, "SignatureDoesNotMatch")
        assert len(oss_server.request_log()) == 1

    def test_unknown_access_key(self, oss_server: LocalOssServer) -> None:
        client = make_client(oss_server, credentials=Credentials("nobody", "x"))
        with client, pytest.raises(OssAuthError) as info:
            client.list_buckets()
        assert info.value.code == "InvalidAccessKeyId"
        assert len(oss_server.request_log()) == 1


class TestSecrets:
    SECRET = "Sup3r-Secret-Value-0123456789"
    TOKEN = "CAIS.sts-token/with+chars=="

    def test_secret_and_token_stay_out_of_logs_and_errors(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        with LocalOssServer(
            access_key_secret=self.SECRET, security_token=self.TOKEN, buckets=(BUCKET,)
        ) as server:
            with make_client(server) as client:
                client.put_object(BUCKET, "ok", b"fine")
                assert client.get_object(BUCKET, "ok") == b"fine"
                texts = [repr(client), repr(client.config)]
                with pytest.raises(OssNotFoundError) as missing:
                    client.get_object(BUCKET, "missing")
                texts += [
                    str(missing.value),
                    repr(missing.value),
                    "".join(traceback.format_exception(missing.value)),
                ]
            wrong = Credentials(server.access_key_id, self.SECRET + "x", self.TOKEN)
            with make_client(server, credentials=wrong) as client, pytest.raises(OssAuthError) as denied:
                client.put_object(BUCKET, "denied", b"no")
            texts += [
                str(denied.value),
                repr(denied.value),
                "".join(traceback.format_exception(denied.value)),
            ]
            texts += [str(v) for v in denied.value.details.values()]
            bad_token = Credentials(server.access_key_id, self.SECRET, "wrong-token-abc")
            with (
                make_client(server, credentials=bad_token) as client,
                pytest.raises(OssAuthError) as token_err,
            ):
                client.head_object(BUCKET, "ok")
            texts += [str(token_err.value)]
        port = free_closed_port()
        unreachable = make_client(server, endpoint=f"http://127.0.0.1:{port}", max_retries=1)
        with unreachable, pytest.raises(OssConnectionError) as conn:
            unreachable.put_object(BUCKET, "k", b"x")
        texts += [str(conn.value), "".join(traceback.format_exception(conn.value))]
        everything = caplog.text + "\n".join(texts)
        assert "oss://test-bucket/ok" in caplog.text  # the debug lines were captured
        for secret in (self.SECRET, self.TOKEN, "wrong-token-abc"):
            assert secret not in everything
        assert "Signature=" not in caplog.text
        assert "OSS4-HMAC-SHA256 Credential" not in everything

    def test_redact_removes_secrets_and_signatures(self) -> None:
        transport = Transport(ClientConfig(region="cn-hangzhou"), Credentials("ak", self.SECRET, self.TOKEN))
        text = (
            f"secret {self.SECRET} token {self.TOKEN} "
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aliyun_v4_request,Signature=abc123 "
            "url?x-oss-signature=deadbeef&Signature=MxJB%2F&security-token=tok1 "
            "Authorization: OSS ak:rx7r7kTNTdiUl53Zcu4iZzKt9q8="
        )
        redacted = transport.redact(text)
        for leaked in (self.SECRET, self.TOKEN, "abc123", "deadbeef", "MxJB", "tok1", "rx7r7k"):
            assert leaked not in redacted
        transport.close()


# -- pool and TLS settings -------------------------------------------------------------------------


class TestPool:
    def test_pool_size_is_the_adapter_pool_maxsize(self) -> None:
        transport = Transport(ClientConfig(region="cn-hangzhou", pool_size=32), Credentials("ak", "sk"))
        assert transport.pool_maxsize == 32
        transport.close()

    def test_insecure_warning_is_logged_once(self, caplog: pytest.LogCaptureFixture) -> None:
        transport_mod._insecure_warned.clear()
        caplog.set_level(logging.WARNING, logger="airflow_provider_oss.core.transport")
        for _ in range(3):
            Transport(ClientConfig(region="cn-hangzhou", verify=False), Credentials("ak", "sk")).close()
        warnings = [r for r in caplog.records if "verification is disabled" in r.getMessage()]
        assert len(warnings) == 1

    def test_https_resolve_uses_the_host_name_for_tls(self) -> None:
        import requests

        config = ClientConfig(
            region="cn-hangzhou",
            endpoint="https://oss-local.test:8443",
            resolve={"*.oss-local.test": "127.0.0.1"},
        )
        transport = Transport(config, Credentials("ak", "sk"))
        target = config.build_target("bkt", "k", ())
        prepared = requests.Request("GET", target.url, headers={"Host": target.host_header or ""}).prepare()
        adapter = transport._http.adapter
        host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(prepared, True)
        assert host_params["host"] == "127.0.0.1"
        assert pool_kwargs["server_hostname"] == "bkt.oss-local.test"
        assert pool_kwargs["assert_hostname"] == "bkt.oss-local.test"
        transport.close()
