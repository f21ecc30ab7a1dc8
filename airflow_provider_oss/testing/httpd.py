"""
The HTTP layer of the local server: a threading HTTP/1.1 server with keep-alive, and the request
handler that routes, injects faults, authenticates, runs the operation and logs the request.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_oss.core import signing
from airflow_provider_oss.testing import control, ops
from airflow_provider_oss.testing.apierror import OssApiError, no_such_upload
from airflow_provider_oss.testing.body import BodyReader, ClientGoneError
from airflow_provider_oss.testing.exchange import Exchange
from airflow_provider_oss.testing.faults import FaultRule
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.routing import (
    AUTH_PARAMS,
    resolve_op,
    resolve_target,
    split_host,
)
from airflow_provider_oss.testing.state import ServerState
from airflow_provider_oss.testing.xmlresp import http_time

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


def process(ex: Exchange) -> None:  # noqa: C901, PLR0912  # the request's life in order: route, faults, auth, operate, answer
    """Process one OSS request: route, inject faults, authenticate, operate, answer."""
    try:
        ex.body = BodyReader.from_headers(ex.handler.rfile, ex.handler.headers)
        if ex.method in ("GET", "HEAD") and not ex.body.finished:
            # Some clients declare a Content-Length on a GET and send nothing: answer without
            # waiting for it, and close (any body bytes that do come cannot be read as a request).
            ex.body = BodyReader(ex.handler.rfile, 0, False)
            ex.handler.close_connection = True
        config = ex.state.config
        ex.target = resolve_target(
            ex.host,
            ex.raw_path,
            config.virtual_host_domain,
            config.default_bucket,
            ex.store.bucket_exists,
        )
        ex.op = resolve_op(ex.method, ex.target, ex.query, ex.headers)
        ex.fault = ex.state.faults.match(ex.op, ex.part_number(), ex.target.key)
        if ex.fault is not None and _inject_before(ex, ex.fault):
            return
        missing = bool(ex.target.bucket) and not ex.store.bucket_exists(ex.bucket)
        # PutBucket and PutBucketAcl judge the key first (OSS creates a bucket on either).
        bucket_put = ex.method == "PUT" and ex.target.key is None and set(ex.params) - AUTH_PARAMS <= {"acl"}
        if missing and not bucket_put:
            ex.store.bucket(ex.bucket)  # NoSuchBucket before the signature, as OSS
        if ex.op == "Unsupported" and not missing:
            ops.unsupported(ex)
        if "x-oss-traffic-limit" in ex.headers:
            ex.body.limit_rate(traffic_limit(ex.headers["x-oss-traffic-limit"]))
        ex.auth = ex.state.auth.authenticate(
            signing.SigningRequest(ex.method, ex.target.bucket, ex.target.key, ex.query, ex.headers)
        )
        ops.authorize(ex)
        if ex.op == "Unsupported":  # a bucket-level PUT on a missing bucket: after the signature
            ops.unsupported(ex)
        ops.run(ex)
    except OssApiError as err:
        if not ex.responded:
            ex.respond_error(err)
    except ClientGoneError:
        ex.handler.close_connection = True
        ex.error_code = "ClientDisconnected"
    except (ConnectionError, BrokenPipeError, TimeoutError):
        ex.handler.close_connection = True
        if ex.error_code is None:
            ex.error_code = "ClientDisconnected"
    except Exception:
        log.exception("The local OSS server failed on %s %s", ex.method, ex.raw_path)
        ex.handler.close_connection = True
        if not ex.responded:
            with contextlib.suppress(Exception):
                ex.respond_error(OssApiError(500, "InternalError", "The local server failed.", close=True))


def _inject_before(ex: Exchange, fault: FaultRule) -> bool:  # noqa: PLR0911  # one branch per fault action, each says whether the request is finished
    """Apply a fault before authentication; True when the request is finished."""
    if fault.action == "delay":
        ex.state.stopping.wait(fault.delay)  # cut short when the server stops
        return False
    if fault.action == "status":
        ex.respond_error(
            OssApiError(fault.status, fault.error_code(), f"Injected fault #{fault.id}: {fault.status}.")
        )
        return True
    if fault.action == "reset":
        if fault.after_bytes is not None and ex.op == "GetObject":
            ex.reset_after_bytes = fault.after_bytes
            return False
        if fault.after_bytes:
            ex.body.read_up_to(fault.after_bytes)
        ex.reset()
        return True
    if fault.action == "expire_upload":
        upload_id = ex.params.get("uploadId", "")
        if ex.target.bucket and upload_id:
            with contextlib.suppress(OssApiError):
                ex.store.abort_upload(ex.target.bucket, upload_id)
        ex.respond_error(no_such_upload(upload_id))
        return True
    if fault.action == "ignore_range":
        ex.headers.pop("range", None)  # then answered as a GET of the whole object
        return False
    if fault.action == "portal":
        ex.respond_portal()
        return True
    return False  # bad_crc, corrupt and drop_answer act on the response


class OssRequestHandler(BaseHTTPRequestHandler):
    """Serves OSS requests and the control API on one keep-alive connection."""

    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"
    sys_version = ""
    disable_nagle_algorithm = True
    server: OssHTTPServer

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
        exchange = Exchange(self, state, raw_path, raw_query, headers)
        try:
            process(exchange)
        finally:
            exchange.record()

    do_GET = _handle  # noqa: N815  # the names BaseHTTPRequestHandler dispatches to
    do_PUT = _handle  # noqa: N815
    do_POST = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815
    do_HEAD = _handle  # noqa: N815
