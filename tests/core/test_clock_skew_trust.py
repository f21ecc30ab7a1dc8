"""
The client's clock moves only on OSS's word: an authenticated ``RequestTimeTooSkewed`` (it carries
``x-oss-request-id``) within a day of this machine's clock. A 403 from a proxy or a portal moves
nothing (else every later request, and every presigned URL, would carry its dates), an offset beyond
a day is an error naming it, and the correction is logged once per client.
"""

from __future__ import annotations

import base64
import logging
import time
from datetime import datetime, timezone
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_oss.core.answers import MAX_CLOCK_OFFSET
from airflow_provider_oss.core.errors import OssResponseError, OssServiceError
from airflow_provider_oss.testing import LocalOssServer
from tests.hostile_oss import Answer, HostileOss
from tests.upload_support import make_client

BUCKET = "test-bucket"
NINE_YEARS = 9 * 365 * 86400


def _skewed(offset: float, *, request_id: bool, code: bool = True):  # type: ignore[no-untyped-def]
    """Every answer a 403 whose server time is ``offset`` seconds ahead (``code``: RequestTimeTooSkewed, else bare)."""
    server_time = time.time() + offset
    iso = datetime.fromtimestamp(server_time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>RequestTimeTooSkewed</Code><Message>skewed</Message>"
        f"<RequestId>R</RequestId><ServerTime>{iso}</ServerTime></Error>".encode()
        if code
        else b""
    )

    def script(method: str, path: str) -> Answer:
        headers = {"Date": formatdate(server_time, usegmt=True), "Content-Type": "application/xml"}
        if method == "HEAD" and body:  # OSS's HEAD carries its error document in x-oss-err
            headers["x-oss-err"] = base64.b64encode(body).decode()
        if request_id:
            headers["x-oss-request-id"] = "5F0000000000000000000001"
        return Answer(403, headers, body)

    return script


def _presigned_year(client) -> int:  # type: ignore[no-untyped-def]
    url = client.presign_url("GET", "bucket", "k.bin")
    return int(parse_qs(urlsplit(url).query)["x-oss-date"][0][:4])


@pytest.mark.parametrize(("method", "code"), [("PUT", True), ("HEAD", True), ("HEAD", False)])
def test_a_skew_refusal_without_request_id_moves_no_clock(method: str, code: bool) -> None:
    with (
        HostileOss(_skewed(NINE_YEARS, request_id=False, code=code)) as server,
        server.client() as client,
    ):
        with pytest.raises(OssServiceError):
            if method == "PUT":
                client.put_object("bucket", "k.bin", b"data")
            else:
                client.head_object("bucket", "k.bin")
        assert client.transport.clock_offset == 0.0
        assert _presigned_year(client) == datetime.now(timezone.utc).year
        assert len(server.requests) == 1  # not retried with another clock


def test_an_oss_skew_beyond_a_day_is_an_error_naming_it() -> None:
    with (
        HostileOss(_skewed(NINE_YEARS, request_id=True)) as server,
        server.client() as client,
        pytest.raises(OssResponseError) as caught,
    ):
        client.put_object("bucket", "k.bin", b"data")
    text = str(caught.value)
    assert "RequestTimeTooSkewed" in text and "+3285.0 days" in text
    assert client.transport.clock_offset == 0.0
    assert MAX_CLOCK_OFFSET == 86400


def test_an_oss_skew_within_a_day_is_adopted_and_logged_once(
    oss_server: LocalOssServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_oss")
    oss_server.set_clock_offset(6 * 3600)
    with make_client(oss_server) as client:
        client.put_object(BUCKET, "skew/a", b"a")
        assert abs(client.transport.clock_offset - 6 * 3600) < 5
        oss_server.set_clock_offset(7 * 3600)  # the server's clock jumps again
        client.put_object(BUCKET, "skew/b", b"b")
        assert abs(client.transport.clock_offset - 7 * 3600) < 5
        client.head_object(BUCKET, "skew/b")
    warnings = [r for r in caplog.records if "clock" in r.getMessage()]
    assert len(warnings) == 1
    assert oss_server.object_bytes(BUCKET, "skew/b") == b"b"
