"""
OSS request signing: Signature V4 (``OSS4-HMAC-SHA256``, the default) and V1 (HMAC-SHA1), for the
``Authorization`` header and for presigned URLs.

Every function here is pure: it takes a :class:`SigningRequest` (method, bucket, key, query,
headers) and returns what to add to it (the header signers add their headers to it). The
client signs each request just before it is sent (never a batch ahead: a V4 signature is valid for
15 minutes), and the local test server calls the same canonicalisation to verify what it receives.
Query values are passed *decoded*; this module does the percent-encoding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import quote

from airflow_provider_oss.core.credentials import Credentials

V4_ALGORITHM = "OSS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: OSS V4 presigned URLs are valid for at most 7 days.
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

#: Query parameters that V1 signs (its "sub-resources": those OSS's documentation, oss2 and
#: alibabacloud-oss-v2 sign); V1 also signs every ``x-oss-`` parameter, and V4 every parameter.
V1_SUBRESOURCES = frozenset(
    {
        "acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta", "uploads",
        "uploadId", "partNumber", "security-token", "position", "response-content-type",
        "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "restore", "callback",
        "callback-var", "versions", "versioning", "versionId", "sequential", "continuation-token",
        "regionList", "cloudboxes", "symlink", "resourceGroup", "lifecycle", "logging", "website",
        "cors", "referer", "policy", "inventory", "inventoryId", "encryption", "worm", "wormId",
        "wormExtend", "style", "styleName", "group", "link", "objectInfo", "qos", "qosInfo", "live",
        "comp", "status", "vod", "startTime", "endTime", "requestPayment", "asyncFetch",
        "replication", "replicationLocation", "replicationProgress", "transferAcceleration", "cname",
        "metaQuery", "bucketArchiveDirectRead", "httpsConfig", "redundancyTransition", "accessPoint",
        "accessPointPolicy", "publicAccessBlock", "requesterQosInfo", "qosRequester",
        "resourcePoolInfo", "resourcePool", "resourcePoolBuckets", "x-oss-process",
        "x-oss-traffic-limit", "x-oss-request-payer", "x-oss-async-process", "x-oss-ac-source-ip",
        "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow",
        "x-oss-write-get-object-response", "x-oss-target-redundancy-type",
        "x-oss-redundancy-transition-taskid", "x-oss-access-point-name",
    }
)  # fmt: skip


def is_v1_signed_param(name: str) -> bool:
    """Whether V1 signs a query parameter: a sub-resource or any ``x-oss-`` parameter."""
    return name in V1_SUBRESOURCES or name.startswith("x-oss-")


QueryPairs = Sequence[tuple[str, str]]


@dataclass
class SigningRequest:
    """
    One request as the signer and the verifier both see it (the model is alibabacloud-oss-v2's
    ``SigningContext``): what every signing function takes instead of repeating the parts.

    :param method: the HTTP method.
    :param bucket: the bucket, or None for a service-level request (ListBuckets).
    :param key: the object key, or None for a bucket-level request.
    :param query: the decoded query parameters (``""`` as the value of a flag such as ``uploads``).
    :param headers: the request headers; :func:`sign_v4` and :func:`sign_v1` add theirs to this dict.
    """

    method: str
    bucket: str | None
    key: str | None
    query: QueryPairs = ()
    headers: dict[str, str] = field(default_factory=dict)


def uri_encode(text: str, safe: str = "") -> str:
    """Percent-encode by RFC 3986: unreserved characters (``A-Z a-z 0-9 - _ . ~``) stay as they are."""
    return quote(text, safe=safe)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names, values trimmed (HTTP strips the whitespace around a value on receipt)."""
    return {name.lower(): value.strip() for name, value in headers.items()}


def trim_header_values(headers: dict[str, str]) -> None:
    """Trim every header value in place, so that what is sent is what is signed."""
    for name, value in headers.items():
        if value != value.strip():
            headers[name] = value.strip()


