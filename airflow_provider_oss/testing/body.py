"""
Reading a request body (``Content-Length`` or chunked) in large chunks, counting the bytes. The
framing follows RFC 9112: anything ambiguous (two ``Content-Length`` fields, ``Transfer-Encoding``
with ``Content-Length``, any transfer coding but a single ``chunked``, a chunk size that is not plain
hexadecimal, chunk data not followed by CRLF) answers 400 and closes the connection, so that no
two readers of the stream can disagree on where a request ends.
"""

from __future__ import annotations

import io
import re
import threading
import time
from email.message import Message

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.numbers import is_decimal

CHUNK_SIZE = 1 << 20
#: RFC 9112 ``chunk-size``: hexadecimal digits only (no sign, ``0x`` or ``_``), then optional
#: whitespace before a ``;chunk-ext``.
_CHUNK_SIZE_RE = re.compile(rb"^([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r?\n$")
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


def bad_framing(message: str) -> OssApiError:
    """The 400 answer (closing the connection) to a request whose message framing is not RFC 9112's."""
    return OssApiError(400, "InvalidArgument", f"Malformed request framing: {message}", close=True)


def framed_length(headers: Message) -> int | None:
    """
    The body length the header fields declare: None for a chunked body, -1 for no body field.

    :raises OssApiError: 400 (closing the connection) for framing RFC 9112 does not allow, or
        ``EntityTooLarge`` for a ``Content-Length`` beyond :data:`MAX_REQUEST_BODY`.
    """
    lengths = headers.get_all("Content-Length") or []
    codings = [
        coding.strip().lower()
        for field in headers.get_all("Transfer-Encoding") or []
        for coding in str(field).split(",")
    ]
    if codings:
        if lengths:
            raise bad_framing("Transfer-Encoding and Content-Length must not both be sent.")
        if codings != ["chunked"]:
            raise bad_framing("The only transfer coding accepted is a single chunked.")
        return None
    if not lengths:
        return -1
    raw = str(lengths[0]).strip()
    if len(lengths) > 1:
        raise bad_framing("Content-Length must be sent once.")
    if not is_decimal(raw):
        raise OssApiError(400, "InvalidArgument", "Content-Length must be a number.", close=True)
    if int(raw) > MAX_REQUEST_BODY:  # answered at once: never read (or drain) such a body
        raise OssApiError(
            400,
            "EntityTooLarge",
            f"Content-Length {raw[:40]} exceeds the largest request body OSS accepts ({MAX_REQUEST_BODY} bytes).",
            close=True,
        )
    return int(raw)


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
    def from_headers(cls, rfile: io.BufferedIOBase, headers: Message) -> BodyReader:
        """
        The body the request's header fields frame (every field of a name, as received).

        :raises OssApiError: 400 (closing the connection) for framing RFC 9112 does not allow, or
            ``EntityTooLarge`` for a ``Content-Length`` beyond :data:`MAX_REQUEST_BODY`.
        """
        length = framed_length(headers)
        if length is None:
            return cls(rfile, None, True)
        if length < 0:
            return cls(rfile, 0, False)
        return cls(rfile, length, True)

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
        found = _CHUNK_SIZE_RE.match(self._read_line())
        if found is None:
            raise bad_framing("A chunk size must be hexadecimal digits (RFC 9112 chunk-size).")
        size = int(found.group(1), 16)
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
            if self._chunk_left == 0 and self._read_line() not in (b"\r\n", b"\n"):
                raise bad_framing("Chunk data must be followed by CRLF (RFC 9112).")
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
