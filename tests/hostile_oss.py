"""
A hostile loopback "OSS": an HTTP server on 127.0.0.1 that answers the way a captive portal, a
proxy, a wrong endpoint or a broken server would. Each test scripts its answers; the server counts
the bytes it managed to send, so a test can prove that the client stopped reading.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials


@dataclass
class Answer:
    """
    One scripted answer.

    :param status: the HTTP status.
    :param headers: response headers (``Content-Length`` is added from ``body`` unless given).
    :param body: the body.
    :param endless: after the headers, send ``b"x"`` in 64 KiB chunks until the client hangs up.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    endless: bool = False


#: Chooses the answer to a request from its method and path (with query).
Script = Callable[[str, str], Answer]

CHUNK = 64 * 1024


class HostileOss:
    """Serve scripted answers on a free 127.0.0.1 port (a context manager)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[tuple[str, str]] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with outer._lock:
                    outer.requests.append((self.command, self.path))
                answer = outer.script(self.command, self.path)
                self.send_response_only(answer.status)
                for name, value in _wire_headers(answer, self.date_time_string()).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if answer.endless:
                        chunk = b"x" * CHUNK
                        while True:
                            self.wfile.write(chunk)
                            with outer._lock:
                                outer.bytes_sent += len(chunk)
                    elif self.command != "HEAD":
                        self.wfile.write(answer.body)
                except (TimeoutError, BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def client(self, *, token: str | None = None, **overrides: object) -> OssClient:
        """A client of this server: path-style, short timeouts, no retries unless overridden."""
        settings: dict[str, object] = {
            "region": "cn-hangzhou",
            "endpoint": self.endpoint,
            "addressing_style": "path",
            "max_retries": 0,
            "read_timeout": 5.0,
        }
        settings.update(overrides)
        credentials = Credentials("LTAI5tHostileTest", "hostile-secret-value", token)
        return OssClient(credentials, ClientConfig(**settings))  # type: ignore[arg-type]

    def __enter__(self) -> HostileOss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _wire_headers(answer: Answer, now: str) -> dict[str, str]:
    """The answer's headers plus ``Content-Length`` and one ``Date`` (the script's, if it gives one)."""
    headers = dict(answer.headers)
    if not any(name.lower() == "date" for name in headers):
        headers["Date"] = now
    headers.setdefault("Content-Length", str(1 << 50 if answer.endless else len(answer.body)))
    return headers


def serve(script: Script) -> Iterator[HostileOss]:
    """Run a :class:`HostileOss` for the duration of a fixture."""
    with HostileOss(script) as server:
        yield server
