"""
Turn the fields of an Airflow connection into :class:`Credentials` and :class:`ClientConfig`
settings, without importing Airflow.

Two connection formats are accepted unchanged:

* this provider's: login = AccessKeyId, password = AccessKeySecret, extras named after the
  :class:`ClientConfig` fields plus ``bucket`` and ``security_token``;
* the official ``apache-airflow-providers-alibaba`` ``oss`` connection: extras ``auth_type``
  (``"AK"``), ``access_key_id``, ``access_key_secret``, ``region``, ``endpoint``, and the default
  bucket in the connection's schema.

An extra that is missing, JSON ``null`` (what the Airflow 3.3 form saves for a field left empty)
or an empty string means "unset" everywhere: the :class:`ClientConfig` default applies.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.endpoints import normalize_region
from airflow_provider_oss.core.errors import OssClientError

#: This provider's connection type. Not ``oss``: Airflow keeps one hook per connection type and
#: ``apache-airflow-providers-alibaba`` already registers ``oss``, so sharing it hides one form.
CONN_TYPE = "oss_resumable"
#: Connection types whose connections this provider reads as they are.
ACCEPTED_CONN_TYPES = (CONN_TYPE, "oss")

#: Extras this provider adds to the :class:`ClientConfig` fields.
HOOK_EXTRAS: Mapping[str, type] = {"bucket": str, "security_token": str}
#: Extras of the official provider's ``oss`` connection that are not already ClientConfig fields.
OFFICIAL_EXTRAS: Mapping[str, type] = {"auth_type": str, "access_key_id": str, "access_key_secret": str}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_ALIYUN_ENDPOINT = re.compile(r"^oss-([a-z0-9]+(?:-[a-z0-9]+)*?)(?:-internal)?\.aliyuncs\.com$")


class OssConnectionConfigError(OssClientError):
    """The OSS connection is incomplete or has an invalid extra; the message names the field."""


def _client_config_types() -> dict[str, Any]:
    """Each :class:`ClientConfig` field with its type, ``X | None`` reduced to ``X``."""
    hints = typing.get_type_hints(ClientConfig)
    result: dict[str, Any] = {}
    for f in dataclasses.fields(ClientConfig):
        hint = hints[f.name]
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            members = tuple(a for a in typing.get_args(hint) if a is not type(None))
            hint = members[0] if len(members) == 1 else members
        result[f.name] = typing.get_origin(hint) or hint
    return result


#: Every extra understood, with the type it is coerced to (a tuple means "any of these").
EXTRA_TYPES: Mapping[str, Any] = types.MappingProxyType(
    {**_client_config_types(), **HOOK_EXTRAS, **OFFICIAL_EXTRAS}
)


def is_unset(value: Any) -> bool:
    """True for a missing, ``null`` or blank value: the form's way of saying "not given"."""
    return value is None or (isinstance(value, str) and not value.strip())


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _to_bool_or_path(value: Any) -> bool | str:
    try:
        return _to_bool(value)
    except ValueError:
        if isinstance(value, str):
            return value.strip()  # a CA bundle path
        raise


