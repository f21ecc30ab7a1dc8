"""
The upload callback cannot be turned against the server's host: it goes only where the operator
allows (never to the server itself or to any local server's control API), one 5-second deadline
bounds it, its 203 messages tell nothing about which ports are open, and parameters that cannot be
sent are refused before anything is stored.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from airflow_provider_oss.core.xmlutil import parse_error
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.callback_targets import allowed_addresses
from airflow_provider_oss.testing.cli import build_parser, callback_hosts
from airflow_provider_oss.testing.rawclient import RawClient
from tests.callback_support import callback_server

B = "test-bucket"
CANNOT_CONNECT = "Error status : -1.OSS can not connect to your callbackUrl, please check it."


def _callback_headers(url: str, body: str = "object=${object}", **extra: str) -> dict[str, str]:
    spec = {"callbackUrl": url, "callbackBody": body, **extra}
    return {"x-oss-callback": base64.b64encode(json.dumps(spec).encode()).decode()}


def _put(server: LocalOssServer, key: str, headers: dict[str, str]) -> tuple[int, str, str]:
    """PUT ``key`` with ``headers``: the status, the error code and message (empty on success)."""
    with RawClient(server) as client:
        answer = client.request("PUT", B, key, headers=headers, data=b"payload")
    if answer.status_code == 200:
        return 200, "", ""
    error = parse_error(answer.content)
    return answer.status_code, error.get("Code", ""), error.get("Message", "")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_callback_to_the_servers_own_control_api_is_never_sent(oss_server: LocalOssServer) -> None:
    url = f"http://127.0.0.1:{oss_server.port}/_local/buckets"
    body = '{"name": "made-by-callback", "public_read": true}'
    status, code, message = _put(
        oss_server, "k", _callback_headers(url, body, callbackBodyType="application/json")
    )
    assert (status, code, message) == (203, "CallbackFailed", CANNOT_CONNECT)
    assert "made-by-callback" not in oss_server.info()["buckets"]
    assert oss_server.object_bytes(B, "k") == b"payload"  # the upload itself is stored, as OSS


def test_a_callback_to_another_local_servers_control_api_is_refused_there(oss_server: LocalOssServer) -> None:
    with LocalOssServer(buckets=()) as other:
        url = f"http://localhost:{other.port}/_local/buckets"
        body = '{"name": "made-by-callback", "public_read": true}'
        status, code, _ = _put(
            oss_server,
            "k",
            _callback_headers(url, body, callbackBodyType="application/json", callbackHost="127.0.0.1"),
        )
        assert (status, code) == (203, "CallbackFailed")
        assert other.info()["buckets"] == []


def test_a_target_the_operator_did_not_allow_is_answered_like_a_closed_port() -> None:
    with callback_server() as allowed, callback_server() as forbidden:
        with LocalOssServer(callback_hosts=(f"127.0.0.1:{allowed.port}",)) as server:
            assert _put(server, "ok", _callback_headers(allowed.url)) == (200, "", "")
            refused = _put(server, "no", _callback_headers(forbidden.url))
            closed = _put(server, "closed", _callback_headers(f"http://127.0.0.1:{_closed_port()}/"))
        assert allowed.count == 1 and forbidden.count == 0
    assert refused == closed == (203, "CallbackFailed", CANNOT_CONNECT)


def test_no_callback_goes_anywhere_with_an_empty_allow_list() -> None:
    with callback_server() as receiver, LocalOssServer(callback_hosts=()) as server:
        assert _put(server, "k", _callback_headers(receiver.url)) == (203, "CallbackFailed", CANNOT_CONNECT)
        assert receiver.count == 0


@contextmanager
def _trickling_receiver(seconds_per_byte: float, size: int) -> Iterator[int]:
    """A callback receiver that answers 200 with ``size`` body bytes, one every ``seconds_per_byte``."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            for _ in range(size):
                if stop.wait(seconds_per_byte):
                    return
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        thread.join(10)