def is_default_signed_header(lower_name: str) -> bool:
    """V4 always signs ``x-oss-*``, ``content-type`` and ``content-md5``."""
    return lower_name.startswith("x-oss-") or lower_name in ("content-type", "content-md5")


def v4_resource_path(bucket: str | None, key: str | None) -> str:
    """The unencoded resource path: ``/``, ``/bucket/`` or ``/bucket/key``."""
    path = "/"
    if bucket:
        path += bucket + "/"
        if key:
            path += key
    return path


def v4_canonical_uri(bucket: str | None, key: str | None) -> str:
    """The canonical URI: the resource path percent-encoded with ``/`` kept (virtual-hosted or not)."""
    return uri_encode(v4_resource_path(bucket, key), safe="/")


def v4_canonical_query(query: QueryPairs) -> str:
    """Every query parameter, name and value encoded, sorted; a bare name for an empty value."""
    encoded = sorted((uri_encode(name), uri_encode(value)) for name, value in query)
    return "&".join(f"{name}={value}" if value else name for name, value in encoded)


def v4_additional_headers(headers: Mapping[str, str], requested: Iterable[str]) -> list[str]:
    """The requested additional headers that are present, non-empty and not signed anyway, sorted."""
    lower = _lower_headers(headers)
    names = {name.lower() for name in requested}
    return sorted(n for n in names if not is_default_signed_header(n) and lower.get(n, ""))


def v4_canonical_request(request: SigningRequest, additional_headers: Sequence[str] = ()) -> str:
    """
    Build the V4 canonical request.

    :param request: the request, its headers including those the signer added (``x-oss-date``...).
    :param additional_headers: the lower-case names of extra signed headers (already filtered).
    """
    lower = _lower_headers(request.headers)
    signed = sorted(
        (name, value)
        for name, value in lower.items()
        if is_default_signed_header(name) or name in additional_headers
    )
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in signed)
    payload = lower.get("x-oss-content-sha256", UNSIGNED_PAYLOAD)
    return "\n".join(
        [
            request.method.upper(),
            v4_canonical_uri(request.bucket, request.key),
            v4_canonical_query(request.query),
            canonical_headers,
            ";".join(additional_headers),
            payload,
        ]
    )


def v4_scope(date: str, region: str) -> str:
    """The credential scope ``YYYYMMDD/<region>/oss/aliyun_v4_request``."""
    return f"{date}/{region}/oss/aliyun_v4_request"


def v4_string_to_sign(timestamp: str, scope: str, canonical_request: str) -> str:
    """The V4 string to sign over the hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{V4_ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def v4_signing_key(secret: str, date: str, region: str) -> bytes:
    """The HMAC-SHA256 key chain from ``"aliyun_v4" + secret`` over date, region, ``oss``, ``aliyun_v4_request``."""
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (date, region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def v4_signature(secret: str, region: str, timestamp: str, canonical_request: str) -> str:
    """The hex V4 signature of a canonical request signed at ``timestamp`` (``YYYYMMDDTHHMMSSZ``)."""
    date = timestamp[:8]
    string_to_sign = v4_string_to_sign(timestamp, v4_scope(date, region), canonical_request)
    return hmac.new(
        v4_signing_key(secret, date, region), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def v4_timestamp(now: datetime) -> str:
    """Format a time as V4's ``YYYYMMDDTHHMMSSZ`` in UTC."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def http_date(now: datetime) -> str:
    """Format a time as an RFC 7231 HTTP date (``Sat, 01 Jun 2024 08:30:00 GMT``)."""
    return format_datetime(now.astimezone(timezone.utc), usegmt=True)


