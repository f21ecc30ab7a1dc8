"""
From a raw HTTP request to an OSS operation: the decoded query, the bucket and key (path-style,
virtual-hosted or CNAME addressing) and the operation name used in the request log and by faults.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.oss_headers import unhonoured_headers

#: Every operation name the server knows (``op`` in the request log and in fault rules).
OPERATIONS = (
    "PutObject",
    "GetObject",
    "HeadObject",
    "GetObjectMeta",
    "DeleteObject",
    "DeleteMultipleObjects",
    "CopyObject",
    "ListObjects",
    "ListObjectsV2",
    "InitiateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "AppendObject",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "ListMultipartUploads",
    "GetBucketInfo",
    "GetBucketLocation",
    "HeadBucket",
    "PutBucket",
    "DeleteBucket",
    "ListBuckets",
    "ListObjectVersions",
    "PutBucketVersioning",
    "GetBucketVersioning",
    "ListLiveChannels",
    "Unsupported",
)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def valid_bucket_name(name: str) -> bool:
    """OSS bucket names: 3-63 characters, lower-case letters, digits and hyphens, alphanumeric at both ends."""
    return bool(_BUCKET_RE.match(name))


def parse_query(raw: str) -> list[tuple[str, str]]:
    """
    Decode a raw query string into ``(name, value)`` pairs, in order.

    ``+`` is a space (the form encoding oss2 and requests send; a plus sign arrives as ``%2B``), and a
    bare ``name`` gives ``(name, "")``.
    """
    pairs: list[tuple[str, str]] = []
    for item in raw.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


@dataclass(frozen=True)
class Target:
    """The resource a request addresses."""

    bucket: str | None
    key: str | None
    virtual_hosted: bool = False


def split_host(host: str) -> str:
    """The host name of a ``Host`` header, without the port, lower-case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


def resolve_target(
    host_header: str,
    raw_path: str,
    virtual_host_domain: str,
    default_bucket: str | None,
    bucket_exists: Callable[[str], bool],
) -> Target:
    """
    Find the bucket and key of a request.

    Virtual-hosted: ``Host: <bucket>.<virtual_host_domain>[:port]`` and the path is the key.
    Path-style (any other host, such as ``127.0.0.1:PORT``): ``/<bucket>/<key>``. CNAME-style: when
    ``default_bucket`` is set and the first path segment is not an existing bucket, the whole path
    is a key of ``default_bucket``.

    :raises OssApiError: ``InvalidBucketName`` for a virtual host that cannot be a bucket.
    """
    host = split_host(host_header)
    domain = virtual_host_domain.lower()
    path = unquote(raw_path)
    if not path.startswith("/"):
        raise OssApiError(400, "InvalidURI", "The request path must start with '/'.")
    if domain and host.endswith("." + domain):
        bucket = host[: -len(domain) - 1]
        if not valid_bucket_name(bucket):
            raise OssApiError(
                400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket
            )
        return Target(bucket, path[1:] or None, virtual_hosted=True)
    first, _, rest = path[1:].partition("/")
    if default_bucket and not (first and bucket_exists(first)):
        return Target(default_bucket, path[1:] or None)
    if not first:
        return Target(None, None)
    if not valid_bucket_name(first):
        raise OssApiError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=first)
    return Target(first, rest or None)


