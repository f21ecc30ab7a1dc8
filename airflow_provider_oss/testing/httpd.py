"""
The HTTP layer of the local server: a threading HTTP/1.1 server with keep-alive, and the request
handler that routes, injects faults, authenticates, runs the operation and logs the request.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_oss.testing import control, ops
from airflow_provider_oss.testing.apierror import OssApiError, no_such_upload
from airflow_provider_oss.testing.auth import AuthResult
from airflow_provider_oss.testing.body import BodyReader, ClientGoneError
from airflow_provider_oss.testing.faults import FaultRule
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.routing import (
    AUTH_PARAMS,
    Target,
    parse_query,
    resolve_op,
    resolve_target,
    split_host,
)
from airflow_provider_oss.testing.state import ServerState
from airflow_provider_oss.testing.xmlresp import document, error_document, http_time

if TYPE_CHECKING:
    from airflow_provider_oss.testing.objectdata import ObjectReader

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_local/"
#: Seconds a connection may stay silent (TLS handshake, between requests, inside one) before it is closed.
DEFAULT_IDLE_TIMEOUT = 120.0


class OssHTTPServer(ThreadingHTTPServer):
    """
    A threading HTTP server that knows its :class:`ServerState` and its open connections, so that
    stopping it also closes idle keep-alive connections.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        state: ServerState,
        *,
        tls_context: ssl.SSLContext | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.tls_context = tls_context
        self.idle_timeout = idle_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, OssRequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """
        Serve one connection (in its own thread). With TLS, the handshake happens here, per
        connection and bounded by the idle timeout, never in the accept loop: a client that
        connects and says nothing holds up only itself.
        """
        request.settimeout(self.idle_timeout)
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            conn = self.tls_context.wrap_socket(request, server_side=True)
        except OSError as err:  # ssl.SSLError and TimeoutError are OSErrors
            log.debug("TLS handshake with %s failed: %s", client_address, err)
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def track(self, conn: socket.socket) -> None:
        """Remember an open connection."""
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        """Forget a closed connection."""
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self, wait: float = 2.0) -> None:
        """Shut down every open connection and wait up to ``wait`` seconds for their handlers to end."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._connections_lock:
                if not self._connections:
                    return
            time.sleep(0.01)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that broke between requests is normal; anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("Connection from %s ended: %s", client_address, error)
            return
        log.exception("The local OSS server failed on a connection from %s", client_address)


MIN_TRAFFIC_LIMIT = 819_200
MAX_TRAFFIC_LIMIT = 838_860_800


def traffic_limit(value: str) -> int:
    """
    The ``x-oss-traffic-limit`` of a request in bit/s.

    :raises OssApiError: ``InvalidArgument`` outside 819200..838860800 (100 KB/s to 100 MB/s).
    """
    text = value.strip()
    if not is_decimal(text) or not MIN_TRAFFIC_LIMIT <= int(text) <= MAX_TRAFFIC_LIMIT:
        raise OssApiError(
            400,
            "InvalidArgument",
            f"x-oss-traffic-limit must be {MIN_TRAFFIC_LIMIT} to {MAX_TRAFFIC_LIMIT} bit/s.",
            ArgumentName="x-oss-traffic-limit",
            ArgumentValue=text[:40],
        )
    return int(text)


def utf8_header(value: str) -> str:
    """
    A header value as the client wrote it: http.server decodes header bytes as latin-1, so raw UTF-8
    (``x-oss-meta-*: café``) is re-decoded as UTF-8 when it is valid UTF-8.
    """
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def new_request_id() -> str:
    """A 24-hex-digit request id, like OSS's."""
    return secrets.token_hex(12).upper()


