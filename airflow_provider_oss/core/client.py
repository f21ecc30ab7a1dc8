"""
:class:`OssClient`: the OSS operations the provider needs (objects, listings, multipart uploads,
buckets, presigned URLs) over :class:`~airflow_provider_oss.core.transport.Transport`.

Every upload compares the CRC-64 OSS computed (``x-oss-hash-crc64ecma``) with the local one and
raises :class:`~airflow_provider_oss.core.errors.CrcMismatchError` on a difference; downloads of
whole objects are checked the same way. The client is thread-safe: the resumable upload engine
calls :meth:`OssClient.upload_part` from a thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from airflow_provider_oss.core.client_append import AppendCalls
from airflow_provider_oss.core.client_base import PRESIGN_METHODS, check_object
from airflow_provider_oss.core.client_buckets import BucketCalls
from airflow_provider_oss.core.client_listing import ListingCalls
from airflow_provider_oss.core.client_multipart import MultipartCalls
from airflow_provider_oss.core.client_versions import VersionCalls
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.signing import MAX_PRESIGN_EXPIRES, SigningRequest


class OssClient(ListingCalls, MultipartCalls, BucketCalls, AppendCalls, VersionCalls):
    """
    An Alibaba Cloud OSS client: the object calls (:class:`~airflow_provider_oss.core.client_objects.ObjectCalls`), the listings
    (:class:`ListingCalls`), the multipart upload API (:class:`MultipartCalls`), bucket creation and
    deletion (:class:`~airflow_provider_oss.core.client_buckets.BucketCalls`), appends
    (:class:`~airflow_provider_oss.core.client_append.AppendCalls`), object versions
    (:class:`~airflow_provider_oss.core.client_versions.VersionCalls`) and presigned URLs.

    :param credentials: the access key pair (and STS token).
    :param config: endpoint, addressing, signing, timeout, retry and pool settings.
    :param on_retry: called with a :class:`~airflow_provider_oss.core.transport.RetryEvent` before
        each retry (for metrics, logs or tests).
    """

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def __enter__(self) -> OssClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- presigned URLs --------------------------------------------------------------------------

    def presign_url(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        expires: int = 3600,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """
        A URL that grants ``method`` on an object to whoever holds it, until it expires (signed
        with the configured signature version; the STS token, if any, is part of the URL).

        :param method: ``GET``, ``PUT``, ``HEAD``, ``POST`` or ``DELETE``.
        :param expires: validity in seconds, 1 to 604800 (7 days).
        :param query: extra query parameters to sign (``response-content-disposition``...).
        :param headers: headers the user of the URL must send exactly (``Content-Type``...).
        """
        check_object(bucket, key)
        verb = str(method).upper()
        if verb not in PRESIGN_METHODS:
            raise OssClientError(
                f"Cannot presign method {method!r}: use one of {', '.join(PRESIGN_METHODS)}."
            )
        if (
            isinstance(expires, bool)
            or not isinstance(expires, int)
            or not 1 <= expires <= MAX_PRESIGN_EXPIRES
        ):
            raise OssClientError(
                f"expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES} (7 days, the "
                f"longest OSS allows); got {expires!r}."
            )
        request = SigningRequest(verb, bucket, key, list((query or {}).items()), dict(headers or {}))
        pairs = self._transport.presign(request, expires)
        return self.config.build_target(bucket, key, pairs, apply_resolve=False).url
