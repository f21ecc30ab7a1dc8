"""The local server's connections: a silent client (TLS or not) holds up only itself and is closed."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import requests

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.tls import make_self_signed_cert


def _https_get(server: LocalOssServer, cert: str) -> int:
    session = requests.Session()
    session.trust_env = False
    try:
        return session.get(server.endpoint + "/", verify=cert, timeout=5).status_code
    finally:
        session.close()


def test_a_silent_tls_client_does_not_block_others_and_is_dropped(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(str(tmp_path))
    with LocalOssServer(tls_cert=cert, tls_key=key, idle_timeout=1.0) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        try:
            started = time.monotonic()
            assert _https_get(server, cert) == 403  # answered (anonymous ListBuckets is refused)
            assert time.monotonic() - started < 2
            silent[0].settimeout(5)
            started = time.monotonic()
            assert silent[0].recv(1) == b""  # the server closed it after the idle timeout
            assert time.monotonic() - started < 4
        finally:
            for conn in silent:
                conn.close()
        context = ssl.create_default_context(cafile=cert)
        with (
            socket.create_connection(("127.0.0.1", server.port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.settimeout(5)
            started = time.monotonic()
            assert tls.recv(1) == b""  # handshaken, then idle: closed too
            assert time.monotonic() - started < 4


def test_an_idle_plain_connection_is_closed() -> None:
    with (
        LocalOssServer(idle_timeout=1.0) as server,
        socket.create_connection(("127.0.0.1", server.port)) as conn,
    ):
        conn.sendall(b"GET /_local/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        conn.settimeout(5)
        started = time.monotonic()
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < 4  # kept alive, then closed when idle
