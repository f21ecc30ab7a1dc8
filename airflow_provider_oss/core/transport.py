"""
The HTTP layer of the OSS client: one :class:`requests.Session` per client with a connection pool,
timeouts, retries with exponential backoff and full jitter, clock-skew correction, typed errors
and credential-free logging.

Each attempt is signed just before it is sent (a V4 signature is valid for 15 minutes), with the
clock corrected by the offset learned from OSS's ``RequestTimeTooSkewed`` answer (one that carries
``x-oss-request-id``; never beyond :data:`~airflow_provider_oss.core.answers.MAX_CLOCK_OFFSET`).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import requests

from airflow_provider_oss.core import signing
from airflow_provider_oss.core.answers import (
    MAX_ANSWER_BODY,
    describe_address,
    read_capped,
    retry_after,
    service_error,
    skew_offset,
)
from airflow_provider_oss.core.client_config import ClientConfig, RequestTarget
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import (
    OssClientError,
    OssConnectionError,
    OssResponseError,
)
from airflow_provider_oss.core.http_session import PooledSession, connection_reason

log = logging.getLogger(__name__)

Body = bytes | bytearray | memoryview

_insecure_warned: set[str] = set()
_insecure_lock = threading.Lock()

_SIGNATURE_PATTERNS = (
    re.compile(r"(?i)((?:x-oss-)?signature=)[^&\s,<\"']+"),
    re.compile(r"(OSS [^:\s]+:)[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)((?:x-oss-)?security-token[=:]\s*)[^&\s,<\"']+"),
)


@dataclass(frozen=True)
class RetryEvent:
    """
    One retry, as given to the ``on_retry`` hook.

    :param op: the OSS operation (``UploadPart``...).
    :param method: the HTTP method.
    :param bucket: the bucket, or None.
    :param key: the object key, or None.
    :param attempt: the attempt that failed (1 for the first).
    :param reason: why (``HTTP 503 ServiceUnavailable``, ``ReadTimeout``, ``RequestTimeTooSkewed``...).
    :param delay: the seconds waited before the next attempt.
    """

    op: str
    method: str
    bucket: str | None
    key: str | None
    attempt: int
    reason: str
    delay: float


@dataclass
class CallStats:
    """What happened while sending one request: filled in by :meth:`Transport.send`."""

    attempts: int = 0
    skew_corrected: bool = False


def as_body(data: Body | None) -> bytes | bytearray | memoryview | None:
    """
    Normalise an upload body without copying it: a memoryview becomes a flat byte view (so its
    length is its size in bytes), an empty body becomes ``b""`` (sent with ``Content-Length: 0``).

    :raises OssClientError: for another type, or a non-contiguous memoryview.
    """
    if data is None:
        return None
    if isinstance(data, memoryview):
        if not data.c_contiguous:
            raise OssClientError("A memoryview body must be C-contiguous: pass a contiguous buffer.")
        view = data if (data.format == "B" and data.ndim == 1) else data.cast("B")
        return view if view.nbytes else b""
    if isinstance(data, bytes | bytearray):
        return data if len(data) else b""
    raise OssClientError(f"The body must be bytes, bytearray or memoryview; got {type(data).__name__}.")


class Transport:
    """
    Sends signed OSS requests.

    :param config: the client settings.
    :param credentials: the access key (and STS token) to sign with.
    :param on_retry: called with a :class:`RetryEvent` before each retry (from the calling thread).
    """

    def __init__(
        self,
        config: ClientConfig,
        credentials: Credentials,
        *,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._on_retry = on_retry
        self._lock = threading.Lock()
        self._clock_offset = 0.0
        self._skew_logged = False
        self._retries = 0
        self._requests = 0
        # Each secret as it is, as repr() escapes it and as a URL encodes it: the forms in which a
        # library's exception text could quote it.
        self._secrets = sorted(
            {
                form
                for secret in credentials.secrets()
                for form in (secret, repr(secret)[1:-1], quote(secret, safe=""))
            },
            key=len,
            reverse=True,
        )
        self._http = PooledSession(config)
        if config.verify is False:
            _warn_insecure(config.endpoint_url)

    # -- facts -----------------------------------------------------------------------------------

    @property
    def clock_offset(self) -> float:
        """Seconds the server clock is ahead of this machine's (learned from ``RequestTimeTooSkewed``)."""
        return self._clock_offset

    @clock_offset.setter
    def clock_offset(self, seconds: float) -> None:
        self._clock_offset = float(seconds)

    @property
    def retry_count(self) -> int:
        """How many retries this transport has made (all threads, all calls)."""
        return self._retries

    @property
    def request_count(self) -> int:
        """How many HTTP attempts this transport has sent."""
        return self._requests

    @property
    def pool_maxsize(self) -> int:
        """The connection pool size per host."""
        return self._http.pool_maxsize

    def now(self) -> datetime:
        """The current time corrected by the learned clock offset (what requests are signed with)."""
        return datetime.now(timezone.utc) + timedelta(seconds=self._clock_offset)

    def redact(self, text: str) -> str:
        """Remove the secret, the STS token and signatures from a text."""
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        for pattern in _SIGNATURE_PATTERNS:
            text = pattern.sub(r"\1<redacted>", text)
        return text

    # -- signing ---------------------------------------------------------------------------------

    def sign(self, request: signing.SigningRequest) -> None:
        """
        Sign a request in place (its headers get the signature) with the configured signature
        version and the corrected clock.
        """
        now = self.now()
        if self.config.signature_version == "v1":
            signing.sign_v1(request, self._credentials, now)
        else:
            signing.sign_v4(request, self._credentials, self.config.region, now)

    def presign(self, request: signing.SigningRequest, expires: int) -> list[tuple[str, str]]:
        """The query of a presigned URL (see :mod:`~airflow_provider_oss.core.signing`)."""
        now = self.now()
        if self.config.signature_version == "v1":
            return signing.presign_v1(request, self._credentials, now, expires)
        return signing.presign_v4(request, self._credentials, self.config.region, now, expires)

    # -- retries ---------------------------------------------------------------------------------

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """
        The wait before retrying after ``attempt`` failed: full jitter over an exponentially growing
        ceiling, at least a server's ``Retry-After`` (capped at ``backoff_max``).
        """
        ceiling = min(self.config.backoff_max, self.config.backoff_base * (2 ** (attempt - 1)))
        delay = random.uniform(0, ceiling)  # jitter, not cryptography
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_max))
        return delay

    def note_retry(self, event: RetryEvent) -> None:
        """Count a retry, log it and call the hook."""
        with self._lock:
            self._retries += 1
        log.info(
            "Retrying OSS %s %s after %s (attempt %d failed; waiting %.2f s).",
            event.op or event.method,
            describe_address(event.bucket, event.key),
            event.reason,
            event.attempt,
            event.delay,
        )
        if self._on_retry is not None:
            self._on_retry(event)

    # -- sending ---------------------------------------------------------------------------------

    def send(  # noqa: PLR0915  # the retry loop: every failure kind (TLS, timeout, connection, 5xx, error body) is classified where it is caught
        self,
        method: str,
        bucket: str | None,
        key: str | None,
        *,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        stream: bool = False,
        op: str = "",
        stats: CallStats | None = None,
    ) -> requests.Response:
        """
        Send a request, retrying what a retry can fix, and return the successful response.

        :param method: the HTTP method.
        :param bucket: the bucket, or None for a service-level request.
        :param key: the object key, or None for a bucket-level request.
        :param query: decoded query pairs.
        :param headers: request headers (unsigned; signing adds its own each attempt).
        :param body: the body, sent as is (no copy).
        :param stream: leave the body of a successful response unread (the caller must close it).
        :param op: the operation name, for logs and retry events.
        :param stats: filled in with the number of attempts.
        :raises OssServiceError: (a subclass) for an OSS error answer.
        :raises OssConnectionError: when the endpoint could not be reached after the retries.
        """
        payload = as_body(body)
        query = list(query)
        target = self.config.build_target(bucket, key, query)
        max_attempts = 1 + self.config.max_retries
        attempt = 0
        skew_retried = False
        stats = stats if stats is not None else CallStats()
        while True:
            attempt += 1
            stats.attempts += 1
            prepared = self._prepare(method, bucket, key, query, headers or {}, payload, target)
            started = time.monotonic()
            with self._lock:
                self._requests += 1
            try:
                # Always streamed, so that no body is read without a bound (an error body, or an
                # answer from something that is not OSS, could be endless).
                response = self._http.send(prepared)
                if response.status_code < 300 and not stream:
                    self._read_answer(response, op or method, bucket, key)
            except requests.exceptions.SSLError as err:
                raise OssConnectionError(
                    f"{method} {describe_address(bucket, key)}: TLS with {self.config.endpoint_url} failed: "
                    f"{self.redact(str(err))[:300]} (check the endpoint, or give a CA bundle with verify=).",
                    method=method,
                    key=key,
                    attempts=attempt,
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as err:
                elapsed = time.monotonic() - started
                reason = connection_reason(err, self.config.read_timeout)
                log.debug(
                    "OSS %s %s %s -> %s after %.3f s (attempt %d)",
                    op,
                    method,
                    describe_address(bucket, key),
                    reason,
                    elapsed,
                    attempt,
                )
                if attempt < max_attempts:
                    delay = self.backoff_delay(attempt)
                    self.note_retry(RetryEvent(op, method, bucket, key, attempt, reason, delay))
                    time.sleep(delay)
                    continue
                raise OssConnectionError(
                    f"{method} {describe_address(bucket, key)}: could not get an answer from {self.config.endpoint_url} "
                    f"after {attempt} attempt(s): {reason}: {self.redact(str(err))[:300]}",
                    method=method,
                    key=key,
                    attempts=attempt,
                ) from None
            elapsed = time.monotonic() - started
            request_id = response.headers.get("x-oss-request-id", "")
            if response.status_code < 300:
                log.debug(
                    "OSS %s %s %s -> HTTP %d request_id=%s %.3f s (attempt %d)",
                    op,
                    method,
                    describe_address(bucket, key),
                    response.status_code,
                    request_id,
                    elapsed,
                    attempt,
                )
                return response
            error = service_error(response, method, bucket, key, self.redact)
            log.debug(
                "OSS %s %s %s -> HTTP %d %s request_id=%s %.3f s (attempt %d)",
                op,
                method,
                describe_address(bucket, key),
                error.status,
                error.code,
                error.request_id,
                elapsed,
                attempt,
            )
            offset = skew_offset(response, error) if not skew_retried else None
            if offset is not None:
                skew_retried = True
                stats.skew_corrected = True
                self._adopt_clock_offset(offset)
                self.note_retry(RetryEvent(op, method, bucket, key, attempt, "RequestTimeTooSkewed", 0.0))
                attempt -= 1  # the corrected retry is not one of the max_retries
                continue
            if error.retryable and attempt < max_attempts:
                delay = self.backoff_delay(attempt, retry_after(response))
                reason = f"HTTP {error.status} {error.code}".strip()
                self.note_retry(RetryEvent(op, method, bucket, key, attempt, reason, delay))
                time.sleep(delay)
                continue
            raise error

    def _adopt_clock_offset(self, offset: float) -> None:
        """Sign with the server's time from now on; say so once per client (later changes at debug)."""
        with self._lock:
            self._clock_offset = offset
            first, self._skew_logged = not self._skew_logged, True
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "The OSS server clock differs from this machine's by %.0f s (more than OSS allows): "
            "signing with the server's time from now on. Fix this machine's clock (NTP).",
            offset,
        )

    def _prepare(
        self,
        method: str,
        bucket: str | None,
        key: str | None,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        payload: bytes | bytearray | memoryview | None,
        target: RequestTarget,
    ) -> requests.PreparedRequest:
        signed = {"User-Agent": self.config.user_agent, "Accept-Encoding": "identity"}
        signed.update(headers)
        if target.host_header is not None:
            signed["Host"] = target.host_header
        self.sign(signing.SigningRequest(method, bucket, key, query, signed))
        prepared = requests.PreparedRequest()
        # Prepared directly rather than through Session.request: that path could replace the
        # Authorization header with credentials from ~/.netrc.
        prepared.prepare(method=method, url=target.url, headers=signed, data=payload)
        return prepared

    def _read_answer(self, response: requests.Response, op: str, bucket: str | None, key: str | None) -> None:
        """
        Read a successful answer's body into ``response.content``, at most :data:`MAX_ANSWER_BODY`.

        :raises OssResponseError: for a longer body (the connection is closed, the rest never read).
        """
        body = read_capped(response, MAX_ANSWER_BODY)
        if body is None:
            raise OssResponseError(
                f"{op} {describe_address(bucket, key)}: {self.config.endpoint_url} answered HTTP {response.status_code} "
                f"with a body of more than {MAX_ANSWER_BODY >> 20} MiB, which is not an OSS answer (a proxy or "
                "a wrong endpoint?): check the connection's endpoint."
            )
        response._content = body  # requests' own cache of the body: response.content returns it

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


def _warn_insecure(endpoint: str) -> None:
    with _insecure_lock:
        if endpoint in _insecure_warned:
            return
        _insecure_warned.add(endpoint)
    log.warning(
        "TLS certificate verification is disabled (verify=False) for %s: anyone on the network path "
        "can read and alter the traffic. Give a CA bundle path instead.",
        endpoint,
    )