def _to_mapping(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        value = json.loads(value)  # the form has no JSON object field: accept the JSON text
    if not isinstance(value, dict):
        raise ValueError(value)
    return {str(k): str(v) for k, v in value.items()}


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _type_name(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return str(expected.__name__)


def _converter(expected: Any) -> Callable[[Any], Any]:
    if expected is bool:
        return _to_bool
    if isinstance(expected, tuple) and set(expected) == {bool, str}:
        return _to_bool_or_path
    if isinstance(expected, type) and issubclass(expected, Mapping):
        return _to_mapping
    if expected is int:
        return _to_int
    if expected is float:
        return _to_float
    return lambda value: str(value).strip()


def coerce_extra(conn_id: str, name: str, value: Any) -> Any:
    """
    Convert one extra to the type its :class:`ClientConfig` field (or the hook) expects.

    :raises OssConnectionConfigError: naming the connection, the extra and the expected type.
    """
    expected = EXTRA_TYPES[name]
    try:
        return _converter(expected)(value)
    except (TypeError, ValueError):
        raise OssConnectionConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a {_type_name(expected)}, got {value!r}."
        ) from None


def region_from_endpoint(endpoint: str | None) -> str | None:
    """
    The region an Alibaba Cloud endpoint names (``oss-cn-shanghai[-internal].aliyuncs.com``, with or
    without ``https://`` and a port), or None for any other endpoint.
    """
    if is_unset(endpoint):
        return None
    text = str(endpoint).strip().lower()
    host = urlsplit(text).hostname if "://" in text else text.split(":", 1)[0]
    match = _ALIYUN_ENDPOINT.match((host or "").rstrip("."))
    return match.group(1) if match else None


def resolve_region(conn_id: str, region: str | None, endpoint: str | None) -> str:
    """
    The region to sign with: the given one, else the one the endpoint names.

    :raises OssConnectionConfigError: when neither gives a region, or they disagree.
    """
    named = region_from_endpoint(endpoint)
    if is_unset(region):
        if named is None:
            raise OssConnectionConfigError(
                f"Connection {conn_id!r} has no region: set the 'region' extra (e.g. 'cn-hangzhou'), or an "
                "'endpoint' that names it (e.g. 'oss-cn-hangzhou.aliyuncs.com')."
            )
        return named
    assert region is not None
    if named is not None and normalize_region(region) != named:
        raise OssConnectionConfigError(
            f"Connection {conn_id!r}: region {region!r} disagrees with endpoint {endpoint!r}, which is in "
            f"{named!r}; fix one of them (or leave the region empty to take it from the endpoint)."
        )
    return region


@dataclass(frozen=True)
class ConnectionSettings:
    """
    What a connection says.

    :param credentials: the access key pair and optional STS token.
    :param client: :class:`ClientConfig` keyword arguments (the region may still be missing).
    :param bucket: the default bucket, or None.
    """

    credentials: Credentials
    client: Mapping[str, Any] = field(default_factory=dict)
    bucket: str | None = None


def _pick(conn_id: str, what: str, field_value: str | None, extra_name: str, extra_value: Any) -> str | None:
    """One of the connection field and the official provider's extra of the same meaning."""
    field_text = None if is_unset(field_value) else field_value
    extra_text = None if is_unset(extra_value) else str(extra_value)
    if field_text and extra_text and field_text != extra_text:
        raise OssConnectionConfigError(
            f"Connection {conn_id!r}: the {what} and the {extra_name!r} extra differ; keep one of them."
        )
    return field_text or extra_text


def parse_connection(
    conn_id: str,
    *,
    login: str | None,
    password: str | None,
    host: str | None = None,
    port: int | None = None,
    schema: str | None = None,
    extras: Mapping[str, Any] | None = None,
) -> ConnectionSettings:
    """
    Read a connection of this provider's format or the official provider's ``oss`` format.

    :param conn_id: the connection id, for messages.
    :param login: the AccessKeyId (or None when the ``access_key_id`` extra carries it).
    :param password: the AccessKeySecret (or None when the ``access_key_secret`` extra carries it).
    :param host: an endpoint host, used when the ``endpoint`` extra is unset.
    :param port: the endpoint port, with ``host``.
    :param schema: ``http``/``https`` (the endpoint scheme), or else the default bucket, as the
        official provider reads it.
    :param extras: the connection's extras; Airflow < 3.2 form names (``extra__<type>__name``)
        are accepted.
    :raises OssConnectionConfigError: naming what to fix.
    """
    values: dict[str, Any] = {}
    for name, value in (extras or {}).items():
        bare = name
        for conn_type in ACCEPTED_CONN_TYPES:
            bare = bare.removeprefix(f"extra__{conn_type}__")
        values[bare] = value
    unknown = sorted(set(values) - set(EXTRA_TYPES))
    if unknown:
        raise OssConnectionConfigError(
            f"Connection {conn_id!r} has unknown extra(s) {unknown}; known extras are {sorted(EXTRA_TYPES)}."
        )
    settings = {
        name: coerce_extra(conn_id, name, value) for name, value in values.items() if not is_unset(value)
    }
    auth_type = settings.pop("auth_type", None)
    if auth_type is not None and auth_type.upper() != "AK":
        raise OssConnectionConfigError(
            f"Connection {conn_id!r}: auth_type {auth_type!r} is not supported; use 'AK' (an access key pair)."
        )
    access_key_id = _pick(conn_id, "login", login, "access_key_id", settings.pop("access_key_id", None))
    secret = _pick(
        conn_id, "password", password, "access_key_secret", settings.pop("access_key_secret", None)
    )
    if not access_key_id:
        raise OssConnectionConfigError(f"Connection {conn_id!r} has no login: set it to the OSS AccessKeyId.")
    if not secret:
        raise OssConnectionConfigError(
            f"Connection {conn_id!r} has no password: set it to the OSS AccessKeySecret."
        )
    scheme = schema.strip().lower() if not is_unset(schema) and schema else None
    if scheme is not None and scheme not in ("http", "https"):
        settings.setdefault("bucket", schema.strip() if schema else None)
        scheme = None
    if "endpoint" not in settings and not is_unset(host) and host:
        endpoint = host.strip() if not port else f"{host.strip()}:{port}"
        if scheme and "://" not in endpoint:
            endpoint = f"{scheme}://{endpoint}"
        settings["endpoint"] = endpoint
    token = settings.pop("security_token", None)
    bucket = settings.pop("bucket", None)
    return ConnectionSettings(Credentials(access_key_id, secret, token), settings, bucket)
