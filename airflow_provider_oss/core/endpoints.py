"""
Endpoint facts (regions, default endpoints, host syntax), query encoding, and bucket / object key
validation. The settings of a client live in :mod:`airflow_provider_oss.core.client_config`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence

from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.signing import uri_encode

SIGNATURE_VERSIONS = ("v4", "v1")
ADDRESSING_STYLES = ("virtual", "path")
SCHEMES = ("https", "http")

#: The longest object key OSS accepts, in bytes of UTF-8.
MAX_KEY_BYTES = 1023

_REGION_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_HOST_RE = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$")


def validate_bucket_name(bucket: str) -> None:
    """
    Check an OSS bucket name: 3-63 characters of lower-case letters, digits and hyphens, not
    starting or ending with a hyphen.

    :raises OssClientError: naming the bad value and the rule.
    """
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise OssClientError(
            f"Invalid bucket name {bucket!r}: a bucket name is 3-63 characters of lower-case letters, "
            "digits and hyphens, and starts and ends with a letter or digit."
        )


def validate_object_key(key: str) -> None:
    """
    Check an OSS object key: 1 to 1023 bytes of UTF-8, not starting with ``/`` or ``\\``, without
    control characters (any other Unicode is fine).

    :raises OssClientError: naming the bad value and the rule.
    """
    if not isinstance(key, str) or not key:
        raise OssClientError(f"Invalid object key {key!r}: a key must be a non-empty string.")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise OssClientError(
            f"Invalid object key {key!r}: it contains characters that cannot be encoded as UTF-8 "
            "(lone surrogates)."
        ) from None
    if size > MAX_KEY_BYTES:
        raise OssClientError(
            f"Invalid object key {key[:60]!r}...: it is {size} bytes of UTF-8; OSS allows at most "
            f"{MAX_KEY_BYTES} bytes."
        )
    if key[0] in "/\\":
        raise OssClientError(
            f"Invalid object key {key!r}: a key must not start with '/' or '\\' (remove the leading slash)."
        )
    for char in key:
        if unicodedata.category(char) == "Cc":
            raise OssClientError(
                f"Invalid object key {key!r}: it contains the control character U+{ord(char):04X}; "
                "keys must not contain control characters."
            )


def normalize_region(region: str) -> str:
    """
    Return a region id such as ``cn-hangzhou``; ``oss-cn-hangzhou`` is accepted and its prefix removed.

    :raises OssClientError: for an empty or malformed region.
    """
    if not isinstance(region, str) or not region.strip():
        raise OssClientError(
            "The OSS region is required (for example 'cn-hangzhou'): V4 signatures are scoped to it."
        )
    value = region.strip().lower()
    if value.startswith("oss-"):
        value = value[4:]
    if not _REGION_RE.match(value):
        raise OssClientError(
            f"Invalid OSS region {region!r}: use a region id such as 'cn-hangzhou' or 'ap-southeast-1'."
        )
    return value


def default_endpoint(region: str, internal: bool = False) -> str:
    """The public (or VPC-internal) endpoint host of a region: ``oss-<region>[-internal].aliyuncs.com``."""
    return f"oss-{region}{'-internal' if internal else ''}.aliyuncs.com"


def split_host_port(netloc: str) -> tuple[str, str]:
    """Split ``host[:port]`` (IPv6 in brackets) into the host (brackets kept) and ``:port`` or ``""``."""
    if netloc.startswith("["):
        end = netloc.find("]")
        return netloc[: end + 1], netloc[end + 1 :]
    host, sep, port = netloc.partition(":")
    return host, (sep + port if sep else "")


def is_valid_host(endpoint: str) -> bool:
    """True when ``endpoint`` is ``host[:port]`` (a name, an IPv4 address or a bracketed IPv6 address)."""
    return bool(_HOST_RE.match(endpoint))


def is_ip_or_localhost(host: str) -> bool:
    """True for an IP literal (``127.0.0.1``, ``[::1]``) or ``localhost``: hosts with no bucket subdomains."""
    bare = host.strip("[]").lower()
    if bare == "localhost":
        return True
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return False
    return True


def encode_query(query: Sequence[tuple[str, str]]) -> str:
    """Encode decoded query pairs exactly as the signer encodes them (a bare name for an empty value)."""
    return "&".join(uri_encode(n) + ("=" + uri_encode(v) if v else "") for n, v in query)
