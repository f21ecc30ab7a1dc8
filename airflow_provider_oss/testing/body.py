"""Reading a request body (``Content-Length`` or chunked) in large chunks, counting the bytes."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.numbers import is_decimal

CHUNK_SIZE = 1 << 20
#: The largest body of one request (PutObject, UploadPart, AppendObject: 5 GiB).
MAX_REQUEST_BODY = 5 << 30
_local = threading.local()


def chunk_buffer() -> memoryview:
    """A 1 MiB buffer reused by every request this thread serves."""
    buf: memoryview | None = getattr(_local, "buffer", None)
    if buf is None:
        buf = memoryview(bytearray(CHUNK_SIZE))
        _local.buffer = buf
    return buf


class ClientGoneError(Exception):
    """The client closed the connection before sending the whole body."""


class BodyReader:
    """
    The body of one request.

    :param rfile: the connection's buffered reader.
    :param length: the ``Content-Length``, or None for a chunked body.
    :param declared: whether the request declared a body length at all (``Content-Length`` or chunked).
    """

    def __init__(self, rfile: io.BufferedIOBase, length: int | None, declared: bool) -> None:
        self._rfile = rfile
        self._remaining = length if length is not None else 0
        self._chunked = length is None
        self._chunk_left = 0
        self._done = not self._chunked and self._remaining == 0
        self.declared = declared
        self.length = length
        self.bytes_read = 0
        self._rate_bits: int | None = None
        self._rate_start = 0.0

    def limit_rate(self, bits_per_second: int) -> None:
        """Read the body no faster than ``bits_per_second`` (``x-oss-traffic-limit``)."""
        self._rate_bits = bits_per_second
        self._rate_start = time.monotonic()

    @classmethod
    def from_headers(cls, rfile: io.BufferedIOBase, headers: Mapping[str, str]) -> BodyReader:
        """
        The body described by the request headers (lower-case names).

        :raises OssApiError: for a malformed ``Content-Length``.
        """
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return cls(rfile, None, True)
        raw = headers.get("content-length")
        if raw is None:
            return cls(rfile, 0, False)
        if not is_decimal(raw.strip()):
            raise OssApiError(400, "InvalidArgument", "Content-Length must be a number.", close=True)
        if int(raw) > MAX_REQUEST_BODY:  # answered at once: never read (or drain) such a body
            raise OssApiError(
                400,
                "EntityTooLarge",
                f"Content-Length {raw.strip()[:40]} exceeds the largest request body OSS accepts "
                f"({MAX_REQUEST_BODY} bytes).",
                close=True,
            )
        return cls(rfile, int(raw), True)

    @property
    def finished(self) -> bool:
        """True when the whole body has been read."""
        return self._done

    def _read_line(self) -> bytes:
        line = self._rfile.readline(65537)
        if not line.endswith(b"\n"):
            raise ClientGoneError("the connection closed inside a chunked body")
        return line

    def _next_chunk(self) -> None:
        size_text = self._read_line().split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise OssApiError(400, "InvalidArgument", "Malformed chunked body.", close=True) from None
        if size == 0:
            while self._read_line() not in (b"\r\n", b"\n"):
                pass
            self._done = True
        self._chunk_left = size

    def readinto(self, view: memoryview) -> int:  # noqa: C901  # chunked and sized bodies, trailers and the end share one read loop
        """Read up to ``len(view)`` body bytes; 0 at the end of the body."""
        if self._done or not len(view):
            return 0
        if self._chunked:
            if self._chunk_left == 0:
                self._next_chunk()
                if self._done:
                    return 0
            want = min(len(view), self._chunk_left)
        else:
            want = min(len(view), self._remaining)
        if self._rate_bits is not None:
            want = min(want, max(1, self._rate_bits // 80))  # a tenth of a second at a time
        got = self._rfile.readinto(view[:want])
        if not got:
            raise ClientGoneError("the connection closed before the whole body arrived")
        self.bytes_read += got
        if self._rate_bits is not None:
            ahead = self.bytes_read * 8 / self._rate_bits - (time.monotonic() - self._rate_start)
            if ahead > 0:
                time.sleep(ahead)
        if self._chunked:
            self._chunk_left -= got
            if self._chunk_left == 0:
                self._read_line()  # the CRLF after the chunk
        else:
            self._remaining -= got
            self._done = self._remaining == 0
        return got

    def read_all(self, limit: int) -> bytes:
        """
        The whole (small) body.

        :raises OssApiError: ``EntityTooLarge`` when it exceeds ``limit`` bytes.
        """
        parts: list[bytes] = []
        size = 0
        view = chunk_buffer()
        while True:
            n = self.readinto(view)
            if not n:
                return b"".join(parts)
            size += n
            if size > limit:
                self.drain()
                raise OssApiError(400, "EntityTooLarge", f"The request body exceeds {limit} bytes.")
            parts.append(bytes(view[:n]))

    def read_up_to(self, count: int) -> None:
        """Read and discard up to ``count`` body bytes."""
        view = chunk_buffer()
        while count > 0:
            n = self.readinto(view[: min(len(view), count)])
            if not n:
                return
            count -= n

    def drain(self) -> None:
        """Read and discard the rest of the body (so the connection can serve the next request)."""
        view = chunk_buffer()
        while self.readinto(view):
            pass