def test_one_deadline_bounds_a_receiver_that_trickles_its_answer(oss_server: LocalOssServer) -> None:
    with _trickling_receiver(seconds_per_byte=1.0, size=40) as port:  # 40 s of answer, each read < 5 s
        started = time.monotonic()
        status, code, message = _put(oss_server, "k", _callback_headers(f"http://127.0.0.1:{port}/"))
        elapsed = time.monotonic() - started
    assert (status, code, message) == (203, "CallbackFailed", "Cost too long time.")
    assert elapsed < 20, f"the callback held the upload {elapsed:.1f} s"  # the trickle lasts 40 s


@pytest.mark.parametrize(
    "extra",
    [
        {"callbackHost": "app.example\r\nX-Injected: 1"},
        {"callbackHost": "app example"},
        {"callbackHost": "caf\u00e9.example"},
        {"callbackHost": 7},
    ],
)
def test_a_callback_host_that_cannot_be_sent_is_refused_before_storing(
    oss_server: LocalOssServer, extra: dict[str, object]
) -> None:
    with callback_server() as receiver:
        headers = _callback_headers(receiver.url, **extra)  # type: ignore[arg-type]
        status, code, _ = _put(oss_server, "k", headers)
        assert (status, code) == (400, "InvalidArgument")
        assert receiver.count == 0
    with RawClient(oss_server) as client:
        assert client.request("HEAD", B, "k").status_code == 404


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1/a\r\nX-Injected: 1", "http://127.0.0.1:1/a b", "http://127.0.0.1:1/caf\u00e9"],
)
def test_a_callback_url_that_cannot_be_sent_is_refused_before_storing(
    oss_server: LocalOssServer, url: str
) -> None:
    status, code, _ = _put(oss_server, "k", _callback_headers(url))
    assert (status, code) == (400, "InvalidArgument")
    with RawClient(oss_server) as client:
        assert client.request("HEAD", B, "k").status_code == 404


def test_callback_hosts_are_checked_when_the_server_is_made() -> None:
    with pytest.raises(ValueError, match="callback host 'app:http'"):
        LocalOssServer(callback_hosts=("app:http",))
    with pytest.raises(TypeError, match="not a single string"):
        LocalOssServer(callback_hosts="127.0.0.1")


def test_cli_callback_host_option() -> None:
    parse = build_parser().parse_args
    assert callback_hosts(parse([]).callback_host) == ("127.0.0.0/8", "::1", "localhost")
    given = parse(["--callback-host", "10.0.0.0/8,app.internal:8443", "--callback-host", "[::1]:9000"])
    assert callback_hosts(given.callback_host) == ("10.0.0.0/8", "app.internal:8443", "[::1]:9000")
    assert callback_hosts(parse(["--callback-host", "none"]).callback_host) == ()


def test_the_readme_callback_hosts_snippet_runs() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- callback-hosts-snippet:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102  # the project's own documentation


def test_a_callback_by_name_tries_each_address_the_name_resolves_to(oss_server: LocalOssServer) -> None:
    with callback_server() as receiver:  # listens on 127.0.0.1 only; localhost may resolve to ::1 first
        url = f"http://localhost:{receiver.port}/notify"
        assert _put(oss_server, "k", _callback_headers(url)) == (200, "", "")
        assert receiver.count == 1


@pytest.mark.parametrize(
    ("entries", "name", "port", "allowed"),
    [
        (("127.0.0.0/8",), "127.0.0.9", 8080, True),
        (("127.0.0.1:8080",), "127.0.0.1", 8081, False),
        (("[::1]:8080",), "::1", 8080, True),
        (("app.internal",), "10.0.0.1", 80, False),
        (("*",), "127.0.0.1", 9, True),
        (("*",), "127.0.0.1", 9000, False),  # the server's own port on loopback
        (("*",), "::ffff:127.0.0.1", 9000, False),
        (("10.0.0.0/8",), "127.0.0.1", 80, False),
    ],
)
def test_the_allow_list_admits_what_it_names_and_never_the_server(
    entries: tuple[str, ...], name: str, port: int, allowed: bool
) -> None:
    assert bool(allowed_addresses(name, port, entries, ("127.0.0.1", 9000))) is allowed
