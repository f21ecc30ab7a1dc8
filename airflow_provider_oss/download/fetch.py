"""
One ranged GET of a download: ``Range`` plus ``If-Match`` on the ETag recorded at the start,
streamed into the temporary file at the range's offset in bounded chunks, its CRC-64 computed on
the way. A connection cut part-way continues from the last byte received (the CRC carries on); an
answer for another version of the object (412, or another ETag or total size) is an
:class:`ObjectChangedError`.
"""

from __future__ import annotations

import time

import requests

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_versions import version_query
from airflow_provider_oss.core.errors import (
    OssConnectionError,
    OssNotFoundError,
    OssPreconditionError,
)
from airflow_provider_oss.core.models import normalize_etag
from airflow_provider_oss.core.read_answers import ReadContext, stream_span
from airflow_provider_oss.core.transport import RetryEvent
from airflow_provider_oss.download.errors import ObjectChangedError
from airflow_provider_oss.download.partfile import PartFile
from airflow_provider_oss.download.record import ObjectIdentity

__all__ = ["READ_CHUNK", "RangeRequest", "fetch_range"]

#: Bytes read from the socket at a time: the memory a range in flight holds.
READ_CHUNK = 1 << 20


class RangeRequest:
    """
    What every ranged GET of one download shares.

    :param client: the OSS client.
    :param bucket: the bucket.
    :param key: the object key.
    :param identity: the object version being downloaded.
    :param sink: the temporary file.
    :param traffic_limit: ``x-oss-traffic-limit`` in bit/s, or None.
    :param version_id: the version of the object (``versionId``), or None for the current one.
    """

    def __init__(
        self,
        client: OssClient,
        bucket: str,
        key: str,
        identity: ObjectIdentity,
        sink: PartFile,
        traffic_limit: int | None = None,
        *,
        version_id: str | None = None,
    ) -> None:
        self.client = client
        self.version_id = version_id
        self.bucket = bucket
        self.key = key
        self.identity = identity
        self.sink = sink
        self.traffic_limit = traffic_limit

    def changed(self, what: str) -> ObjectChangedError:
        """The error for an object that is no longer the version recorded at the start."""
        return ObjectChangedError(
            f"oss://{self.bucket}/{self.key} changed during the download ({what}; it was ETag "
            f"{self.identity.etag}, {self.identity.size} bytes): the partial file and its checkpoint were "
            "discarded; the next try downloads the new object from the start.",
            bucket=self.bucket,
            key=self.key,
        )


def _send(request: RangeRequest, position: int, end: int) -> requests.Response:
    """Send the ranged, conditional GET of bytes ``position..end``."""
    headers = {
        "Range": f"bytes={position}-{end}",
        "x-oss-range-behavior": "standard",
        "If-Match": f'"{request.identity.etag}"',
    }
    if request.traffic_limit is not None:
        headers["x-oss-traffic-limit"] = str(request.traffic_limit)
    try:
        return request.client.transport.send(
            "GET",
            request.bucket,
            request.key,
            query=version_query(request.version_id),
            headers=headers,
            stream=True,
            op="GetObject",
        )
    except OssPreconditionError as err:
        raise request.changed(f"If-Match on the ETag failed: {err.code or err.status}") from None
    except OssNotFoundError as err:
        if err.code not in ("NoSuchKey", "NoSuchVersion"):
            raise
        raise request.changed(f"it was deleted: {err.code}") from None


def _check_answer(request: RangeRequest, response: requests.Response, position: int, end: int) -> None:
    """The answer must be exactly the range asked for (the client's own check), of the recorded object version."""
    etag = normalize_etag(response.headers.get("ETag", ""))
    if etag and etag != request.identity.etag:
        raise request.changed(f"a range came with ETag {etag}")
    config = request.client.config
    context = ReadContext("GetObject", request.bucket, request.key, config.endpoint_url, config.require_crc64)
    total = context.check_range(response, position, end)[2]
    if total != request.identity.size:
        raise request.changed(f"the object is now {total} bytes")


def fetch_range(request: RangeRequest, part_number: int, offset: int, length: int) -> int:
    """
    Download ``length`` bytes from ``offset`` into the temporary file and return their CRC-64.

    :param request: the download's shared settings.
    :param part_number: the range's number (for messages).
    :param offset: the first byte.
    :param length: how many bytes (at least 1).
    :raises ObjectChangedError: the object is no longer the recorded version.
    :raises OssConnectionError: the range kept breaking off after the client's retries.
    :raises OssResponseError: an answer that is not the range asked for.
    """
    transport = request.client.transport
    end = offset + length - 1
    position = offset
    crc = 0
    failures = 0
    while True:
        response = _send(request, position, end)
        try:
            _check_answer(request, response, position, end)
            position, crc, broken = stream_span(
                response, request.sink.write_at, position, end, crc, READ_CHUNK
            )
        finally:
            response.close()
        if broken is None:
            return crc
        failures += 1
        if failures > request.client.config.max_retries:
            raise OssConnectionError(
                f"GET oss://{request.bucket}/{request.key} range {part_number} (bytes {offset}-{end}) broke off "
                f"{failures} time(s), last at byte {position}: {type(broken).__name__}.",
                method="GET",
                key=request.key,
                attempts=failures,
            )
        delay = transport.backoff_delay(failures)
        reason = f"ConnectionBroken after {position - offset} bytes of range {part_number}"
        transport.note_retry(
            RetryEvent("GetObject", "GET", request.bucket, request.key, failures, reason, delay)
        )
        time.sleep(delay)
