"""
The upload callback in the client and the local server: parse-time checks, the headers and their
signatures (compared with alibabacloud-oss-v2's signers), the callback the local server POSTs to a
loopback callback server, its answer relayed to the client, and 203 CallbackFailed with the object stored.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
from datetime import datetime, timezone
from urllib.parse import parse_qs

import pytest
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer.v1 import SignerV1
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

from airflow_provider_oss.core.callback import CallbackConfigError, UploadCallback
from airflow_provider_oss.core.crc64 import crc64
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import CallbackFailedError, OssServiceError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.core.signing import SigningRequest, sign_v1, sign_v4
from airflow_provider_oss.testing import LocalOssServer
from tests.callback_support import CallbackServer, callback_server
from tests.upload_support import BUCKET, make_client

BODY = "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&crc64=${crc64}&v=${x:my_var}"


def _callback(server: CallbackServer, **extra: object) -> UploadCallback:
    spec: dict[str, object] = {"callbackUrl": server.url, "callbackBody": BODY, **extra}
    callback = UploadCallback.parse(spec, {"x:my_var": "a b&c=d"})
    assert callback is not None
    return callback


# -- parsing -------------------------------------------------------------------------------------


def test_parse_accepts_a_dict_its_json_and_the_base64_header_value_alike() -> None:
    spec = {
        "callbackUrl": "https://app.example.com/cb",
        "callbackBody": "o=${object}",
        "callbackBodyType": "application/json",
    }
    from_dict = UploadCallback.parse(spec)
    from_json = UploadCallback.parse(json.dumps(spec))
    from_b64 = UploadCallback.parse(base64.b64encode(json.dumps(spec).encode()).decode())
    assert from_dict == from_json == from_b64
    assert from_dict is not None and from_dict.body_type == "application/json"
    headers = from_dict.headers()
    assert json.loads(base64.b64decode(headers["x-oss-callback"])) == spec
    assert "x-oss-callback-var" not in headers
    assert UploadCallback.parse(None) is None


@pytest.mark.parametrize(
    ("callback", "callback_var", "message"),
    [
        ({"callbackBody": "o=${object}"}, None, "needs callbackUrl"),
        ({"callbackUrl": "", "callbackBody": "o=${object}"}, None, "needs callbackUrl"),
        ({"callbackUrl": "ftp://h/cb", "callbackBody": "o"}, None, "http:// or https://"),
        ({"callbackUrl": "http://h:port/cb", "callbackBody": "o"}, None, "port that is not a number"),
        ({"callbackUrl": ";".join(["http://h/"] * 6), "callbackBody": "o"}, None, "at most 5"),
        ({"callbackUrl": "http://h/cb"}, None, "needs callbackBody"),
        (
            {"callbackUrl": "http://h/cb", "callbackBody": "o", "callbackBodyType": "text/xml"},
            None,
            "callbackBodyType",
        ),
        ({"callbackUrl": "http://h/cb", "callbackBody": "o", "callbackURL": "x"}, None, "unknown field"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "o=$x:v}"}, None, "not followed by '{'"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "o=${object"}, None, "never closed"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "o=${Object}"}, None, "neither an OSS variable"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "v=${x:v}"}, None, "gives no 'x:v'"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "v=${x:v}"}, {"v": "1"}, "starts with 'x:'"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "v=${x:V}"}, {"x:V": "1"}, "lower case"),
        ({"callbackUrl": "http://h/cb", "callbackBody": "v=${x:v}"}, {"x:v": 1}, "must be a string"),
        (None, {"x:v": "1"}, "without callback"),
        ("not json, not base64!", None, "none of them"),
        ("{broken", None, "not valid JSON"),
        (["callbackUrl"], None, "must be a dict"),
    ],
)
def test_parse_refuses_what_oss_would_refuse_naming_the_field(
    callback: object, callback_var: object, message: str
) -> None:
    with pytest.raises(CallbackConfigError, match=message) as caught:
        UploadCallback.parse(callback, callback_var)
    assert isinstance(caught.value, ValueError)


def test_describe_and_repr_leave_out_the_query_string_and_user_info() -> None:
    callback = UploadCallback.parse(
        {
            "callbackUrl": "https://user:pw@app.example.com:8443/cb?token=s3cret;http://10.0.0.1/b?k=v",
            "callbackBody": "o=${object}",
        }
    )
    assert callback is not None
    assert callback.describe() == "https://app.example.com:8443/cb;http://10.0.0.1/b"
    for text in (callback.describe(), repr(callback)):
        assert "s3cret" not in text and "pw" not in text and "k=v" not in text


# -- signing: the callback headers are x-oss-* headers, signed in V4 and V1 as the SDK signs them --


def _signed(version: str, callback: UploadCallback) -> tuple[str, str]:
    """Our Authorization and alibabacloud-oss-v2's for a CompleteMultipartUpload carrying ``callback``."""
    now = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)
    query = [("uploadId", "0004B9894A22E5B1888A1E29F823ABCD")]
    headers = {"Content-Type": "application/xml", **callback.headers()}
    credentials = Credentials("LTAI5tExampleAccessKeyId", "ExampleAccessKeySecret1234567890")
    ours = dict(headers)
    request = SigningRequest("POST", "examplebucket", "dir/obj.bin", query, ours)
    if version == "v4":
        sign_v4(request, credentials, "cn-hangzhou", now, [])
    else:
        sign_v1(request, credentials, now)
    context = SigningContext(
        product="oss",
        region="cn-hangzhou",
        bucket="examplebucket",
        key="dir/obj.bin",
        request=HttpRequest(
            "POST",
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/dir/obj.bin?uploadId=0004B9894A22E5B1888A1E29F823ABCD",
            headers=dict(headers),
        ),
        credentials=StaticCredentialsProvider(
            "LTAI5tExampleAccessKeyId", "ExampleAccessKeySecret1234567890"
        ).get_credentials(),
        signing_time=now,
    )
    (SignerV4() if version == "v4" else SignerV1()).sign(context)
    return ours["Authorization"], context.request.headers["Authorization"]


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_callback_headers_are_signed_as_the_sdk_signs_them(version: str) -> None:
    first = UploadCallback.parse(
        {"callbackUrl": "http://app.example.com/cb", "callbackBody": "v=${x:a}"}, {"x:a": "1"}
    )
    other = UploadCallback.parse(
        {"callbackUrl": "http://app.example.com/cb", "callbackBody": "v=${x:a}"}, {"x:a": "2"}
    )
    assert first is not None and other is not None
    ours, sdk = _signed(version, first)
    assert ours == sdk
    # Signed, not merely carried: another callback-var value gives another signature (in both).
    ours_other, sdk_other = _signed(version, other)
    assert ours_other == sdk_other != ours


