"""
Reading OSS's answers: bodies read with a cap (an endless body is not an OSS answer), the typed
error an error answer means, and the clock offset an OSS clock-skew refusal reveals.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

import requests

from airflow_provider_oss.core.errors import OssResponseError, OssServiceError, service_error_class
from airflow_provider_oss.core.numbers import ascii_int
from airflow_provider_oss.core.xmlutil import parse_error, parse_http_time, parse_iso_time

#: The largest server-minus-local clock offset adopted from a ``RequestTimeTooSkewed`` (OSS itself
#: allows 15 minutes): one day covers a drifting clock and a time-zone mistake (up to 14 hours); more
#: is a broken clock (or not OSS's time), an error to fix, never signed with.
MAX_CLOCK_OFFSET = 24 * 3600
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


def skew_offset(response: requests.Response, error: OssServiceError) -> float | None:
    """
    The server-minus-local clock offset that an OSS ``RequestTimeTooSkewed`` refusal reveals, else None.

    Only OSS's own word moves the clock: the error code ``RequestTimeTooSkewed`` (from the XML body,
    or a HEAD's ``x-oss-err`` header) in an answer that carries ``x-oss-request-id``, with the
    server's time from its ``ServerTime`` (or, failing that, its ``Date``). A bare 403, or one
    without a request id (a proxy, a captive portal), moves nothing.

    :raises OssResponseError: when the offset is beyond :data:`MAX_CLOCK_OFFSET` (the message names it).
    """
    if error.code != "RequestTimeTooSkewed" or not response.headers.get("x-oss-request-id"):
        return None
    server_time = None
    if error.details.get("ServerTime"):
        try:
            server_time = parse_iso_time(error.details["ServerTime"])
        except Exception:  # a malformed ServerTime: the Date header, or no correction
            server_time = None
    if server_time is None:
        server_time = parse_http_time(response.headers.get("Date"))
    if server_time is None:
        return None
    offset = server_time.timestamp() - time.time()
    if abs(offset) > MAX_CLOCK_OFFSET:
        raise OssResponseError(
            f"{error.method} {describe_address(error.bucket, error.key)}: the server (request id "
            f"{error.request_id}) refused the request as RequestTimeTooSkewed and says its time is "
            f"{server_time.isoformat()}, {offset:+.0f} s ({offset / 86400:+.1f} days) from this machine's clock. "
            f"An offset beyond {MAX_CLOCK_OFFSET // 3600} hours is not adopted: fix this machine's clock (NTP), "
            "and check the connection's endpoint."
        )
    return offset
