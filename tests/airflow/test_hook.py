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


def _form_extras(**filled: object) -> dict[str, object]:
    """The extras the Airflow 3.3 form saves: every field of the form, ``null`` where left empty."""
    from airflow_provider_oss.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    extras = {name: field["schema"].get("default") for name, field in conn_type["conn-fields"].items()}
    extras.update(filled)
    return extras


def test_connection_saved_by_the_form_with_null_extras_works(
    oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset form fields arrive as JSON null: they mean "default", never the string "None"."""
    extras = _form_extras(region=oss_server.region, endpoint=oss_server.endpoint)
    assert extras["bucket"] is None and extras["security_token"] is None and extras["verify"] is None
    conn = {
        "conn_type": "oss_resumable",
        "login": oss_server.access_key_id,
        "password": oss_server.access_key_secret,
        "extra": extras,
    }
    monkeypatch.setenv("AIRFLOW_CONN_OSS_FORM", json.dumps(conn))
    hook = OssHook("oss_form")
    assert hook.default_bucket is None
    assert hook.credentials.security_token is None
    config = hook.get_client_config()
    assert config.verify is True
    assert config.connect_timeout == 10
    assert hook.test_connection() == (True, "Connection successfully tested: 1 bucket(s) visible.")
    hook.load_string("from the form", "form.txt", "test-bucket")
    assert oss_server.object_bytes("test-bucket", "form.txt") == b"from the form"


def test_region_is_taken_from_an_aliyun_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """No region extra: ``oss-cn-shanghai.aliyuncs.com`` signs for cn-shanghai (the server checks the scope)."""
    domain = "oss-cn-shanghai.aliyuncs.com"
    with LocalOssServer(region="cn-shanghai", virtual_host_domain=domain) as server:
        conn = {
            "conn_type": "oss_resumable",
            "login": server.access_key_id,
            "password": server.access_key_secret,
            "extra": {
                "region": None,
                "endpoint": f"http://{domain}:{server.port}",
                "resolve": {domain: "127.0.0.1", f"*.{domain}": "127.0.0.1"},
                "bucket": "test-bucket",
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_OSS_SH", json.dumps(conn))
        hook = OssHook("oss_sh")
        config = hook.get_client_config()
        assert (config.region, config.effective_addressing_style) == ("cn-shanghai", "virtual")
        hook.load_string("virtual-hosted in shanghai", "sh.txt")
        assert server.object_bytes("test-bucket", "sh.txt") == b"virtual-hosted in shanghai"
        conn["extra"]["region"] = "cn-beijing"  # type: ignore[index]
        monkeypatch.setenv("AIRFLOW_CONN_OSS_SH", json.dumps(conn))
        with pytest.raises(OssConnectionConfigError, match="region 'cn-beijing' disagrees with endpoint"):
            OssHook("oss_sh").get_conn()


def test_official_provider_connection_is_used_unchanged(
    oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An ``oss_default`` made for apache-airflow-providers-alibaba works with this hook as it is."""
    conn = {
        "conn_type": "oss",
        "schema": "test-bucket",
        "extra": {
            "auth_type": "AK",
            "access_key_id": oss_server.access_key_id,
            "access_key_secret": oss_server.access_key_secret,
            "region": oss_server.region,
            "endpoint": oss_server.endpoint,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    hook = OssHook()
    assert hook.default_bucket == "test-bucket"
    assert hook.test_connection() == (
        True,
        "Connection successfully tested: bucket 'test-bucket' is reachable.",
    )
    hook.load_string("official format", "official.txt")
    assert oss_server.object_bytes("test-bucket", "official.txt") == b"official format"
    assert "expects" not in caplog.text  # no conn_type warning for the official type


def test_uri_of_the_provider_type(oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's URI: ``oss-resumable://`` (a URI scheme has no ``_``) parses to type oss_resumable."""
    uri = (
        f"oss-resumable://{quote(oss_server.access_key_id, safe='')}:{quote(oss_server.access_key_secret, safe='')}@/"
        f"?region={oss_server.region}&endpoint={quote(oss_server.endpoint, safe='')}&bucket=test-bucket"
    )
    monkeypatch.setenv("AIRFLOW_CONN_OSS_RESUMABLE_URI", uri)
    hook = OssHook("oss_resumable_uri")
    assert hook.get_connection("oss_resumable_uri").conn_type == "oss_resumable"
    hook.load_string("via uri", "uri.txt")
    assert oss_server.object_bytes("test-bucket", "uri.txt") == b"via uri"