@pytest.mark.parametrize("signature_version", ["v4", "v1"])
def test_local_server_checks_the_signature_over_the_callback_headers(
    oss_server: LocalOssServer, signature_version: str
) -> None:
    with callback_server() as cb:
        client = make_client(oss_server, signature_version=signature_version)
        result = client.put_object(BUCKET, "signed.txt", b"abc", callback=_callback(cb))
    assert json.loads(result.callback_response or b"") == {"Status": "OK"}
    assert cb.count == 1


# -- the callback the local server performs --------------------------------------------------------


def test_put_object_fires_the_callback_with_the_substituted_form_body(oss_server: LocalOssServer) -> None:
    data = b"hello callback"
    with callback_server(answer=b'{"accepted": true, "id": 7}') as cb:
        client = make_client(oss_server)
        result = client.put_object(
            BUCKET,
            "dir/a b+c.txt",
            data,
            options=ObjectOptions(content_type="text/plain"),
            callback=_callback(cb),
        )
    assert oss_server.object_bytes(BUCKET, "dir/a b+c.txt") == data
    assert result.callback_response == b'{"accepted": true, "id": 7}'
    [post] = cb.posts
    assert post["path"] == "/notify?token=cb-secret-token"
    headers = post["headers"]
    assert isinstance(headers, dict)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = post["body"]
    assert isinstance(body, bytes)
    assert parse_qs(body.decode(), strict_parsing=True) == {
        "bucket": [BUCKET],
        "object": ["dir/a b+c.txt"],
        "etag": [result.etag],
        "size": [str(len(data))],
        "mimeType": ["text/plain"],
        "crc64": [str(crc64(data))],
        "v": ["a b&c=d"],
    }


def test_complete_fires_a_json_callback_once_with_the_whole_objects_values(
    oss_server: LocalOssServer,
) -> None:
    part = b"p" * (100 * 1024)
    with callback_server() as cb:
        client = make_client(oss_server)
        callback = UploadCallback.parse(
            {
                "callbackUrl": cb.url,
                "callbackHost": "app.example.com",
                "callbackBody": '{"object":${object},"size":${size},"crc64":${crc64},"who":${x:who}}',
                "callbackBodyType": "application/json",
            },
            {"x:who": 'quote " and \\ backslash'},
        )
        upload_id = client.initiate_multipart_upload(BUCKET, "big.bin")
        parts = [client.upload_part(BUCKET, "big.bin", upload_id, n, part) for n in (1, 2)]
        whole = part * 2
        done = client.complete_multipart_upload(
            BUCKET, "big.bin", upload_id, parts, expected_crc64=crc64(whole), callback=callback
        )
    assert done.crc64 == crc64(whole) and done.callback_response == b'{"Status":"OK"}'
    [post] = cb.posts
    headers = post["headers"]
    assert isinstance(headers, dict)
    assert headers["Host"] == "app.example.com" and headers["Content-Type"] == "application/json"
    body = post["body"]
    assert isinstance(body, bytes)
    assert json.loads(body) == {
        "object": "big.bin",
        "size": str(len(whole)),
        "crc64": str(crc64(whole)),
        "who": 'quote " and \\ backslash',
    }


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [
        (500, b'{"error": "boom"}', "Error status : 500"),
        (200, b"<html>not json</html>", "not valid json"),
    ],
)
def test_a_failed_callback_is_203_callback_failed_with_the_object_stored(
    oss_server: LocalOssServer, status: int, answer: bytes, message: str
) -> None:
    data = b"stored anyway"
    with callback_server(status=status, answer=answer) as cb:
        client = make_client(oss_server)
        with pytest.raises(CallbackFailedError, match=message) as caught:
            client.put_object(BUCKET, "k.txt", data, callback=_callback(cb))
        assert cb.count == 1  # a 203 is an answer, not retried
    err = caught.value
    assert isinstance(err, OssServiceError) and (err.status, err.code) == (203, "CallbackFailed")
    assert err.object_stored and err.crc64 == crc64(data) and err.etag
    assert "the object IS stored" in str(err) and "oss://test-bucket/k.txt" in str(err)
    assert "cb-secret-token" not in str(err)
    assert oss_server.object_bytes(BUCKET, "k.txt") == data
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert (type(again), str(again), again.etag, again.crc64) == (
        CallbackFailedError,
        str(err),
        err.etag,
        err.crc64,
    )