def sign_v4(
    request: SigningRequest,
    credentials: Credentials,
    region: str,
    now: datetime,
    additional_headers: Iterable[str] = (),
) -> None:
    """
    Sign a request with V4 in the ``Authorization`` header: adds ``x-oss-date``,
    ``x-oss-content-sha256``, ``x-oss-security-token`` (STS) and ``Authorization`` to its headers
    (updated in place; their values trimmed).

    :param request: the request.
    :param credentials: the access key pair and optional STS token.
    :param region: the region id, such as ``cn-hangzhou``.
    :param now: the signing time (corrected for clock skew by the caller).
    :param additional_headers: extra header names to sign (``host``...), if present.
    """
    headers = request.headers
    trim_header_values(headers)
    timestamp = v4_timestamp(now)
    headers["x-oss-date"] = timestamp
    headers["x-oss-content-sha256"] = UNSIGNED_PAYLOAD
    if credentials.security_token:
        headers["x-oss-security-token"] = credentials.security_token
    extra = v4_additional_headers(headers, additional_headers)
    canonical = v4_canonical_request(request, extra)
    signature = v4_signature(credentials.access_key_secret, region, timestamp, canonical)
    auth = f"{V4_ALGORITHM} Credential={credentials.access_key_id}/{v4_scope(timestamp[:8], region)}"
    if extra:
        auth += f",AdditionalHeaders={';'.join(extra)}"
    headers["Authorization"] = f"{auth},Signature={signature}"


