"""The ``OssError`` family: errors that carry what OSS said, and never any credential."""

from __future__ import annotations

from typing import Any


class OssError(Exception):
    """
    Base class of every error this package raises for a user to catch.

    Errors cross process boundaries in Airflow (a task's exception is pickled to its supervisor),
    so every subclass, whatever its constructor, round-trips through :mod:`pickle`: the base pickles
    the message arguments and the attributes, not the constructor's parameters.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, self.__dict__.copy()))


def _rebuild_error(cls: type[OssError], args: tuple[Any, ...], state: dict[str, Any]) -> OssError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class OssClientError(OssError, ValueError):
    """A request that this client refuses before sending it: an invalid bucket, key, or argument."""


class OssConnectionError(OssError):
    """The endpoint could not be reached or the connection broke (after the configured retries)."""

    def __init__(self, message: str, *, method: str = "", key: str | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.method = method
        self.key = key
        self.attempts = attempts


class OssResponseError(OssError):
    """
    A successful-looking answer that OSS would never send: a write without its ``ETag`` or CRC-64,
    a body that is not OSS's XML, a body without end. The endpoint is probably not OSS (a proxy, a
    captive portal, a wrong host), so nothing it said is trusted; the message names the endpoint and
    what was missing.
    """


class CrcMismatchError(OssError):
    """The CRC-64 that OSS computed differs from the one computed locally: the bytes were damaged."""

    def __init__(
        self,
        message: str,
        *,
        local_crc: int,
        server_crc: int,
        key: str | None = None,
        part_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.local_crc = local_crc
        self.server_crc = server_crc
        self.key = key
        self.part_number = part_number


# OSS error codes that a retry can fix (the request itself was fine).
RETRYABLE_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "RequestTimeout", "SlowDown", "Throttling"}
)
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "SecurityTokenExpired",
        "InvalidSecurityToken",
        "AccessKeyIdDisabled",
        "RequestTimeTooSkewed",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchUpload"})


class OssServiceError(OssError):
    """
    An error response from OSS (or a compatible server).

    :param status: the HTTP status code.
    :param code: OSS's ``Code`` (``NoSuchKey``, ``SignatureDoesNotMatch``...), empty if the body had none.
    :param message: OSS's ``Message``.
    :param request_id: ``RequestId`` from the body, or the ``x-oss-request-id`` header.
    :param host_id: ``HostId`` from the body.
    :param ec: OSS's ``EC`` diagnostic code, which Alibaba's docs index.
    :param method: the HTTP method of the failed request.
    :param bucket: the bucket of the failed request.
    :param key: the object key of the failed request.
    :param details: other elements of the error body (``ServerTime``, ``PartNumber``...).
    """

    def __init__(
        self,
        *,
        status: int,
        code: str = "",
        message: str = "",
        request_id: str = "",
        host_id: str = "",
        ec: str = "",
        method: str = "",
        bucket: str | None = None,
        key: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.host_id = host_id
        self.ec = ec
        self.method = method
        self.bucket = bucket
        self.key = key
        self.details = details or {}
        super().__init__(self._describe())

    def _describe(self) -> str:
        target = ""
        if self.bucket:
            target = f" oss://{self.bucket}/{self.key}" if self.key else f" oss://{self.bucket}"
        text = f"{self.method}{target} failed: HTTP {self.status} {self.code or 'error'}"
        if self.message:
            text += f": {self.message}"
        hint = _HINTS.get(self.code)
        if hint:
            text += f" ({hint})"
        ids = [f"RequestId={self.request_id}" if self.request_id else "", f"EC={self.ec}" if self.ec else ""]
        ids_text = ", ".join(i for i in ids if i)
        return f"{text} [{ids_text}]" if ids_text else text

    @property
    def retryable(self) -> bool:
        """True when sending the same request again may succeed (5xx, 429, throttling)."""
        return self.status >= 500 or self.status == 429 or self.code in RETRYABLE_CODES


class OssNotFoundError(OssServiceError):
    """404: ``NoSuchKey``, ``NoSuchBucket`` or ``NoSuchUpload``."""


class OssAuthError(OssServiceError):
    """403 from authentication or authorisation: wrong key or secret, bad signature, denied access."""


class OssPreconditionError(OssServiceError):
    """412 or 304: a conditional request whose condition failed."""


class CallbackFailedError(OssServiceError):
    """
    HTTP 203 ``CallbackFailed``: the object IS stored (its ETag and CRC-64 were checked), but OSS's
    upload callback to the application server failed. OSS never retries a callback, and neither does
    a retry of the upload (the object exists, so nothing is sent again).

    :param etag: the stored object's ETag.
    :param crc64: the stored object's CRC-64.
    :param callback_url: the callback URL(s) without query string or user info.
    """

    def __init__(
        self, *, etag: str = "", crc64: int | None = None, callback_url: str = "", **kwargs: Any
    ) -> None:
        self.etag = etag
        self.crc64 = crc64
        self.callback_url = callback_url
        self.object_stored = True
        super().__init__(**kwargs)

    def _describe(self) -> str:
        target = f"oss://{self.bucket}/{self.key}" if self.bucket else "the object"
        return (
            f"{self.method} {target}: the object IS stored (ETag {self.etag}, CRC-64 {self.crc64}), but the upload "
            f"callback to {self.callback_url or 'the callback URL'} failed: HTTP {self.status} {self.code}"
            + (f": {self.message.rstrip('.')}" if self.message else "")
            + ". OSS does not retry callbacks: fix the callback server, then notify it yourself (uploading the "
            "object again would fire the callback again)."
            + (f" [RequestId={self.request_id}]" if self.request_id else "")
        )


_HINTS = {
    "InvalidAccessKeyId": "check the connection's login (AccessKeyId)",
    "SignatureDoesNotMatch": "check the connection's password (AccessKeySecret), region and signature_version",
    "SecurityTokenExpired": "the STS token in the connection extra 'security_token' has expired",
    "InvalidSecurityToken": "check the STS token in the connection extra 'security_token'",
    "AccessDenied": "the credentials lack permission for this bucket or key",
    "NoSuchBucket": "check the bucket name and the region or endpoint",
    "RequestTimeTooSkewed": "the worker's clock differs from the server's by more than 15 minutes",
    "SecondLevelDomainForbidden": "real OSS needs virtual-hosted addressing: set addressing_style='virtual'",
}


def service_error_class(status: int, code: str) -> type[OssServiceError]:
    """Pick the most specific ``OssServiceError`` subclass for an HTTP status and OSS code."""
    if status == 404 or code in NOT_FOUND_CODES:
        return OssNotFoundError
    if status == 403 or code in AUTH_CODES:
        return OssAuthError
    if status in (304, 412) or code == "FileAlreadyExists":  # x-oss-forbid-overwrite refused
        return OssPreconditionError
    return OssServiceError