def test_an_unreachable_callback_url_is_203_and_the_next_url_is_tried(oss_server: LocalOssServer) -> None:
    client = make_client(oss_server)
    with callback_server() as down:
        dead_url = down.url
    with pytest.raises(CallbackFailedError, match="can not connect"):
        client.put_object(BUCKET, "a.txt", b"x", callback=UploadCallback(url=dead_url, body="o=${object}"))
    assert oss_server.object_bytes(BUCKET, "a.txt") == b"x"
    with callback_server() as live:
        result = client.put_object(
            BUCKET, "b.txt", b"y", callback=UploadCallback(url=f"{dead_url};{live.url}", body="o=${object}")
        )
    assert result.callback_response == b'{"Status":"OK"}' and live.count == 1


def test_a_complete_whose_answer_is_lost_is_retried_without_a_second_callback(
    oss_server: LocalOssServer, caplog: pytest.LogCaptureFixture
) -> None:
    part = b"q" * (100 * 1024)
    with callback_server() as cb:
        client = make_client(oss_server, max_retries=2)
        upload_id = client.initiate_multipart_upload(BUCKET, "lost.bin")
        parts = [client.upload_part(BUCKET, "lost.bin", upload_id, 1, part)]
        oss_server.add_fault("CompleteMultipartUpload", "drop_answer")
        with caplog.at_level(logging.INFO):
            done = client.complete_multipart_upload(
                BUCKET, "lost.bin", upload_id, parts, expected_crc64=crc64(part), callback=_callback(cb)
            )
        completes = [e for e in oss_server.request_log() if e["op"] == "CompleteMultipartUpload"]
        # The first completed the upload but its answer was dropped (logged as a reset, status 0); the
        # client's retry met NoSuchUpload and proved the object by its CRC-64.
        assert [(e["status"], e.get("fault")) for e in completes] == [(0, "drop_answer"), (404, None)]
        assert cb.count == 1  # fired once, by the request that completed the upload
    assert done.crc64 == crc64(part) and done.callback_response is None
    assert "is not fired again" in caplog.text and "cb-secret-token" not in caplog.text
    assert oss_server.object_bytes(BUCKET, "lost.bin") == part


def test_the_local_server_refuses_bad_callback_headers_before_storing(oss_server: LocalOssServer) -> None:
    client = make_client(oss_server)
    bad = {
        "x-oss-callback": base64.b64encode(
            b'{"callbackUrl":"http://127.0.0.1:9/","callbackBody":"a=$b"}'
        ).decode()
    }
    with pytest.raises(OssServiceError, match="Left brace must be adjacent") as caught:
        client._transport.send("PUT", BUCKET, "refused.txt", headers=bad, body=b"x", op="PutObject")
    assert (caught.value.status, caught.value.code) == (400, "InvalidArgument")
    assert not client.object_exists(BUCKET, "refused.txt")


def test_an_endpoint_that_ignores_the_callback_is_not_taken_for_one_that_ran(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An OSS-compatible server without callbacks answers PutObject as usual: no callback response, a warning."""
    from tests.hostile_oss import Answer, HostileOss

    data = b"compat"
    headers = {"ETag": '"E1"', "x-oss-hash-crc64ecma": str(crc64(data)), "x-oss-request-id": "R1"}
    completed = (
        b'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><ETag>"E2"</ETag>'
        b"</CompleteMultipartUploadResult>"
    )

    def script(method: str, path: str) -> Answer:
        if method == "PUT":
            return Answer(200, headers)
        return Answer(
            200,
            {"ETag": '"E2"', "x-oss-hash-crc64ecma": str(crc64(data)), "Content-Type": "application/xml"},
            completed,
        )

    callback = UploadCallback(url="http://app.example.com/cb?token=t0ken", body="o=${object}")
    with HostileOss(script) as hostile, caplog.at_level(logging.WARNING):
        client = hostile.client()
        put = client.put_object(BUCKET, "k", data, callback=callback)
        done = client.complete_multipart_upload(
            BUCKET, "k", "UPLOADID", [(1, "E")], expected_crc64=crc64(data), callback=callback
        )
    assert put.callback_response is None and done.callback_response is None
    assert caplog.text.count("did not perform the callback") == 2
    assert "t0ken" not in caplog.text
