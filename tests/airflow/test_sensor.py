"""OssKeySensor against the local server: only a 404 means "not yet"; auth errors fail the task."""

from __future__ import annotations

import json

import pytest

from airflow_provider_oss.core.errors import OssAuthError
from airflow_provider_oss.sensors.oss_key import OssKeySensor
from airflow_provider_oss.testing import LocalOssServer


def _sensor(**kwargs: object) -> OssKeySensor:
    return OssKeySensor(task_id="wait", **kwargs)  # type: ignore[arg-type]


def test_poke_waits_then_finds_keys(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    sensor = _sensor(bucket_key=["in/a.csv", "in/b.csv"])
    assert sensor.poke({}) is False
    oss_server_put(oss_server, "in/a.csv")
    assert sensor.poke({}) is False
    oss_server_put(oss_server, "in/b.csv")
    assert sensor.poke({}) is True


def test_wildcard_match(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    sensor = _sensor(bucket_key="in/*.done", wildcard_match=True)
    oss_server_put(oss_server, "in/part-1.csv")
    assert sensor.poke({}) is False
    oss_server_put(oss_server, "in/batch.done")
    assert sensor.poke({}) is True


def test_auth_error_fails_instead_of_waiting(
    oss_server: LocalOssServer, oss_connection_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    with pytest.raises(OssAuthError, match="SignatureDoesNotMatch"):
        _sensor(bucket_key="in/a.csv").poke({})


def test_empty_key_list_is_rejected(oss_server: LocalOssServer, oss_connection_env: str) -> None:
    with pytest.raises(ValueError, match="bucket_key must name at least one key"):
        _sensor(bucket_key=[]).poke({})


def oss_server_put(server: LocalOssServer, key: str) -> None:
    from airflow_provider_oss.hooks.oss import OssHook

    OssHook().load_bytes(b"x", key)
    assert server.object_bytes("test-bucket", key) == b"x"