def presign_v4(
    request: SigningRequest,
    credentials: Credentials,
    region: str,
    now: datetime,
    expires: int,
    additional_headers: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """
    Presign a request with V4 (query authentication).

    :param request: the request (its headers are only read).
    :param expires: validity in seconds, 1 to 604800 (7 days, OSS's maximum).
    :return: the full decoded query to put in the URL: ``query`` plus the signing parameters,
        ``x-oss-signature`` last.
    """
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise ValueError(
            f"A presigned URL must expire within 1 to {MAX_PRESIGN_EXPIRES} seconds (7 days); got {expires}."
        )
    timestamp = v4_timestamp(now)
    reserved = {
        "x-oss-signature",
        "x-oss-security-token",
        "x-oss-additional-headers",
        "x-oss-signature-version",
        "x-oss-date",
        "x-oss-expires",
        "x-oss-credential",
    }
    pairs = [(n, v) for n, v in request.query if n not in reserved]
    extra = v4_additional_headers(request.headers, additional_headers)
    pairs += [
        ("x-oss-signature-version", V4_ALGORITHM),
        ("x-oss-date", timestamp),
        ("x-oss-expires", str(expires)),
        ("x-oss-credential", f"{credentials.access_key_id}/{v4_scope(timestamp[:8], region)}"),
    ]
    if credentials.security_token:
        pairs.append(("x-oss-security-token", credentials.security_token))
    if extra:
        pairs.append(("x-oss-additional-headers", ";".join(extra)))
    signed = SigningRequest(request.method, request.bucket, request.key, pairs, request.headers)
    canonical = v4_canonical_request(signed, extra)
    pairs.append(
        ("x-oss-signature", v4_signature(credentials.access_key_secret, region, timestamp, canonical))
    )
    return pairs


def v1_canonical_resource(bucket: str | None, key: str | None, query: QueryPairs) -> str:
    """The V1 canonicalized resource: ``/bucket/key`` (unencoded) plus sorted sub-resources."""
    subresources = sorted((n, v) for n, v in query if is_v1_signed_param(n))
    resource = v4_resource_path(bucket, key)
    if subresources:
        resource += "?" + "&".join(f"{n}={v}" if v else n for n, v in subresources)
    return resource


def v1_string_to_sign(request: SigningRequest, date: str) -> str:
    """
    The V1 string to sign.

    :param date: the ``Date`` header for header auth (``x-oss-date`` instead when the request has
        one), or the ``Expires`` epoch for a presigned URL.
    """
    lower = _lower_headers(request.headers)
    oss_headers = "".join(f"{n}:{v}\n" for n, v in sorted(lower.items()) if n.startswith("x-oss-"))
    return "\n".join(
        [
            request.method.upper(),
            lower.get("content-md5", ""),
            lower.get("content-type", ""),
            date,
            oss_headers,
        ]
    ) + v1_canonical_resource(request.bucket, request.key, request.query)


def v1_date(headers: Mapping[str, str]) -> str:
    """The date V1 signs: ``x-oss-date`` when the request has one, else ``Date``."""
    lower = _lower_headers(headers)
    return lower.get("x-oss-date") or lower.get("date", "")


def v1_signature(secret: str, string_to_sign: str) -> str:
    """The base64 HMAC-SHA1 V1 signature."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v1(request: SigningRequest, credentials: Credentials, now: datetime) -> None:
    """
    Sign a request with V1 in the ``Authorization`` header: adds ``Date``, the STS token and
    ``Authorization`` (an ``x-oss-date`` header already there takes the place of ``Date``).
    """
    headers = request.headers
    trim_header_values(headers)
    date = http_date(now)
    headers["Date"] = date
    date = v1_date(headers)
    if credentials.security_token:
        headers["x-oss-security-token"] = credentials.security_token
    string_to_sign = v1_string_to_sign(request, date)
    signature = v1_signature(credentials.access_key_secret, string_to_sign)
    headers["Authorization"] = f"OSS {credentials.access_key_id}:{signature}"


def presign_v1(
    request: SigningRequest, credentials: Credentials, now: datetime, expires: int
) -> list[tuple[str, str]]:
    """Presign with V1: adds ``OSSAccessKeyId``, ``Expires`` (epoch), ``security-token`` and ``Signature``."""
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise ValueError(
            f"A presigned URL must expire within 1 to {MAX_PRESIGN_EXPIRES} seconds (7 days); got {expires}."
        )
    expires_at = str(int(now.timestamp()) + expires)
    pairs = [
        (n, v)
        for n, v in request.query
        if n not in ("Signature", "security-token", "OSSAccessKeyId", "Expires")
    ]
    pairs += [("OSSAccessKeyId", credentials.access_key_id), ("Expires", expires_at)]
    if credentials.security_token:
        pairs.append(("security-token", credentials.security_token))
    signed = SigningRequest(request.method, request.bucket, request.key, pairs, request.headers)
    string_to_sign = v1_string_to_sign(signed, expires_at)
    pairs.append(("Signature", v1_signature(credentials.access_key_secret, string_to_sign)))
    return pairs


@dataclass(frozen=True)
class V4Authorization:
    """The parsed fields of a V4 ``Authorization`` header."""

    access_key_id: str
    date: str
    region: str
    product: str
    additional_headers: tuple[str, ...]
    signature: str


def parse_v4_authorization(value: str) -> V4Authorization:
    """
    Parse ``OSS4-HMAC-SHA256 Credential=ak/date/region/oss/aliyun_v4_request[,AdditionalHeaders=a;b],Signature=hex``.

    :raises ValueError: when the header is not of that form.
    """
    if not value.startswith(V4_ALGORITHM + " "):
        raise ValueError("not an OSS4-HMAC-SHA256 authorization")
    fields: dict[str, str] = {}
    for item in value[len(V4_ALGORITHM) + 1 :].split(","):
        name, sep, val = item.strip().partition("=")
        if not sep:
            raise ValueError(f"malformed authorization field {name!r}")
        fields[name] = val
    if "Credential" not in fields or "Signature" not in fields:
        raise ValueError("authorization lacks Credential or Signature")
    if "AdditionalHeaders" in fields and not fields["AdditionalHeaders"]:
        raise ValueError("AdditionalHeaders is present but empty")
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aliyun_v4_request":
        raise ValueError("malformed Credential scope")
    extra = tuple(h for h in fields.get("AdditionalHeaders", "").split(";") if h)
    return V4Authorization(cred[0], cred[1], cred[2], cred[3], extra, fields["Signature"])


def parse_v4_credential(value: str) -> tuple[str, str, str]:
    """Parse a presigned ``x-oss-credential`` into (access key id, date, region)."""
    cred = value.split("/")
    if len(cred) != 5 or cred[3] != "oss" or cred[4] != "aliyun_v4_request":
        raise ValueError("malformed x-oss-credential")
    return cred[0], cred[1], cred[2]
