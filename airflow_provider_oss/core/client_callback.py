"""
Reading the answer to an upload sent with OSS's upload callback: the callback server's answer that
OSS relayed, or HTTP 203 ``CallbackFailed`` (the object stored, the callback failed) as a typed error.
"""

from __future__ import annotations

import logging

import requests

from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.client_base import describe_target
from airflow_provider_oss.core.errors import CallbackFailedError
from airflow_provider_oss.core.xmlutil import parse_error

log = logging.getLogger(__name__)

#: HTTP status of an upload whose object was stored but whose callback failed (``CallbackFailed``).
CALLBACK_FAILED_STATUS = 203


def callback_failed(
    op: str,
    response: requests.Response,
    bucket: str,
    key: str,
    etag: str,
    crc64: int | None,
    callback: UploadCallback,
) -> CallbackFailedError:
    """The typed error of a 203 answer: the object is stored, its callback failed."""
    fields = parse_error(response.content)
    return CallbackFailedError(
        status=response.status_code,
        code=fields.get("Code", "") or "CallbackFailed",
        message=fields.get("Message", ""),
        request_id=fields.get("RequestId", "") or response.headers.get("x-oss-request-id", ""),
        host_id=fields.get("HostId", ""),
        ec=fields.get("EC", ""),
        method=op,
        bucket=bucket,
        key=key,
        etag=etag,
        crc64=crc64,
        callback_url=callback.describe(),
    )


def callback_answer(
    op: str, response: requests.Response, bucket: str, key: str, callback: UploadCallback
) -> bytes | None:
    """
    The callback server's answer that OSS relayed, or None (with a warning) when the answer is the
    operation's own (empty, or its XML result): the server did not perform the callback (an
    OSS-compatible server without callbacks), which must not pass for a callback that ran.
    """
    body = response.content
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if (
        not body.strip()
        or content_type in ("application/xml", "text/xml")
        or body.lstrip().startswith(b"<?xml")
    ):
        log.warning(
            "%s %s was sent with an upload callback to %s, but the answer is the operation's own (%s), not a "
            "callback server's: this endpoint did not perform the callback (an OSS-compatible server without "
            "callbacks?). callback_response is None.",
            op,
            describe_target(bucket, key),
            callback.describe(),
            "empty" if not body.strip() else content_type or "XML",
        )
        return None
    return body
