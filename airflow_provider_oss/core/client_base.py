"""
What every group of :class:`~airflow_provider_oss.core.client.OssClient` calls shares: the
configuration, the transport, the argument checks and the check of a write's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import requests

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.endpoints import validate_bucket_name, validate_object_key
from airflow_provider_oss.core.errors import (
    CrcMismatchError,
    OssClientError,
    OssResponseError,
)
from airflow_provider_oss.core.models import (
    PartInfo,
    UploadedPart,
    normalize_etag,
)
from airflow_provider_oss.core.read_answers import answer_traits
from airflow_provider_oss.core.transport import (
    RetryEvent,
    Transport,
)

log = logging.getLogger(__name__)

MAX_PART_NUMBER = 10000
MAX_PAGE_SIZE = 1000
DEFAULT_CHUNK_SIZE = 4 << 20
CRC_MAX = (1 << 64) - 1
PRESIGN_METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")

PartRef = UploadedPart | PartInfo | tuple[int, str]


def check_object(bucket: str, key: str) -> None:
    validate_bucket_name(bucket)
    validate_object_key(key)


def check_page_size(page_size: int) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise OssClientError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}; got {page_size!r}.")


def check_part_number(part_number: int) -> None:
    if (
        isinstance(part_number, bool)
        or not isinstance(part_number, int)
        or not 1 <= part_number <= MAX_PART_NUMBER
    ):
        raise OssClientError(
            f"part_number must be an integer from 1 to {MAX_PART_NUMBER}; got {part_number!r}."
        )


def check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id.strip():
        raise OssClientError(f"upload_id must be a non-empty string; got {upload_id!r}.")


def check_crc_arg(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= CRC_MAX:
        raise OssClientError(f"{name} must be an unsigned 64-bit integer (a CRC-64); got {value!r}.")


def describe_target(bucket: str, key: str, part_number: int | None = None) -> str:
    text = f"oss://{bucket}/{key}"
    return f"{text} part {part_number}" if part_number is not None else text


class ClientBase:
    """
    The state of a client: its configuration and its transport.

    :param credentials: the access key pair (and STS token).
    :param config: endpoint, addressing, signing, timeout, retry and pool settings.
    :param on_retry: called with a :class:`~airflow_provider_oss.core.transport.RetryEvent` before
        each retry (for metrics, logs or tests).
    """

    def __init__(
        self,
        credentials: Credentials,
        config: ClientConfig,
        *,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise OssClientError("credentials must be an airflow_provider_oss.core.Credentials.")
        if not isinstance(config, ClientConfig):
            raise OssClientError("config must be an airflow_provider_oss.core.ClientConfig.")
        self.config = config
        self._access_key_id = credentials.access_key_id
        self._transport = Transport(config, credentials, on_retry=on_retry)

    def __repr__(self) -> str:
        return (
            f"OssClient(endpoint={self.config.endpoint_url!r}, region={self.config.region!r}, "
            f"access_key_id={self._access_key_id!r})"
        )

    @property
    def transport(self) -> Transport:
        """The HTTP transport (its ``retry_count``, ``request_count`` and ``clock_offset`` are observable)."""
        return self._transport

    # -- helpers ---------------------------------------------------------------------------------

    def _check_write_answer(
        self,
        op: str,
        local: int,
        response: requests.Response,
        bucket: str,
        key: str,
        part_number: int | None = None,
    ) -> tuple[str, int | None]:
        """
        Check the answer to a write: OSS always sends an ``ETag`` and the CRC-64 of what it stored.

        :return: the ETag and OSS's CRC-64 (None only when ``require_crc64`` is off and none came).
        :raises OssResponseError: when the ETag is missing, or the CRC-64 is missing and required.
        :raises CrcMismatchError: when OSS's CRC-64 differs from the local one.
        """
        where = describe_target(bucket, key, part_number)
        etag = normalize_etag(response.headers.get("ETag", ""))
        server = crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma"))
        missing = [
            name for name, absent in (("ETag", not etag), ("x-oss-hash-crc64ecma", server is None)) if absent
        ]
        if not etag or (server is None and self.config.require_crc64):
            raise OssResponseError(
                f"{op} {where}: {self.config.endpoint_url} answered HTTP {response.status_code} without "
                f"{' and '.join(missing)}{answer_traits(response)}, which OSS always sends: the answer did not "
                "come from OSS (a proxy, a captive portal or a wrong endpoint?), so the write is not trusted. "
                "Check the connection's endpoint"
                + (
                    "; for an OSS-compatible server that sends no CRC-64, set require_crc64=false."
                    if etag
                    else "."
                ),
            )
        if server is None:
            log.warning(
                "%s %s is UNVERIFIED: %s sent no CRC-64 (require_crc64=false), so the stored bytes were not "
                "checked against the local ones.",
                op,
                where,
                self.config.endpoint_url,
            )
            return etag, None
        if server != local:
            raise CrcMismatchError(
                f"CRC-64 mismatch for {where}: computed {local} locally, "
                f"OSS computed {server}. The bytes were damaged in transit; upload them again.",
                local_crc=local,
                server_crc=server,
                key=key,
                part_number=part_number,
            )
        return etag, server
