"""The ``require_crc64`` connection extra: an OSS-compatible server that sends no CRC-64 is refused
by default (the answer is not OSS's) and accepted only when the connection says so, with every
write logged as unverified."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_oss.core.errors import OssResponseError
from airflow_provider_oss.hooks.oss import OssHook
from tests.hostile_oss import Answer, HostileOss


def _no_crc(method: str, path: str) -> Answer:
    return Answer(200, {"ETag": '"0123456789ABCDEF0123456789ABCDEF"', "x-oss-request-id": "R"})


def _connection(server: HostileOss, **extra: object) -> str:
    return json.dumps(
        {
            "conn_type": "oss_resumable",
            "login": "LTAI5tCompatible",
            "password": "compatible-secret",
            "extra": {"region": "cn-hangzhou", "endpoint": server.endpoint, "max_retries": 0, **extra},
        }
    )


def test_a_server_without_crc64_is_refused_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileOss(_no_crc) as server:
        monkeypatch.setenv("AIRFLOW_CONN_COMPAT", _connection(server, require_crc64=None))  # null: unset
        with pytest.raises(OssResponseError, match="require_crc64=false"):
            OssHook("compat").load_bytes(b"payload", "k.bin", "bucket")


@pytest.mark.parametrize("value", ["false", False, "0"])
def test_require_crc64_false_accepts_it_and_logs_each_write_unverified(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: object
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_oss")
    with HostileOss(_no_crc) as server:
        monkeypatch.setenv("AIRFLOW_CONN_COMPAT", _connection(server, require_crc64=value))
        OssHook("compat").load_bytes(b"payload", "k.bin", "bucket")
    assert any(
        "UNVERIFIED" in r.getMessage() and "oss://bucket/k.bin" in r.getMessage() for r in caplog.records
    )
