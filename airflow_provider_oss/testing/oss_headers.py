"""
The ``x-oss-`` request headers OSS takes on each operation the local server implements, from OSS's
API reference (as alibabacloud-oss-v2's request models carry them), and which of them the server
cannot honour.

OSS ignores a header an operation does not take (``x-oss-forbid-overwrite`` on GetObject,
``x-oss-object-acl`` on UploadPart, a client's own ``x-oss-user``...), and so does the server. A
header OSS applies on that operation but the server does not implement (``x-oss-tagging`` on
PutObject, ``x-oss-traffic-limit`` on GetObject...) answers 501 NotImplemented: the request is never
served as if the header were not there. ``x-oss-request-payer``, which OSS takes everywhere, is
ignored: the server has no requester-pays buckets, and OSS bills the owner's own requests to the
owner whatever the header says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_WORM = frozenset(
    {"x-oss-object-worm-legal-hold", "x-oss-object-worm-mode", "x-oss-object-worm-retain-until-date"}
)
_ENCRYPTION = frozenset(
    {
        "x-oss-server-side-encryption",
        "x-oss-server-side-data-encryption",
        "x-oss-server-side-encryption-key-id",
    }
)
_COPY_IF = frozenset(
    {
        "x-oss-copy-source-if-match", "x-oss-copy-source-if-none-match",
        "x-oss-copy-source-if-modified-since", "x-oss-copy-source-if-unmodified-since",
    }
)  # fmt: skip
_OBJECT_WRITE = _ENCRYPTION | {
    "x-oss-forbid-overwrite",
    "x-oss-object-acl",
    "x-oss-storage-class",
    "x-oss-tagging",
}

#: The ``x-oss-`` headers (besides ``x-oss-meta-*`` and the request payer) OSS takes per operation.
OSS_OPERATION_HEADERS: dict[str, frozenset[str]] = {
    "PutObject": _OBJECT_WRITE | _WORM | {"x-oss-callback", "x-oss-callback-var", "x-oss-traffic-limit"},
    "AppendObject": _OBJECT_WRITE | {"x-oss-traffic-limit"},
    "CopyObject": _OBJECT_WRITE
    | _WORM
    | _COPY_IF
    | {"x-oss-copy-source", "x-oss-metadata-directive", "x-oss-tagging-directive", "x-oss-traffic-limit"},
    "InitiateMultipartUpload": _OBJECT_WRITE - {"x-oss-object-acl"} | _WORM,
    "UploadPart": frozenset({"x-oss-traffic-limit"}),
    "UploadPartCopy": _COPY_IF | {"x-oss-copy-source", "x-oss-copy-source-range", "x-oss-traffic-limit"},
    "CompleteMultipartUpload": frozenset(
        {
            "x-oss-callback",
            "x-oss-callback-var",
            "x-oss-complete-all",
            "x-oss-forbid-overwrite",
            "x-oss-object-acl",
        }
    ),
    "GetObject": frozenset({"x-oss-range-behavior", "x-oss-traffic-limit"}),
    "DeleteObject": frozenset({"x-oss-bypass-governance-retention"}),
    "DeleteMultipleObjects": frozenset({"x-oss-bypass-governance-retention"}),
    "PutBucket": frozenset({"x-oss-acl", "x-oss-bucket-tagging", "x-oss-resource-group-id"}),
    "ListBuckets": frozenset({"x-oss-resource-group-id"}),
}


def unhonoured_headers(
    op: str, headers: Iterable[str], implemented: Mapping[str, frozenset[str]]
) -> list[str]:
    """
    The request ``headers`` (lower-case names) that OSS applies on ``op`` but the server does not
    implement (``implemented[op]``), sorted; every other ``x-oss-`` header is served or ignored as OSS.
    """
    applied = OSS_OPERATION_HEADERS.get(op, frozenset()) - implemented.get(op, frozenset())
    return sorted(name for name in headers if name in applied)
