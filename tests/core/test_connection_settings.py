"""Connection fields -> credentials and ClientConfig settings (Airflow-free)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.connection_settings import (
    EXTRA_TYPES,
    OssConnectionConfigError,
    coerce_extra,
    parse_connection,
    region_from_endpoint,
    resolve_region,
)


def _parse(extras: dict[str, Any], **fields: Any) -> Any:
    fields.setdefault("login", "ak")
    fields.setdefault("password", "sk")
    return parse_connection("c", extras=extras, **fields)


def test_every_client_config_field_is_an_extra() -> None:
    """The extras table is derived: a new ClientConfig field is a connection extra with no second list."""
    names = {f.name for f in dataclasses.fields(ClientConfig)}
    assert names <= set(EXTRA_TYPES)
    assert set(EXTRA_TYPES) - names == {
        "bucket",
        "security_token",
        "auth_type",
        "access_key_id",
        "access_key_secret",
    }
    assert EXTRA_TYPES["connect_timeout"] is float
    assert EXTRA_TYPES["max_retries"] is int
    assert EXTRA_TYPES["internal"] is bool
    assert set(EXTRA_TYPES["verify"]) == {bool, str}


@pytest.mark.parametrize("unset", [None, "", "   "])
def test_null_empty_and_blank_extras_are_unset(unset: object) -> None:
    """What the Airflow 3.3 form saves for an empty field (JSON null) means "use the default"."""
    extras = dict.fromkeys(EXTRA_TYPES, unset)
    extras["region"] = "cn-hangzhou"
    parsed = _parse(extras)
    assert parsed.client == {"region": "cn-hangzhou"}
    assert parsed.bucket is None
    assert parsed.credentials.security_token is None
    config = ClientConfig(**parsed.client)
    assert config.verify is True
    assert config.connect_timeout == 10.0
    assert config.endpoint == "oss-cn-hangzhou.aliyuncs.com"


def test_typed_extras_from_strings() -> None:
    parsed = _parse(
        {
            "region": " cn-beijing ",
            "internal": "yes",
            "connect_timeout": "2.5",
            "max_retries": "3",
            "verify": "false",
            "resolve": '{"oss-cn-beijing.aliyuncs.com": "127.0.0.1"}',
            "bucket": "b1",
            "security_token": "tok",
        }
    )
    assert parsed.client == {
        "region": "cn-beijing",
        "internal": True,
        "connect_timeout": 2.5,
        "max_retries": 3,
        "verify": False,
        "resolve": {"oss-cn-beijing.aliyuncs.com": "127.0.0.1"},
    }
    assert parsed.bucket == "b1"
    assert parsed.credentials.security_token == "tok"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_retries", 2.5, "'max_retries' must be a int"),
        ("max_retries", True, "'max_retries' must be a int"),
        ("connect_timeout", "soon", "'connect_timeout' must be a float"),
        ("internal", "maybe", "'internal' must be a bool"),
        ("resolve", "[1, 2]", "'resolve' must be a Mapping"),
        ("verify", 3, "'verify' must be a bool or str"),
    ],
)
def test_bad_extra_values_name_the_extra(name: str, value: object, message: str) -> None:
    with pytest.raises(OssConnectionConfigError, match=message):
        coerce_extra("c", name, value)


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("oss-cn-shanghai.aliyuncs.com", "cn-shanghai"),
        ("oss-cn-shanghai-internal.aliyuncs.com", "cn-shanghai"),
        ("https://oss-ap-southeast-1.aliyuncs.com", "ap-southeast-1"),
        ("http://OSS-CN-HANGZHOU-INTERNAL.aliyuncs.com:80/", "cn-hangzhou"),
        ("oss-cn-hangzhou.aliyuncs.com:443", "cn-hangzhou"),
        ("http://127.0.0.1:9000", None),
        ("oss.example.com", None),
        ("bucket.oss-cn-hangzhou.aliyuncs.com", None),
        (None, None),
        ("", None),
    ],
)
def test_region_from_endpoint(endpoint: str | None, region: str | None) -> None:
    assert region_from_endpoint(endpoint) == region


def test_region_taken_from_endpoint_when_unset() -> None:
    assert resolve_region("c", None, "https://oss-cn-shanghai.aliyuncs.com") == "cn-shanghai"
    assert resolve_region("c", "", "oss-cn-shanghai-internal.aliyuncs.com") == "cn-shanghai"
    assert resolve_region("c", "oss-cn-shanghai", "oss-cn-shanghai.aliyuncs.com") == "oss-cn-shanghai"
    assert resolve_region("c", "cn-hangzhou", "http://127.0.0.1:9000") == "cn-hangzhou"


def test_region_and_endpoint_that_disagree_are_an_error() -> None:
    with pytest.raises(OssConnectionConfigError, match=r"region 'cn-hangzhou' disagrees with endpoint"):
        resolve_region("c", "cn-hangzhou", "oss-cn-shanghai.aliyuncs.com")


def test_no_region_anywhere_names_both_fixes() -> None:
    with pytest.raises(
        OssConnectionConfigError, match=r"set the 'region' extra .* or an 'endpoint' that names it"
    ):
        resolve_region("c", None, "http://127.0.0.1:9000")


def test_official_provider_format_is_read_unchanged() -> None:
    """apache-airflow-providers-alibaba's oss connection: keys in extras, bucket in the schema."""
    parsed = parse_connection(
        "oss_default",
        login=None,
        password=None,
        schema="my-bucket",
        extras={
            "auth_type": "AK",
            "access_key_id": "LTAIid",
            "access_key_secret": "secret",
            "region": "cn-hangzhou",
            "endpoint": "oss-cn-hangzhou.aliyuncs.com",
        },
    )
    assert parsed.credentials.access_key_id == "LTAIid"
    assert parsed.credentials.access_key_secret == "secret"
    assert parsed.bucket == "my-bucket"
    assert parsed.client == {"region": "cn-hangzhou", "endpoint": "oss-cn-hangzhou.aliyuncs.com"}


@pytest.mark.parametrize(
    ("fields", "extras", "message"),
    [
        ({}, {"auth_type": "STS"}, "auth_type 'STS' is not supported; use 'AK'"),
        ({"login": "a"}, {"access_key_id": "b"}, "the login and the 'access_key_id' extra differ"),
        (
            {"password": "a"},
            {"access_key_secret": "b"},
            "the password and the 'access_key_secret' extra differ",
        ),
        ({"login": None}, {"auth_type": "AK"}, "has no login"),
        ({"password": ""}, {"access_key_secret": None}, "has no password"),
    ],
)
def test_official_format_mistakes_are_named(
    fields: dict[str, Any], extras: dict[str, Any], message: str
) -> None:
    with pytest.raises(OssConnectionConfigError, match=message):
        _parse(extras, **fields)


def test_host_and_schema_give_the_endpoint() -> None:
    parsed = _parse({"region": "cn-hangzhou"}, host="127.0.0.1", port=9000, schema="http")
    assert parsed.client["endpoint"] == "http://127.0.0.1:9000"
    assert parsed.bucket is None


def test_old_form_prefixes_are_accepted() -> None:
    parsed = _parse({"extra__oss__region": "cn-hangzhou", "extra__oss_resumable__bucket": "b1"})
    assert parsed.client == {"region": "cn-hangzhou"}
    assert parsed.bucket == "b1"
