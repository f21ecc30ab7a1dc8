"""The local server reads the numbers in a client's request as ASCII digits only, as the client does."""

from __future__ import annotations

import pytest

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.auth import Authenticator
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.ops_copy import _RANGE_RE


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "1_0", "+1", " 1", ""])
def test_request_numbers_are_ascii_digits(text: str) -> None:
    assert not is_decimal(text)
    assert is_decimal("0123")


def test_a_copy_source_range_in_other_digits_is_not_a_range() -> None:
    assert _RANGE_RE.match("bytes=0-9") is not None
    assert _RANGE_RE.match("bytes=0-\u0669") is None
    assert _RANGE_RE.match("bytes=\u0660-9") is None


def test_an_x_oss_date_in_other_digits_is_refused() -> None:
    assert Authenticator._parse_v4_time("20240601T083000Z", "x-oss-date") > 0
    with pytest.raises(OssApiError):
        Authenticator._parse_v4_time("\u0662\u0660\u0662\u0664" + "0601T083000Z", "x-oss-date")
