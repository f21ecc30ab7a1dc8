"""
The environment's proxy settings (HTTP_PROXY, NO_PROXY) are honoured, read once per client and host
rather than on every request: a forward proxy on 127.0.0.1 sees the requests it should, and only those.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from airflow_provider_oss.testing import LocalOssServer
from tests.upload_support import make_client

BUCKET = "test-bucket"
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
)


@contextmanager
def forward_proxy() -> Iterator[tuple[str, list[str]]]:
    """A forward HTTP proxy on a free 127.0.0.1 port; yields its URL and the request lines it served."""
    seen: list[str] = []
    upstream = requests.Session()
    upstream.trust_env = False

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            seen.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("connection", "proxy-connection")
            }
            answer = upstream.request(
                self.command, self.path, headers=headers, data=body, allow_redirects=False
            )
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in (
                    "connection",
                    "transfer-encoding",
                    "content-length",
                    "content-encoding",
                ):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.content)

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward  # noqa: N815  # http.server's names

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_request_goes_through_the_environments_proxy(
    oss_server: LocalOssServer, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    with forward_proxy() as (proxy, seen):
        clean_proxy_env.setenv("HTTP_PROXY", proxy)
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "via/proxy.txt", b"through the proxy")
            assert client.get_object(BUCKET, "via/proxy.txt") == b"through the proxy"
            client.head_object(BUCKET, "via/proxy.txt")
    base = f"{oss_server.endpoint}/{BUCKET}/via/proxy.txt"
    assert [line.split("?")[0] for line in seen] == [f"PUT {base}", f"GET {base}", f"HEAD {base}"]
    assert oss_server.object_bytes(BUCKET, "via/proxy.txt") == b"through the proxy"


def test_no_proxy_sends_the_endpoints_requests_direct(
    oss_server: LocalOssServer, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    with forward_proxy() as (proxy, seen):
        clean_proxy_env.setenv("HTTP_PROXY", proxy)
        clean_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        with make_client(oss_server) as client:
            client.put_object(BUCKET, "direct.txt", b"no proxy")
            client.head_object(BUCKET, "direct.txt")
    assert seen == []
    assert oss_server.object_bytes(BUCKET, "direct.txt") == b"no proxy"
