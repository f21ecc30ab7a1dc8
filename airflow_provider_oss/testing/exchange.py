"""
:class:`Exchange`: one OSS request of the local server and its response, what the operations in
:mod:`~airflow_provider_oss.testing.ops` read and answer through. It knows the HTTP handler only as
a :class:`~http.server.BaseHTTPRequestHandler` and imports nothing from the HTTP layer
(:mod:`~airflow_provider_oss.testing.httpd`) or the operations, so that they may both import it.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.auth import AuthResult
from airflow_provider_oss.testing.body import BodyReader, ClientGoneError
from airflow_provider_oss.testing.faults import FaultRule
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.routing import Target, parse_query, split_host
from airflow_provider_oss.testing.state import ServerState
from airflow_provider_oss.testing.xmlresp import document, error_document

if TYPE_CHECKING:
    from airflow_provider_oss.testing.objectdata import ObjectReader


#: The page of the ``portal`` fault.
PORTAL_PAGE = b"<html><body><h1>Welcome to Airport WiFi</h1><p>Please log in to continue.</p></body></html>"


def new_request_id() -> str:
    """A 24-hex-digit request id, like OSS's."""
    return secrets.token_hex(12).upper()


class Exchange:
    """
    One OSS request and its response: what the operations in :mod:`ops` read and answer through.

    :param handler: the HTTP handler of the connection.
    :param state: the server state.
    :param raw_path: the request target's path, still percent-encoded.
    :param raw_query: the request target's query string.
    :param headers: the request headers, names in lower case.
    """

    def __init__(
        self,
        handler: BaseHTTPRequestHandler,
        state: ServerState,
        raw_path: str,
        raw_query: str,
        headers: dict[str, str],
    ) -> None:
        self.handler = handler
        self.state = state
        self.store = state.store
        self.method = handler.command
        self.raw_path = raw_path
        self.query = parse_query(raw_query)
        self.params: dict[str, str] = {}
        for name, value in self.query:
            self.params.setdefault(name, value)
        self.headers = headers
        self.host = self.headers.get("host", "")
        self.request_id = new_request_id()
        self.target = Target(None, None)
        self.op = "Unsupported"
        self.auth = AuthResult("anonymous")
        self.fault: FaultRule | None = None
        self.body = BodyReader(handler.rfile, 0, False)
        self.responded = False
        self.status = 0
        self.error_code: str | None = None
        self.reset_after_bytes: int | None = None
        self.started = time.time()
        self._started_monotonic = time.monotonic()
        self._logged: dict[str, Any] | None = None

    # -- request facts ---------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        """The bucket (operations that need one are only routed when there is one)."""
        return self.target.bucket or ""

    @property
    def key(self) -> str:
        """The object key (operations that need one are only routed when there is one)."""
        return self.target.key or ""

    def part_number(self) -> int | None:
        """The ``partNumber`` query parameter as a number, when it is one."""
        value = self.params.get("partNumber", "")
        return int(value) if is_decimal(value) else None

    def host_id(self) -> str:
        """The ``HostId`` of error bodies."""
        domain = self.state.config.virtual_host_domain
        if self.target.bucket and not self.target.virtual_hosted:
            return f"{self.target.bucket}.{domain}"
        return split_host(self.host) or domain

    # -- responses -------------------------------------------------------------------------------

    def start_response(self, status: int, headers: dict[str, str], length: int | None) -> None:
        """
        Send the status line and headers (the request is logged first); the body is the caller's,
        chunked when ``length`` is None.
        """
        if self.fault is not None and self.fault.action == "drop_answer":
            self.status = status
            self.reset()  # processed, but the answer never leaves
            raise ClientGoneError("the answer was dropped by a drop_answer fault")
        handler = self.handler
        handler.send_response(status)
        handler.send_header("x-oss-request-id", self.request_id)
        if self.fault is not None and self.fault.action == "bad_crc" and "x-oss-hash-crc64ecma" in headers:
            good = int(headers["x-oss-hash-crc64ecma"])
            headers["x-oss-hash-crc64ecma"] = str(good ^ 0x5A5A5A5A5A5A5A5A)
        for name, value in headers.items():
            handler.send_header(name, value.encode("utf-8").decode("latin-1"))  # UTF-8 bytes on the wire
        if length is None:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(length))
        if handler.close_connection:
            handler.send_header("Connection", "close")
        self.responded = True
        self.status = status
        self.record()  # before the answer leaves: a client that got it finds it in the log
        handler.end_headers()

    def respond(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        """Answer with a small body (not sent for HEAD, whose ``Content-Length`` is then 0)."""
        self.body.drain()
        head = self.method == "HEAD"
        self.start_response(status, dict(headers or {}), 0 if head else len(body))
        if body and not head:
            self.handler.wfile.write(body)

    def respond_xml(self, root: str, children: list[str], headers: dict[str, str] | None = None) -> None:
        """Answer 200 with an XML document."""
        all_headers = {"Content-Type": "application/xml"}
        all_headers.update(headers or {})
        self.respond(200, all_headers, document(root, children))

    def respond_object(
        self, status: int, headers: dict[str, str], reader: ObjectReader, offset: int, length: int
    ) -> None:
        """Answer with ``length`` bytes of a stored object from ``offset``; headers only for HEAD."""
        self.body.drain()
        self.start_response(status, dict(headers), length)
        if self.method == "HEAD":
            return
        to_send = length
        if self.reset_after_bytes is not None:
            to_send = min(length, self.reset_after_bytes)
        if to_send and self.fault is not None and self.fault.action == "corrupt":
            data = bytearray(reader.read_range(offset, to_send))
            data[len(data) // 2] ^= 0xFF
            self.handler.wfile.write(data)
        elif to_send:
            reader.send(self.handler.connection, offset, to_send)
        if to_send < length:
            self.reset()

    def respond_error(self, err: OssApiError) -> None:
        """
        Answer with an OSS error document; a body whose framing turns out to be malformed while the
        rest of it is drained is answered with that error instead.
        """
        if not err.close:
            try:
                self.body.drain()
            except OssApiError as framing:
                err = framing
        self.error_code = err.code
        if err.close:
            self.handler.close_connection = True
        body = error_document(err, self.request_id, self.host_id())
        headers = {"Content-Type": "application/xml", "x-oss-ec": err.ec, **err.headers}
        head = self.method == "HEAD"
        if head:  # like OSS: a HEAD answer has no body, so the error document rides in x-oss-err
            headers["x-oss-err"] = base64.b64encode(body).decode("ascii")
        self.start_response(err.status, headers, 0 if head else len(body))
        if not head:
            self.handler.wfile.write(body)

    def respond_portal(self) -> None:
        """Answer as a captive portal does: ``200 text/html``, a login page, nothing of OSS's."""
        self.body.drain()
        page = PORTAL_PAGE if self.method != "HEAD" else b""
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(PORTAL_PAGE)))
        self.responded = True
        self.status = 200
        self.record()
        handler.end_headers()
        handler.wfile.write(page)

    def reset(self) -> None:
        """Drop the connection with a TCP reset, without (the rest of) an answer."""
        self.responded = True
        self.status = 0
        self.error_code = "ConnectionReset"
        if self._logged is not None:  # a download reset part-way: it was logged when it started
            self._logged.update(status=0, error_code=self.error_code)
        self.record()
        handler = self.handler
        handler.close_connection = True
        conn = handler.connection
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            handler.rfile.close()
        with contextlib.suppress(OSError):
            conn.close()

    def record(self) -> None:
        """Write this request to the request log (once)."""
        if self._logged is None:
            self._logged = self.log_entry()
            self.state.record(self._logged)

    def log_entry(self) -> dict[str, Any]:
        """The request-log entry of this request (never any secret)."""
        return {
            "time": self.started,
            "op": self.op,
            "method": self.method,
            "bucket": self.target.bucket,
            "key": self.target.key,
            "upload_id": self.params.get("uploadId"),
            "part_number": self.part_number(),
            "bytes_received": self.body.bytes_read,
            "status": self.status,
            "error_code": self.error_code,
            "fault": self.fault.action if self.fault is not None else None,
            "fault_id": self.fault.id if self.fault is not None else None,
            "request_id": self.request_id,
            "auth": self.auth.scheme,
            "access_key_id": self.auth.access_key_id,
            "range": self.headers.get("range") or self.headers.get("x-oss-copy-source-range"),
            "client_port": self.handler.client_address[1],
            "duration": round(time.monotonic() - self._started_monotonic, 6),
        }
