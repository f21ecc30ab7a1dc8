"""Strict decimal numbers in requests: ASCII digits only (the client's own parser, shared)."""

from __future__ import annotations

from airflow_provider_oss.core.numbers import is_decimal

__all__ = ["is_decimal"]
