"""
Strict request authentication for the local server: V4 and V1 signatures, in the ``Authorization``
header or in a presigned URL, STS tokens, the signing region and the request time.

The canonical request is rebuilt from what was received with the same functions the client signs
with (:mod:`airflow_provider_oss.core.signing`), and signatures are compared in constant time.
Secrets never appear in an error: an echoed canonical request has its STS token masked.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from airflow_provider_oss.core import signing
from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.xmlresp import iso_time

_TOKEN_MASK = "<security token hidden>"  # noqa: S105  # a placeholder, not a secret


def _v2_not_implemented() -> OssApiError:
    return OssApiError(
        501,
        "NotImplemented",
        "The local OSS server does not implement signature version 2 (OSS2); sign with V4 or V1.",
    )


@dataclass(frozen=True)
class AuthResult:
    """
    Who sent a request and how.

    :param scheme: ``v4``, ``v4-presigned``, ``v1``, ``v1-presigned`` or ``anonymous``.
    :param access_key_id: the access key id, None when anonymous.
    """

    scheme: str
    access_key_id: str | None = None

    @property
    def anonymous(self) -> bool:
        """True for a request without any signature."""
        return self.scheme == "anonymous"


class Authenticator:
    """
    Verifies requests against the server's access keys.

    :param secrets: access key id -> access key secret.
    :param tokens: access key id -> the STS token its requests must carry (keys without one must not
        send a token).
    :param region: the server's region; V4 scopes must name it.
    :param allow_v1: accept V1 (HMAC-SHA1) signatures.
    :param max_skew_seconds: how far a request time may be from the server clock.
    :param clock: returns the server time (epoch seconds, including any test clock offset).
    """

    def __init__(
        self,
        secrets: Mapping[str, str],
        tokens: Mapping[str, str],
        region: str,
        allow_v1: bool,
        max_skew_seconds: int,
        clock: Callable[[], float],
    ) -> None:
        self._secrets = dict(secrets)
        self._tokens = dict(tokens)
        self.region = region
        self.allow_v1 = allow_v1
        self.max_skew_seconds = max_skew_seconds
        self._clock = clock

    def authenticate(self, request: signing.SigningRequest) -> AuthResult:
        """
        Verify a request.

        :param request: the request as received, its header names lower-cased (the same value the
            client signed: :class:`~airflow_provider_oss.core.signing.SigningRequest`).
        :raises OssApiError: when the request is not properly signed.
        """
        params = dict(request.query)
        authorization = request.headers.get("authorization", "")
        if authorization:
            if authorization.startswith(signing.V4_ALGORITHM):
                return self._v4_header(request, authorization)
            if authorization.startswith("OSS "):
                self._require_v1()
                return self._v1_header(request, authorization)
            if authorization.startswith("OSS2 "):
                raise _v2_not_implemented()
            raise invalid_argument("Authorization header is invalid: use OSS4-HMAC-SHA256 or OSS.")
        if params.get("x-oss-signature-version") == "OSS2":
            raise _v2_not_implemented()
        if "x-oss-signature" in params or "x-oss-signature-version" in params:
            return self._v4_presigned(request, params)
        if "Signature" in params or "OSSAccessKeyId" in params:
            self._require_v1()
            return self._v1_presigned(request, params)
        return AuthResult("anonymous")

    # -- shared checks ---------------------------------------------------------------------------

    def _require_v1(self) -> None:
        if not self.allow_v1:
            raise OssApiError(
                403,
                "AccessDenied",
                "Signature version 1 is not allowed by this server (allow_v1=False): sign with V4.",
            )

    def _secret(self, access_key_id: str) -> str:
        secret = self._secrets.get(access_key_id)
        if secret is None:
            raise OssApiError(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                OSSAccessKeyId=access_key_id,
            )
        return secret

    def _check_token(self, access_key_id: str, token: str | None) -> None:
        expected = self._tokens.get(access_key_id)
        if expected is None:
            if token:
                raise OssApiError(
                    403,
                    "InvalidSecurityToken",
                    "The request carries a security token, but its access key is not a temporary (STS) key.",
                )
            return
        if not token:
            raise OssApiError(
                403,
                "InvalidSecurityToken",
                "This access key is a temporary (STS) key: the request must carry its security token.",
            )
        if not hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
            raise OssApiError(403, "InvalidSecurityToken", "The security token you provided is invalid.")

    def _check_region(self, region: str, where: str) -> None:
        if region != self.region:  # OSS's own messages (SDK suites compare them)
            if where == "Authorization header":
                raise invalid_argument("Invalid signing region in Authorization header.")
            raise invalid_argument("The signing region in credential is invalid.")

    def _check_skew(self, request_time: float) -> None:
        now = self._clock()
        if abs(now - request_time) > self.max_skew_seconds:
            raise OssApiError(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                RequestTime=iso_time(request_time),
                ServerTime=iso_time(now),
                MaxAllowedSkewMilliseconds=self.max_skew_seconds * 1000,
            )

    @staticmethod
    def _parse_v4_time(value: str, where: str) -> float:
        try:
            if not value.isascii():  # strptime takes any script's digits
                raise ValueError(value)
            parsed = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise invalid_argument(
                f"{where} must be a time in the form YYYYMMDDTHHMMSSZ.", where, value
            ) from None
        return parsed.timestamp()

    def _accept(
        self,
        scheme: str,
        access_key_id: str,
        expected: str,
        given: str,
        token: str | None,
        string_to_sign: str,
        canonical: str,
    ) -> AuthResult:
        """Compare the signature in constant time, then check the STS token; the result on success."""
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            raise self._mismatch(string_to_sign, canonical, token)
        self._check_token(access_key_id, token)
        return AuthResult(scheme, access_key_id)

    @staticmethod
    def _mismatch(string_to_sign: str, canonical: str, token: str | None) -> OssApiError:
        shown = canonical.replace(token, _TOKEN_MASK) if token else canonical
        shown_sts = string_to_sign.replace(token, _TOKEN_MASK) if token else string_to_sign
        details = {"StringToSign": shown_sts}
        if canonical:
            details["CanonicalRequest"] = shown
        return OssApiError.with_details(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            details,
        )

    # -- V4 --------------------------------------------------------------------------------------

    def _v4_header(self, request: signing.SigningRequest, authorization: str) -> AuthResult:
        headers = request.headers
        try:
            auth = signing.parse_v4_authorization(authorization)
        except ValueError as err:
            raise invalid_argument(f"Authorization header is invalid: {err}.") from None
        if auth.product != "oss":
            raise invalid_argument("Invalid signing product in Authorization header.")
        secret = self._secret(auth.access_key_id)
        self._check_region(auth.region, "Authorization header")
        timestamp = headers.get("x-oss-date", "")
        if not timestamp:
            raise invalid_argument("A V4 signed request needs the x-oss-date header.", "x-oss-date")
        request_time = self._parse_v4_time(timestamp, "x-oss-date")
        if auth.date != timestamp[:8]:
            raise invalid_argument(
                "Invalid signing date in Authorization header: the credential scope date differs from x-oss-date."
            )
        self._check_skew(request_time)
        payload = headers.get("x-oss-content-sha256")
        if payload != signing.UNSIGNED_PAYLOAD:
            raise invalid_argument(
                "A V4 signed request needs the header x-oss-content-sha256: UNSIGNED-PAYLOAD.",
                "x-oss-content-sha256",
                payload or "",
            )
        additional = [name.lower() for name in auth.additional_headers]
        canonical = signing.v4_canonical_request(request, additional)
        expected = signing.v4_signature(secret, auth.region, timestamp, canonical)
        sts = signing.v4_string_to_sign(timestamp, signing.v4_scope(auth.date, auth.region), canonical)
        token = headers.get("x-oss-security-token")
        return self._accept("v4", auth.access_key_id, expected, auth.signature, token, sts, canonical)

    def _v4_presigned(self, request: signing.SigningRequest, params: Mapping[str, str]) -> AuthResult:
        for name in (
            "x-oss-signature-version",
            "x-oss-credential",
            "x-oss-date",
            "x-oss-expires",
            "x-oss-signature",
        ):
            if not params.get(name):
                raise invalid_argument(f"A V4 presigned URL needs the query parameter {name}.", name)
        if params["x-oss-signature-version"] != signing.V4_ALGORITHM:
            raise invalid_argument(
                "Unsupported x-oss-signature-version.",
                "x-oss-signature-version",
                params["x-oss-signature-version"],
            )
        try:
            access_key_id, date, region = signing.parse_v4_credential(params["x-oss-credential"])
        except ValueError:
            raise invalid_argument(
                "x-oss-credential is invalid.", "x-oss-credential", params["x-oss-credential"]
            ) from None
        secret = self._secret(access_key_id)
        self._check_region(region, "x-oss-credential")
        timestamp = params["x-oss-date"]
        signed_at = self._parse_v4_time(timestamp, "x-oss-date")
        if date != timestamp[:8]:
            raise invalid_argument("Invalid signing date in x-oss-credential.")
        expires = int(params["x-oss-expires"]) if is_decimal(params["x-oss-expires"]) else -1
        if not 0 < expires <= signing.MAX_PRESIGN_EXPIRES:
            raise invalid_argument(
                f"x-oss-expires must be between 1 and {signing.MAX_PRESIGN_EXPIRES} seconds.",
                "x-oss-expires",
                params["x-oss-expires"],
            )
        now = self._clock()
        if signed_at - now > self.max_skew_seconds:
            self._check_skew(signed_at)
        if now > signed_at + expires:
            raise OssApiError(
                403,
                "AccessDenied",
                "Request has expired.",
                Expires=iso_time(signed_at + expires),
                ServerTime=iso_time(now),
            )
        additional = [h.lower() for h in params.get("x-oss-additional-headers", "").split(";") if h]
        unsigned = [(n, v) for n, v in request.query if n != "x-oss-signature"]
        canonical = signing.v4_canonical_request(replace(request, query=unsigned), additional)
        expected = signing.v4_signature(secret, region, timestamp, canonical)
        sts = signing.v4_string_to_sign(timestamp, signing.v4_scope(date, region), canonical)
        token = params.get("x-oss-security-token")
        given = params["x-oss-signature"]
        return self._accept("v4-presigned", access_key_id, expected, given, token, sts, canonical)

    # -- V1 --------------------------------------------------------------------------------------

    def _v1_header(self, request: signing.SigningRequest, authorization: str) -> AuthResult:
        headers = request.headers
        access_key_id, sep, signature = authorization[4:].strip().rpartition(":")
        if not sep or not access_key_id:
            raise invalid_argument(
                "Authorization header is invalid: expected 'OSS <AccessKeyId>:<Signature>'."
            )
        secret = self._secret(access_key_id)
        date = signing.v1_date(headers)  # x-oss-date takes the place of Date when present
        if not date:
            raise OssApiError(403, "AccessDenied", "A V1 signed request needs the Date header.")
        try:
            request_time = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            raise invalid_argument("The Date header is not an HTTP date.", "Date", date) from None
        self._check_skew(request_time)
        string_to_sign = signing.v1_string_to_sign(request, date)
        expected = signing.v1_signature(secret, string_to_sign)
        token = headers.get("x-oss-security-token") or headers.get("security-token")
        return self._accept("v1", access_key_id, expected, signature, token, string_to_sign, "")

    def _v1_presigned(self, request: signing.SigningRequest, params: Mapping[str, str]) -> AuthResult:
        for name in ("OSSAccessKeyId", "Expires", "Signature"):
            if not params.get(name):
                raise invalid_argument(f"A V1 presigned URL needs the query parameter {name}.", name)
        access_key_id = params["OSSAccessKeyId"]
        secret = self._secret(access_key_id)
        if not is_decimal(params["Expires"]):
            raise invalid_argument("Expires must be an epoch time.", "Expires", params["Expires"])
        expires_at = int(params["Expires"])
        now = self._clock()
        if now > expires_at:
            raise OssApiError(
                403,
                "AccessDenied",
                "Request has expired.",
                Expires=iso_time(expires_at),
                ServerTime=iso_time(now),
            )
        unsigned = [(n, v) for n, v in request.query if n != "Signature"]
        string_to_sign = signing.v1_string_to_sign(replace(request, query=unsigned), params["Expires"])
        expected = signing.v1_signature(secret, string_to_sign)
        token = params.get("security-token")
        given = params["Signature"]
        return self._accept("v1-presigned", access_key_id, expected, given, token, string_to_sign, "")
