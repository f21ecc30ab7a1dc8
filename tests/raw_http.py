"""Raw HTTP exchanges with a loopback server, for tests of what reaches it byte by byte."""

from __future__ import annotations

import socket

from airflow_provider_oss.testing import LocalOssServer


def raw_exchange(server: LocalOssServer, request: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """
    Send raw bytes on a fresh connection: everything answered until the server closes or goes quiet
    for ``timeout`` seconds, and whether the server closed the connection.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            return out, False
        return out, True
