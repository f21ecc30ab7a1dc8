"""
Key names: ``oss://bucket/key`` URLs, and glob patterns matched against keys.

Two glob flavours exist because users bring both from other providers:

* :func:`compile_glob` (``match_glob`` of the listing methods, as in the Google provider): ``*``
  and ``?`` stay within one path segment, ``**`` crosses ``/``.
* :func:`fnmatch_keys` (``wildcard_match`` of the sensors, as in S3KeySensor): :mod:`fnmatch`, where
  ``*`` also matches ``/``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from airflow_provider_oss.core.errors import OssClientError

SCHEME = "oss"
_GLOB_CHARS = "*?["


def is_oss_url(value: str) -> bool:
    """Whether ``value`` is written as an ``oss://`` URL (case-insensitive scheme)."""
    return value[:6].lower() == "oss://"


def parse_oss_url(url: str) -> tuple[str, str]:
    """
    Split ``oss://bucket/key`` into ``(bucket, key)``; the key may be empty (``oss://bucket/``).

    :raises OssClientError: when ``url`` is not an ``oss://`` URL with a bucket, or has a query or
        fragment (``?`` and ``#`` would be silently dropped from the key otherwise).
    """
    if not is_oss_url(url):
        raise OssClientError(f"{url!r} is not an oss:// URL (expected oss://bucket/key).")
    parts = urlsplit(url)
    if not parts.netloc:
        raise OssClientError(f"{url!r} names no bucket (expected oss://bucket/key).")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise OssClientError(
            f"{url!r} has a '?' or '#': an oss:// URL carries no query; put such characters in a key "
            "with bucket_name and a plain key instead."
        )
    return parts.netloc, parts.path.removeprefix("/")


def split_key(key: str, bucket_name: str | None) -> tuple[str | None, str]:
    """
    Resolve a key that may be an ``oss://`` URL: return ``(bucket or None, key)``.

    :raises OssClientError: when a URL's bucket contradicts ``bucket_name``.
    """
    if not is_oss_url(key):
        return bucket_name, key
    bucket, plain = parse_oss_url(key)
    if bucket_name and bucket_name != bucket:
        raise OssClientError(
            f"Key {key!r} names bucket {bucket!r} but bucket_name={bucket_name!r}: give one bucket only."
        )
    return bucket, plain


def literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard: the listing prefix that can contain matches."""
    cut = min((i for i in (pattern.find(c) for c in _GLOB_CHARS) if i >= 0), default=len(pattern))
    return pattern[:cut]


def compile_glob(pattern: str) -> re.Pattern[str]:
    """
    Compile a path-aware glob: ``**`` matches anything (``/`` included; ``**/`` also matches no
    directory), ``*`` anything but ``/``, ``?`` one character but ``/``, ``[...]`` a class (``[!...]``
    negated).

    :raises OssClientError: for an empty pattern or an unclosed ``[``.
    """
    if not pattern:
        raise OssClientError("match_glob must be a non-empty pattern such as 'data/**/*.csv'.")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                raise OssClientError(f"match_glob {pattern!r} has an unclosed '['.")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def fnmatch_keys(keys: Iterable[str], pattern: str) -> Iterator[str]:
    """Yield the keys matching ``pattern`` with :func:`fnmatch.fnmatchcase` (``*`` crosses ``/``)."""
    return (key for key in keys if fnmatch.fnmatchcase(key, pattern))