class Exchange:
    """
    One OSS request and its response: what the operations in :mod:`ops` read and answer through.

    :param handler: the HTTP handler of the connection.
    :param state: the server state.
    """

    def __init__(self, handler: OssRequestHandler, state: ServerState, raw_path: str, raw_query: str) -> None:
        self.handler = handler
        self.state = state
        self.store = state.store
        self.method = handler.command
        self.raw_path = raw_path
        self.query = parse_query(raw_query)
        self.params: dict[str, str] = {}
        for name, value in self.query:
            self.params.setdefault(name, value)
        self.headers = handler.lower_headers
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
        """Answer with an OSS error document."""
        self.error_code = err.code
        if err.close:
            self.handler.close_connection = True
        else:
            self.body.drain()
        body = error_document(err, self.request_id, self.host_id())
        headers = {"Content-Type": "application/xml", "x-oss-ec": err.ec, **err.headers}
        head = self.method == "HEAD"
        if head:  # like OSS: a HEAD answer has no body, so the error document rides in x-oss-err
            headers["x-oss-err"] = base64.b64encode(body).decode("ascii")
        self.start_response(err.status, headers, 0 if head else len(body))
        if not head:
            self.handler.wfile.write(body)

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

    # -- processing ------------------------------------------------------------------------------

    def run(self) -> None:  # noqa: C901, PLR0912  # the request's life in order: route, faults, auth, operate, answer
        """Process the request: route, inject faults, authenticate, operate, answer."""
        try:
            self.body = BodyReader.from_headers(self.handler.rfile, self.headers)
            if self.method in ("GET", "HEAD") and not self.body.finished:
                # Some clients declare a Content-Length on a GET and send nothing: answer without
                # waiting for it, and close (any body bytes that do come cannot be read as a request).
                self.body = BodyReader(self.handler.rfile, 0, False)
                self.handler.close_connection = True
            config = self.state.config
            self.target = resolve_target(
                self.host,
                self.raw_path,
                config.virtual_host_domain,
                config.default_bucket,
                self.store.bucket_exists,
            )
            self.op = resolve_op(self.method, self.target, self.query, self.headers)
            self.fault = self.state.faults.match(self.op, self.part_number(), self.target.key)
            if self.fault is not None and self._inject_before(self.fault):
                return
            missing = bool(self.target.bucket) and not self.store.bucket_exists(self.bucket)
            # PutBucket and PutBucketAcl judge the key first (OSS creates a bucket on either).
            bucket_put = (
                self.method == "PUT" and self.target.key is None and set(self.params) - AUTH_PARAMS <= {"acl"}
            )
            if missing and not bucket_put:
                self.store.bucket(self.bucket)  # NoSuchBucket before the signature, as OSS
            if self.op == "Unsupported" and not missing:
                ops.unsupported(self)
            if "x-oss-traffic-limit" in self.headers:
                self.body.limit_rate(traffic_limit(self.headers["x-oss-traffic-limit"]))
            self.auth = self.state.auth.authenticate(
                self.method, self.target.bucket, self.target.key, self.query, self.headers
            )
            ops.authorize(self)
            if self.op == "Unsupported":  # a bucket-level PUT on a missing bucket: after the signature
                ops.unsupported(self)
            ops.run(self)
        except OssApiError as err:
            if not self.responded:
                self.respond_error(err)
        except ClientGoneError:
            self.handler.close_connection = True
            self.error_code = "ClientDisconnected"
        except (ConnectionError, BrokenPipeError, TimeoutError):
            self.handler.close_connection = True
            if self.error_code is None:
                self.error_code = "ClientDisconnected"
        except Exception:
            log.exception("The local OSS server failed on %s %s", self.method, self.raw_path)
            self.handler.close_connection = True
            if not self.responded:
                with contextlib.suppress(Exception):
                    self.respond_error(
                        OssApiError(500, "InternalError", "The local server failed.", close=True)
                    )

    def _inject_before(self, fault: FaultRule) -> bool:
        """Apply a fault before authentication; True when the request is finished."""
        if fault.action == "delay":
            self.state.stopping.wait(fault.delay)  # cut short when the server stops
            return False
        if fault.action == "status":
            self.respond_error(
                OssApiError(fault.status, fault.error_code(), f"Injected fault #{fault.id}: {fault.status}.")
            )
            return True
        if fault.action == "reset":
            if fault.after_bytes is not None and self.op == "GetObject":
                self.reset_after_bytes = fault.after_bytes
                return False
            if fault.after_bytes:
                self.body.read_up_to(fault.after_bytes)
            self.reset()
            return True
        if fault.action == "expire_upload":
            upload_id = self.params.get("uploadId", "")
            if self.target.bucket and upload_id:
                with contextlib.suppress(OssApiError):
                    self.store.abort_upload(self.target.bucket, upload_id)
            self.respond_error(no_such_upload(upload_id))
            return True
        return False  # bad_crc, corrupt and drop_answer act on the response

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


class OssRequestHandler(BaseHTTPRequestHandler):
    """Serves OSS requests and the control API on one keep-alive connection."""

    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"
    sys_version = ""
    disable_nagle_algorithm = True
    server: OssHTTPServer
    lower_headers: dict[str, str]

    def setup(self) -> None:
        """Track the connection so that stopping the server closes it (its idle timeout is already set)."""
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        """Untrack the connection."""
        try:
            with contextlib.suppress(OSError, ValueError):
                super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the request log, not to stderr."""

    def version_string(self) -> str:
        """The ``Server`` header."""
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header, from the server clock (which tests may set ahead)."""
        return http_time(self.server.state.now() if timestamp is None else timestamp)

    def _handle(self) -> None:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), utf8_header(value))
        self.lower_headers = headers
        target = self.path
        if not target.startswith("/"):
            parts = urlsplit(target)  # absolute-form request target
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        raw_path, _, raw_query = target.partition("?")
        state = self.server.state
        host = split_host(headers.get("host", ""))
        domain = state.config.virtual_host_domain.lower()
        if raw_path.startswith(CONTROL_PREFIX) and not (domain and host.endswith("." + domain)):
            control.handle(self, state, raw_path, raw_query)
            return
        exchange = Exchange(self, state, raw_path, raw_query)
        try:
            exchange.run()
        finally:
            exchange.record()

    do_GET = _handle  # noqa: N815  # the names BaseHTTPRequestHandler dispatches to
    do_PUT = _handle  # noqa: N815
    do_POST = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815
    do_HEAD = _handle  # noqa: N815
