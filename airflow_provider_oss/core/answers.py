"""
Reading OSS's answers: bodies read with a cap (an endless body is not an OSS answer), the typed
error an error answer means, and the clock offset a clock-skew refusal reveals.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

import requests

from airflow_provider_oss.core.errors import OssServiceError, service_error_class
from airflow_provider_oss.core.numbers import ascii_int
from airflow_provider_oss.core.xmlutil import parse_error, parse_http_time, parse_iso_time

#: OSS tolerates 900 s of clock difference; a 403 on HEAD (no body, so no code) with more skew than
#: this margin is taken for ``RequestTimeTooSkewed``.
HEAD_SKEW_MARGIN = 600
#: The most of an error body read (the rest is never downloaded: the connection is closed).
MAX_ERROR_BODY = 1 << 20
#: The most of a successful answer read into memory (list results are a few MiB at most; object
#: downloads stream and are not bound by it). More than this is not an OSS answer.
MAX_ANSWER_BODY = 64 << 20
READ_CHUNK = 64 << 10


def read_capped(response: requests.Response, limit: int, *, truncate: bool = False) -> bytes | None:
    """
    Read a streamed response's body, never more than ``limit`` bytes (plus one chunk).

    :param response: a response sent with ``stream=True``.
    :param limit: the most bytes to keep.
    :param truncate: past the limit, return the first ``limit`` bytes instead of None.
    :return: the body, or None when it is longer than ``limit`` (and ``truncate`` is False). Past the
        limit the connection is closed, so the rest is never downloaded.
    """
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(READ_CHUNK):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            response.close()
            return b"".join(chunks)[:limit] if truncate else None
    return b"".join(chunks)


def describe_address(bucket: str | None, key: str | None) -> str:
    if not bucket:
        return "oss://"
    return f"oss://{bucket}/{key}" if key else f"oss://{bucket}"


def retry_after(response: requests.Response) -> float | None:
    """
    A ``Retry-After`` in seconds (ASCII digits); None when absent or another form (HTTP also allows a
    date): the hint is only ever a lower bound on the backoff, so a form not understood is ignored.
    """
    seconds = ascii_int(response.headers.get("Retry-After", "").strip())
    return None if seconds is None else float(seconds)


def service_error(
    response: requests.Response,
    method: str,
    bucket: str | None,
    key: str | None,
    redact: Callable[[str], str],
) -> OssServiceError:
    """
    The typed error an OSS error answer means, from its XML body (or the ``x-oss-err`` header of a
    HEAD), its credentials redacted. The body is read capped, and the response closed.
    """
    body = b""
    try:
        if method != "HEAD":
            body = read_capped(response, MAX_ERROR_BODY, truncate=True) or b""
    except Exception:  # an unreadable error body still gives a typed error
        body = b""
    finally:
        response.close()
    fields = parse_error(body)
    header_error = response.headers.get("x-oss-err")
    if not fields and header_error:
        try:
            fields = parse_error(base64.b64decode(header_error))
        except (binascii.Error, ValueError):
            fields = {}
    code = fields.pop("Code", "")
    message = fields.pop("Message", "")
    if not fields and not code and body:
        message = body[:200].decode("utf-8", "replace").strip()
    request_id = fields.pop("RequestId", "") or response.headers.get("x-oss-request-id", "")
    host_id = fields.pop("HostId", "")
    ec = fields.pop("EC", "") or response.headers.get("x-oss-ec", "")
    details = {name: redact(value) for name, value in fields.items()}
    cls = service_error_class(response.status_code, code)
    return cls(
        status=response.status_code,
        code=code,
        message=redact(message),
        request_id=request_id,
        host_id=host_id,
        ec=ec,
        method=method,
        bucket=bucket,
        key=key,
        details=details,
    )


def skew_offset(
    response: requests.Response, error: OssServiceError, method: str, current_offset: float
) -> float | None:
    """
    The server-minus-local clock offset when ``error`` is a clock-skew refusal, else None.

    :param current_offset: the offset already applied (a HEAD's bare 403 counts as skew only
        when the clock is off by more than a margin beyond it).
    """
    if error.code != "RequestTimeTooSkewed" and not (
        error.status == 403 and not error.code and method == "HEAD"
    ):
        return None
    server_time = parse_http_time(response.headers.get("Date"))
    if server_time is None and error.details.get("ServerTime"):
        try:
            server_time = parse_iso_time(error.details["ServerTime"])
        except Exception:  # a malformed ServerTime: no correction
            server_time = None
    if server_time is None:
        return None
    offset = server_time.timestamp() - time.time()
    if error.code != "RequestTimeTooSkewed":
        skew = abs(offset - current_offset)
        if skew < HEAD_SKEW_MARGIN:
            return None
    return offset
