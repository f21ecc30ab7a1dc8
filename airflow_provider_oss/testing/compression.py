"""
HTTP compression of GetObject, as OSS does it: a whole (not ranged) GET of an object of at least
1 KiB whose type is compressible, from a client that accepts gzip, is answered gzip-compressed with
chunked transfer encoding (no Content-Length).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange
    from airflow_provider_oss.testing.objectdata import ObjectReader
    from airflow_provider_oss.testing.store import ObjectRecord

MIN_SIZE = 1024
COMPRESSIBLE_TYPES = frozenset(
    {
        "text/plain", "text/html", "text/css", "text/xml", "text/javascript", "application/javascript",
        "application/x-javascript", "application/json", "application/xml",
    }
)  # fmt: skip


def accepts_gzip(value: str) -> bool:
    """Whether an ``Accept-Encoding`` value accepts gzip (``q=0`` refuses it)."""
    for item in value.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0")
    return False


def should_compress(ex: Exchange, record: ObjectRecord, status: int) -> bool:
    """Whether this GetObject answer is sent gzip-compressed."""
    content_type = record.meta.get("content-type", "").split(";", 1)[0].strip().lower()
    return (
        ex.method == "GET"
        and status == 200
        and ex.fault is None
        and record.size >= MIN_SIZE
        and content_type in COMPRESSIBLE_TYPES
        and accepts_gzip(ex.headers.get("accept-encoding", ""))
    )


def send_gzip(ex: Exchange, headers: dict[str, str], reader: ObjectReader) -> None:
    """Answer 200 with the object gzip-compressed, in chunks."""
    ex.body.drain()
    ex.start_response(200, {**headers, "Content-Encoding": "gzip"}, None)
    out = ex.handler.wfile
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip container
    for data in reader.chunks():
        piece = compressor.compress(data)
        if piece:
            out.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    tail = compressor.flush()
    if tail:
        out.write(b"%x\r\n%s\r\n" % (len(tail), tail))
    out.write(b"0\r\n\r\n")
