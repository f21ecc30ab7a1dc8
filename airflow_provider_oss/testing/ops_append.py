"""AppendObject (``POST /key?append&position=N``), which ossfs and fsspec use for every write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_oss.testing.apierror import invalid_argument
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.ops_common import (
    MAX_OBJECT_SIZE,
    check_key,
    check_md5,
    expected_md5,
    meta_from_headers,
    receive_body,
    require_length,
    sse_headers,
)
from airflow_provider_oss.testing.ops_versions import version_headers

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange


def append_object(ex: Exchange) -> None:
    """
    AppendObject: the body goes at ``position``, which must be the object's length (0 creates an
    ``Appendable`` object); answers ``x-oss-next-append-position`` and the whole object's CRC-64.
    """
    ex.store.bucket(ex.bucket)
    check_key(ex.key)
    raw = ex.params.get("position", "")
    if not is_decimal(raw):
        raise invalid_argument("position must be a non-negative integer.", "position", raw)
    meta = meta_from_headers(ex.headers, ex.key)
    require_length(ex, MAX_OBJECT_SIZE)
    expected = expected_md5(ex.headers)
    got = receive_body(ex, md5=expected is not None, limit=MAX_OBJECT_SIZE)
    try:
        check_md5(expected, got.md5)
        record = ex.store.append_object(
            ex.bucket, ex.key, got.path, position=int(raw), size=got.size, crc64=got.crc64, meta=meta
        )
    finally:
        ex.store.discard(got.path)
    headers = {
        "ETag": record.etag,
        "x-oss-next-append-position": str(record.size),
        "x-oss-hash-crc64ecma": str(record.crc64),
        **sse_headers(record.meta),
        **version_headers(ex, record),
    }
    ex.respond(200, headers)
