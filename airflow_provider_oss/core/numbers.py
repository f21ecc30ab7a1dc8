"""
Numbers read from what a server sent: ASCII digits ``0-9`` only.

``str.isdigit`` also accepts ``"²"`` (after which ``int()`` raises a bare ``ValueError``) and
``int()`` accepts other scripts' digits, ``"1_000"``, ``"+5"`` and surrounding spaces: none of
these is a number OSS sends. Every header (and the local server's every request field) that becomes
a number is read here.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_oss.core.errors import OssResponseError


def is_decimal(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits ``0-9``, nothing else."""
    return text.isascii() and text.isdigit()


def ascii_int(text: str | None) -> int | None:
    """The value of ``text`` when it is one or more ASCII digits (nothing else), else None."""
    if text is None or not is_decimal(text):
        return None
    return int(text)


def header_int(headers: Mapping[str, str], name: str, context: str) -> int | None:
    """
    A header whose value is a non-negative decimal number.

    :param headers: the answer's headers (a case-insensitive mapping).
    :param name: the header's name.
    :param context: what was asked of whom, for the message (``GetObject oss://b/k from <endpoint>``).
    :return: the number, or None when the header is absent.
    :raises OssResponseError: when the header is there but is not ASCII digits.
    """
    raw = headers.get(name)
    if raw is None:
        return None
    value = ascii_int(raw.strip())
    if value is None:
        raise OssResponseError(
            f"{context}: the {name} header is {raw[:80]!r}, not a number in ASCII digits as OSS sends it: "
            "the answer is not trusted (a proxy or a wrong endpoint?). Check the connection's endpoint."
        )
    return value