def resolve_op(
    method: str, target: Target, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> str:
    """
    The OSS operation name of a request: ``Unsupported`` when the server does not implement the
    method or a query parameter of it (an allow-list: whatever is not known to be implemented is
    refused, never served as a plainer operation), or an ``x-oss-`` header OSS applies there
    (:mod:`~airflow_provider_oss.testing.oss_headers`; headers OSS ignores there are ignored).
    """
    op = _base_op(method, target, query, headers)
    if op == "Unsupported":
        return op
    names = {name for name, _ in query} - AUTH_PARAMS
    if not names <= OP_PARAMS.get(op, frozenset()):
        return "Unsupported"
    if unhonoured_headers(op, headers, OP_HEADERS):
        return "Unsupported"
    return op


def unsupported_reason(
    method: str, target: Target, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> str:
    """Why :func:`resolve_op` answered ``Unsupported`` (for the NotImplemented message)."""
    op = _base_op(method, target, query, headers)
    if op == "Unsupported":
        names = sorted({name for name, _ in query} - AUTH_PARAMS)
        return f"{method} with the query parameters {names}" if names else f"{method} on this resource"
    extra = sorted({name for name, _ in query} - AUTH_PARAMS - OP_PARAMS.get(op, frozenset()))
    if extra:
        return f"the query parameter(s) {', '.join(extra)} of {op}"
    return f"the header(s) {', '.join(unhonoured_headers(op, headers, OP_HEADERS))} of {op}"


def _base_op(  # noqa: C901, PLR0911, PLR0912  # the operation table of OSS's REST API, one return per operation
    method: str, target: Target, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> str:
    names = {name for name, _ in query}
    if target.bucket is None:
        return "ListBuckets" if method == "GET" else "Unsupported"
    if target.key is None:
        bucket_ops = {
            ("GET", "uploads"): "ListMultipartUploads",
            ("GET", "bucketInfo"): "GetBucketInfo",
            ("GET", "location"): "GetBucketLocation",
            ("GET", "versions"): "ListObjectVersions",
            ("GET", "versioning"): "GetBucketVersioning",
            ("PUT", "versioning"): "PutBucketVersioning",
            ("GET", "live"): "ListLiveChannels",
            ("POST", "delete"): "DeleteMultipleObjects",
        }
        for (verb, flag), op in bucket_ops.items():
            if method == verb and flag in names:
                return op
        if method == "GET":
            return "ListObjectsV2" if ("list-type", "2") in query else "ListObjects"
        return {"HEAD": "HeadBucket", "PUT": "PutBucket", "DELETE": "DeleteBucket"}.get(method, "Unsupported")
    if method == "PUT":
        if "partNumber" in names or "uploadId" in names:
            return "UploadPartCopy" if "x-oss-copy-source" in headers else "UploadPart"
        return "CopyObject" if "x-oss-copy-source" in headers else "PutObject"
    if method == "POST":
        if "append" in names:
            return "AppendObject"
        if "uploads" in names:
            return "InitiateMultipartUpload"
        if "uploadId" in names:
            return "CompleteMultipartUpload"
        return "Unsupported"
    if method == "GET":
        return "ListParts" if "uploadId" in names else "GetObject"
    if method == "HEAD":
        return "GetObjectMeta" if "objectMeta" in names else "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in names else "DeleteObject"
    return "Unsupported"


#: Query parameters of request signing, accepted on every operation (the authenticator checks them).
AUTH_PARAMS = frozenset(
    {
        "OSSAccessKeyId", "Expires", "Signature", "security-token", "x-oss-signature-version",
        "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature", "x-oss-additional-headers",
        "x-oss-security-token",
    }
)  # fmt: skip

_LIST_PARAMS = frozenset({"prefix", "delimiter", "max-keys", "encoding-type"})

#: The query parameters each operation implements; any other answers NotImplemented.
OP_PARAMS: dict[str, frozenset[str]] = {
    "ListBuckets": frozenset({"prefix", "marker", "max-keys"}),
    "ListObjectVersions": _LIST_PARAMS | {"versions", "key-marker", "version-id-marker"},
    "ListLiveChannels": frozenset({"live", "prefix", "marker", "max-keys"}),
    "ListObjects": _LIST_PARAMS | {"marker"},
    "ListObjectsV2": _LIST_PARAMS | {"list-type", "continuation-token", "start-after", "fetch-owner"},
    "ListMultipartUploads": frozenset(
        {"uploads", "prefix", "delimiter", "key-marker", "upload-id-marker", "max-uploads", "encoding-type"}
    ),
    "GetBucketInfo": frozenset({"bucketInfo"}),
    "GetBucketLocation": frozenset({"location"}),
    "GetBucketVersioning": frozenset({"versioning"}),
    "PutBucketVersioning": frozenset({"versioning"}),
    "DeleteMultipleObjects": frozenset({"delete", "encoding-type"}),
    "GetObject": frozenset(
        {
            "response-content-type", "response-content-language", "response-expires",
            "response-cache-control", "response-content-disposition", "response-content-encoding",
            "versionId",
        }
    ),
    "HeadObject": frozenset({"versionId"}),
    "DeleteObject": frozenset({"versionId"}),
    "GetObjectMeta": frozenset({"objectMeta", "versionId"}),
    "InitiateMultipartUpload": frozenset({"uploads", "encoding-type"}),
    "UploadPart": frozenset({"partNumber", "uploadId"}),
    # versionId: oss2 repeats the source version of x-oss-copy-source as a query parameter; the
    # header names the source (the parameter is accepted and not used).
    "UploadPartCopy": frozenset({"partNumber", "uploadId", "versionId"}),
    "AppendObject": frozenset({"append", "position"}),
    "CompleteMultipartUpload": frozenset({"uploadId", "encoding-type"}),
    "AbortMultipartUpload": frozenset({"uploadId"}),
    "ListParts": frozenset({"uploadId", "max-parts", "part-number-marker", "encoding-type"}),
}  # fmt: skip

_OBJECT_WRITE_HEADERS = frozenset(
    {
        "x-oss-storage-class", "x-oss-object-acl", "x-oss-server-side-encryption",
        "x-oss-server-side-encryption-key-id", "x-oss-server-side-data-encryption",
        "x-oss-forbid-overwrite",
    }
)  # fmt: skip

_COPY_SOURCE_HEADERS = frozenset(
    {
        "x-oss-copy-source", "x-oss-copy-source-if-match", "x-oss-copy-source-if-none-match",
        "x-oss-copy-source-if-modified-since", "x-oss-copy-source-if-unmodified-since",
    }
)  # fmt: skip

#: The ``x-oss-`` headers each operation implements; one OSS applies there that is not listed here
#: answers NotImplemented (:mod:`~airflow_provider_oss.testing.oss_headers`).
OP_HEADERS: dict[str, frozenset[str]] = {
    "PutObject": _OBJECT_WRITE_HEADERS | {"x-oss-traffic-limit", "x-oss-callback", "x-oss-callback-var"},
    "AppendObject": _OBJECT_WRITE_HEADERS - {"x-oss-forbid-overwrite"} | {"x-oss-traffic-limit"},
    "UploadPart": frozenset(
        {
            "x-oss-traffic-limit",
            "x-oss-server-side-encryption",
            "x-oss-server-side-encryption-key-id",
            "x-oss-server-side-data-encryption",
        }
    ),  # fmt: skip  (encryption headers: refused with InvalidArgument, as OSS)
    "CopyObject": _OBJECT_WRITE_HEADERS | _COPY_SOURCE_HEADERS | {"x-oss-metadata-directive"},
    "UploadPartCopy": _COPY_SOURCE_HEADERS
    | {
        "x-oss-copy-source-range",
        "x-oss-traffic-limit",
        "x-oss-server-side-encryption",
        "x-oss-server-side-encryption-key-id",
        "x-oss-server-side-data-encryption",
    },  # (encryption headers: refused with InvalidArgument, as OSS)
    "InitiateMultipartUpload": _OBJECT_WRITE_HEADERS,
    "CompleteMultipartUpload": frozenset(
        {
            "x-oss-forbid-overwrite",
            "x-oss-complete-all",
            "x-oss-object-acl",
            "x-oss-callback",
            "x-oss-callback-var",
        }
    ),
    "GetObject": frozenset({"x-oss-range-behavior"}),
    "HeadObject": frozenset({"x-oss-range-behavior"}),
    "PutBucket": frozenset({"x-oss-acl"}),
}
