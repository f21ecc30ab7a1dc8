"""A loopback upload-callback server for the tests: records every POST, answers what the test says."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class CallbackServer:
    """
    What the callback server received and what it answers.

    :param status: the HTTP status it answers.
    :param answer: the body it answers.
    """

    port: int = 0
    status: int = 200
    answer: bytes = b'{"Status":"OK"}'
    posts: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The URL to give as callbackUrl (with a query string carrying a would-be token)."""
        return f"http://127.0.0.1:{self.port}/notify?token=cb-secret-token"

    @property
    def count(self) -> int:
        """How many POSTs arrived."""
        with self.lock:
            return len(self.posts)


@contextmanager
def callback_server(status: int = 200, answer: bytes = b'{"Status":"OK"}') -> Iterator[CallbackServer]:
    """Start a callback server on 127.0.0.1 (a free port); stopped on exit."""
    state = CallbackServer(status=status, answer=answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.posts.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.answer)))
            self.end_headers()
            self.wfile.write(state.answer)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
