"""OssHook against the local OSS server, with the connection given by the environment."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest

from airflow_provider_oss.core.errors import OssAuthError
from airflow_provider_oss.hooks.oss import OssConnectionConfigError, OssHook
from airflow_provider_oss.testing import LocalOssServer

TOKEN = "CAIS.sts-token/with+chars=="
WRONG_SECRET = "wrong-secret-value-123"


def _conn_json(server: LocalOssServer, **extra: object) -> str:
    extras = {
        "region": server.region,
        "endpoint": server.endpoint,
        "addressing_style": "path",
        "bucket": "test-bucket",
        "max_retries": 0,
    }
    extras.update(extra)
    return json.dumps(
        {
            "conn_type": "oss",
            "login": server.access_key_id,
            "password": server.access_key_secret,
            "extra": extras,
        }
    )


def test_json_connection_round_trip(oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", _conn_json(oss_server))
    hook = OssHook()
    assert hook.test_connection() == (
        True,
        "Connection successfully tested: bucket 'test-bucket' is reachable.",
    )
    hook.load_string("hello oss", "dir/hello.txt")
    assert oss_server.object_bytes("test-bucket", "dir/hello.txt") == b"hello oss"
    assert hook.read_key("dir/hello.txt") == "hello oss"
    assert hook.check_for_key("dir/hello.txt") is True
    assert hook.check_for_key("dir/missing.txt") is False
    assert list(hook.list_keys("dir/")) == ["dir/hello.txt"]
    assert hook.head_object("dir/hello.txt").size == 9
    hook.delete_object("dir/hello.txt")
    assert hook.check_for_key("dir/hello.txt") is False


def test_uri_connection(oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = (
        f"oss://{quote(oss_server.access_key_id, safe='')}:{quote(oss_server.access_key_secret, safe='')}@/"
        f"?region={oss_server.region}&endpoint={quote(oss_server.endpoint, safe='')}"
        f"&addressing_style=path&bucket=test-bucket"
    )
    monkeypatch.setenv("AIRFLOW_CONN_OSS_URI", uri)
    hook = OssHook("oss_uri")
    config = hook.get_client_config()
    assert config.addressing_style == "path"
    assert hook.default_bucket == "test-bucket"
    ok, message = hook.test_connection()
    assert ok, message


def test_wrong_secret_fails_test_connection_with_oss_code(
    oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(_conn_json(oss_server))
    conn["password"] = "wrong-secret-value-123"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    ok, message = OssHook().test_connection()
    assert not ok
    assert "SignatureDoesNotMatch" in message
    assert "wrong-secret-value-123" not in message


def test_auth_error_is_not_reported_as_missing_key(
    oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(_conn_json(oss_server))
    conn["password"] = "wrong-secret-value-123"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    with pytest.raises(OssAuthError) as err:
        OssHook().check_for_key("anything")
    assert err.value.code == "SignatureDoesNotMatch"
    assert err.value.request_id


def test_without_bucket_lists_buckets(oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(_conn_json(oss_server))
    del conn["extra"]["bucket"]
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    hook = OssHook()
    ok, message = hook.test_connection()
    assert ok and "bucket(s) visible" in message
    with pytest.raises(ValueError, match="pass bucket_name, or set the 'bucket' extra"):
        hook.read_key("k")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": {"regoin": "cn-hangzhou"}}, r"unknown extra\(s\) \['regoin'\]"),
        ({"extra": {}}, "has no region: set the 'region' extra"),
        ({"password": None}, "has no password: set it to the OSS AccessKeySecret"),
        ({"login": None}, "has no login: set it to the OSS AccessKeyId"),
        ({"extra": {"region": "cn-hangzhou", "max_retries": "many"}}, "extra 'max_retries' must be a int"),
        ({"extra": {"region": "cn-hangzhou", "internal": "maybe"}}, "extra 'internal' must be a bool"),
    ],
)
def test_bad_connections_name_what_to_fix(
    change: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn: dict[str, object] = {
        "conn_type": "oss",
        "login": "ak",
        "password": "sk",
        "extra": {"region": "cn-hangzhou"},
    }
    conn.update(change)
    monkeypatch.setenv("AIRFLOW_CONN_OSS_BAD", json.dumps(conn))
    with pytest.raises(OssConnectionConfigError, match=message):
        OssHook("oss_bad").get_conn()


def test_unknown_connection_id_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="oss_does_not_exist"):
        OssHook("oss_does_not_exist").get_conn()


def test_secrets_never_reach_logs_or_errors(
    oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing and a succeeding call, logged at DEBUG: neither the secret nor the STS token appears."""
    caplog.set_level(logging.DEBUG)
    conn = json.loads(_conn_json(oss_server, security_token=TOKEN))
    conn["password"] = WRONG_SECRET
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    hook = OssHook()
    texts = [repr(hook.credentials), repr(hook.get_conn())]
    with pytest.raises(OssAuthError) as err:
        hook.load_string("x", "secret-check.txt")
    texts += [str(err.value), repr(err.value)]
    conn = json.loads(_conn_json(oss_server))
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    good = OssHook()
    good.load_string("x", "secret-check.txt")
    texts.append(good.get_presigned_url("secret-check.txt").split("?")[0])
    texts += [record.getMessage() for record in caplog.records]
    blob = "\n".join(texts)
    assert oss_server.access_key_secret not in blob
    assert WRONG_SECRET not in blob
    assert TOKEN not in blob
    assert caplog.records, "the calls above should have logged something at DEBUG"
