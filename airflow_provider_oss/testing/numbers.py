"""Strict decimal numbers in requests: ASCII digits only (``str.isdigit`` also accepts superscripts and other scripts' digits)."""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits ``0-9``, nothing else."""
    return text.isascii() and text.isdigit()
