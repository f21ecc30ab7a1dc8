"""Strict authentication of the local OSS server: V4 and V1, headers and presigned URLs, STS, skew."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_oss.core import signing
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, encode_query, error_code, parse_xml

B = "test-bucket"
TOKEN = "CAIS.sts-token/with+chars=="


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def _send_signed(
    server: LocalOssServer,
    method: str,
    key: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    data: bytes = b"",
    *,
    url_query: list[tuple[str, str]] | None = None,
) -> requests.Response:
    """Send a request whose headers were signed already, with a possibly different query."""
    url = f"{server.endpoint}/{B}/{signing.uri_encode(key, safe='/')}"
    qs = encode_query(url_query if url_query is not None else query)
    return requests.request(method, url + (f"?{qs}" if qs else ""), headers=headers, data=data, timeout=10)


def _sign(
    server: LocalOssServer, method: str, key: str, query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    signing.sign_v4(
        signing.SigningRequest(method, B, key, query, headers),
        server.credentials,
        server.region,
        datetime.now(timezone.utc),
    )


def test_v4_header_and_every_request_is_logged(oss_server: LocalOssServer, client: RawClient) -> None:
    assert client.request("PUT", B, "ok", data=b"x").status_code == 200
    entry = oss_server.request_log()[-1]
    assert (entry["auth"], entry["access_key_id"], entry["status"]) == ("v4", oss_server.access_key_id, 200)
    assert oss_server.access_key_secret not in str(oss_server.request_log())


def test_wrong_secret_is_signature_does_not_match(oss_server: LocalOssServer) -> None:
    wrong = Credentials(oss_server.access_key_id, "not-the-secret")
    with RawClient(oss_server, credentials=wrong) as bad:
        response = bad.request("PUT", B, "k", data=b"x")
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    body = parse_xml(response)
    assert body.findtext("CanonicalRequest", "").startswith("PUT\n/test-bucket/k\n")
    assert body.findtext("StringToSign", "").startswith("OSS4-HMAC-SHA256\n")
    entry = oss_server.request_log()[-1]
    assert (entry["op"], entry["status"], entry["error_code"]) == ("PutObject", 403, "SignatureDoesNotMatch")
    assert entry["bytes_received"] == 1
    assert oss_server.list_uploads(B) == []
    assert client_cannot_read(oss_server, "k")


def client_cannot_read(server: LocalOssServer, key: str) -> bool:
    with RawClient(server) as raw:
        return raw.request("HEAD", B, key).status_code == 404


def test_unknown_access_key(oss_server: LocalOssServer) -> None:
    with RawClient(oss_server, credentials=Credentials("someone-else", "secret")) as bad:
        response = bad.request("GET", B, "k")
    assert (response.status_code, error_code(response)) == (403, "InvalidAccessKeyId")
    assert parse_xml(response).findtext("OSSAccessKeyId") == "someone-else"


def test_extra_credentials_are_accepted() -> None:
    with LocalOssServer(extra_credentials={"second-key": "second-secret"}) as server:
        with RawClient(server, credentials=Credentials("second-key", "second-secret")) as other:
            assert other.request("PUT", B, "k", data=b"x").status_code == 200
        assert server.request_log()[-1]["access_key_id"] == "second-key"


def test_tampered_header(oss_server: LocalOssServer) -> None:
    headers = {"x-oss-meta-a": "1", "Content-Type": "text/plain"}
    _sign(oss_server, "PUT", "k", [], headers)
    headers["x-oss-meta-a"] = "2"
    response = _send_signed(oss_server, "PUT", "k", [], headers, b"x")
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    headers = {"Content-Type": "text/plain"}
    _sign(oss_server, "PUT", "k", [], headers)
    headers["Content-Type"] = "text/html"
    response = _send_signed(oss_server, "PUT", "k", [], headers, b"x")
    assert error_code(response) == "SignatureDoesNotMatch"
    headers = {}
    _sign(oss_server, "PUT", "k", [], headers)
    headers["x-oss-meta-added"] = "later"  # every x-oss-* header is signed
    assert error_code(_send_signed(oss_server, "PUT", "k", [], headers, b"x")) == "SignatureDoesNotMatch"


def test_tampered_query(oss_server: LocalOssServer) -> None:
    query = [("list-type", "2"), ("prefix", "a/")]
    headers: dict[str, str] = {}
    signing.sign_v4(
        signing.SigningRequest("GET", B, None, query, headers),
        oss_server.credentials,
        oss_server.region,
        datetime.now(timezone.utc),
    )
    url = f"{oss_server.endpoint}/{B}/"
    ok = requests.get(url + "?" + encode_query(query), headers=headers, timeout=10)
    assert ok.status_code == 200
    tampered = requests.get(
        url + "?" + encode_query([("list-type", "2"), ("prefix", "b/")]), headers=headers, timeout=10
    )
    assert (tampered.status_code, error_code(tampered)) == (403, "SignatureDoesNotMatch")
    added = requests.get(url + "?" + encode_query([*query, ("max-keys", "1")]), headers=headers, timeout=10)
    assert error_code(added) == "SignatureDoesNotMatch"


def test_tampered_path(oss_server: LocalOssServer) -> None:
    headers: dict[str, str] = {}
    _sign(oss_server, "PUT", "a.txt", [], headers)
    response = _send_signed(oss_server, "PUT", "b.txt", [], headers, b"x")
    assert error_code(response) == "SignatureDoesNotMatch"


def test_host_as_additional_header(oss_server: LocalOssServer) -> None:
    host = f"127.0.0.1:{oss_server.port}"

    def put(signed_host: str, sent_host: str) -> requests.Response:
        headers = {"Host": signed_host}
        signing.sign_v4(
            signing.SigningRequest("PUT", B, "h", [], headers),
            oss_server.credentials,
            oss_server.region,
            datetime.now(timezone.utc),
            ["host"],
        )
        assert "AdditionalHeaders=host" in headers["Authorization"]
        headers["Host"] = sent_host
        return requests.put(f"{oss_server.endpoint}/{B}/h", headers=headers, data=b"x", timeout=10)

    assert put(host, host).status_code == 200
    assert error_code(put(host, f"localhost:{oss_server.port}")) == "SignatureDoesNotMatch"


def test_wrong_region(oss_server: LocalOssServer) -> None:
    with RawClient(oss_server, region="cn-beijing") as other:
        response = other.request("GET", B, "k")
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert "region" in (parse_xml(response).findtext("Message") or "")
        url = other.presign("GET", B, "k")
        assert error_code(other.get_presigned(url)) == "InvalidArgument"


def test_missing_content_sha256_is_rejected(oss_server: LocalOssServer) -> None:
    headers: dict[str, str] = {}
    _sign(oss_server, "GET", "k", [], headers)
    del headers["x-oss-content-sha256"]
    response = _send_signed(oss_server, "GET", "k", [], headers)
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")


def test_presigned_v4_get_and_put(oss_server: LocalOssServer, client: RawClient) -> None:
    client.request("PUT", B, "p/file.txt", data=b"presigned")
    url = client.presign("GET", B, "p/file.txt", expires=60)
    response = requests.get(url, timeout=10)
    assert (response.status_code, response.content) == (200, b"presigned")
    assert oss_server.request_log()[-1]["auth"] == "v4-presigned"
    put_url = client.presign("PUT", B, "p/put.txt", expires=60, headers={"Content-Type": "text/plain"})
    assert (
        requests.put(put_url, data=b"up", headers={"Content-Type": "text/plain"}, timeout=10).status_code
        == 200
    )
    assert oss_server.object_bytes(B, "p/put.txt") == b"up"
    wrong_type = requests.put(put_url, data=b"up", headers={"Content-Type": "text/html"}, timeout=10)
    assert error_code(wrong_type) == "SignatureDoesNotMatch"
    tampered = url.replace("x-oss-expires=60", "x-oss-expires=61")
    assert error_code(requests.get(tampered, timeout=10)) == "SignatureDoesNotMatch"


def test_expired_presigned_url(oss_server: LocalOssServer, client: RawClient) -> None:
    client.request("PUT", B, "old", data=b"x")
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    url = client.presign("GET", B, "old", expires=600, now=an_hour_ago)
    response = requests.get(url, timeout=10)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert parse_xml(response).findtext("Message") == "Request has expired."
    # The longest OSS allows is 7 days: a longer x-oss-expires is refused even when signed.
    query = [("x-oss-expires", "604801")]
    pairs = signing.presign_v4(
        signing.SigningRequest("GET", B, "old", [], {}),
        oss_server.credentials,
        oss_server.region,
        datetime.now(timezone.utc),
        60,
    )
    pairs = [(n, "604801") if n == "x-oss-expires" else (n, v) for n, v in pairs]
    assert query[0][0] in dict(pairs)
    too_long = requests.get(f"{oss_server.endpoint}/{B}/old?{encode_query(pairs)}", timeout=10)
    assert (too_long.status_code, error_code(too_long)) == (400, "InvalidArgument")


def test_clock_skew(oss_server: LocalOssServer, client: RawClient) -> None:
    oss_server.set_clock_offset(1200)
    response = client.request("GET", B, "k")
    assert (response.status_code, error_code(response)) == (403, "RequestTimeTooSkewed")
    server_time = parse_xml(response).findtext("ServerTime") or ""
    expected = datetime.now(timezone.utc) + timedelta(seconds=1200)
    parsed = datetime.strptime(server_time, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=timezone.utc)
    assert abs((parsed - expected).total_seconds()) < 60
    date_header = datetime.strptime(response.headers["Date"], "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=timezone.utc
    )
    assert abs((date_header - expected).total_seconds()) < 60
    # A client that corrects its clock from the Date header gets through.
    assert client.request("PUT", B, "k", data=b"x", now=date_header).status_code == 200
    oss_server.set_clock_offset(0)
    assert client.request("GET", B, "k").status_code == 200


def test_sts_token_required_and_checked() -> None:
    with LocalOssServer(security_token=TOKEN) as server:
        with RawClient(server) as good:
            assert good.request("PUT", B, "k", data=b"x").status_code == 200
            assert requests.get(good.presign("GET", B, "k"), timeout=10).status_code == 200
        plain = Credentials(server.access_key_id, server.access_key_secret)
        with RawClient(server, credentials=plain) as missing:
            response = missing.request("GET", B, "k")
            assert (response.status_code, error_code(response)) == (403, "InvalidSecurityToken")
        wrong = Credentials(server.access_key_id, server.access_key_secret, "CAIS.another-token")
        with RawClient(server, credentials=wrong) as bad:
            response = bad.request("GET", B, "k")
            assert (response.status_code, error_code(response)) == (403, "InvalidSecurityToken")
            assert "another-token" not in response.text
        log_text = str(server.request_log())
        assert TOKEN not in log_text
        assert server.access_key_secret not in log_text


def test_sts_token_masked_in_signature_errors() -> None:
    with LocalOssServer(security_token=TOKEN) as server:
        creds = Credentials(server.access_key_id, "wrong-secret", TOKEN)
        with RawClient(server, credentials=creds) as bad:
            response = bad.request("GET", B, "k")
        assert error_code(response) == "SignatureDoesNotMatch"
        assert TOKEN not in response.text


def test_token_sent_for_a_permanent_key(oss_server: LocalOssServer) -> None:
    creds = Credentials(oss_server.access_key_id, oss_server.access_key_secret, TOKEN)
    with RawClient(oss_server, credentials=creds) as raw:
        assert error_code(raw.request("GET", B, "k")) == "InvalidSecurityToken"


def test_v1_header_and_presigned(oss_server: LocalOssServer) -> None:
    with RawClient(oss_server, version="v1") as v1:
        put = v1.request("PUT", B, "v1 key+.txt", headers={"Content-Type": "text/plain"}, data=b"one")
        assert put.status_code == 200
        assert oss_server.request_log()[-1]["auth"] == "v1"
        init = v1.request("POST", B, "v1/mp", [("uploads", "")])
        assert init.status_code == 200
        url = v1.presign("GET", B, "v1 key+.txt", expires=60)
        got = requests.get(url, timeout=10)
        assert (got.status_code, got.content) == (200, b"one")
        assert oss_server.request_log()[-1]["auth"] == "v1-presigned"
        expired = v1.presign(
            "GET", B, "v1 key+.txt", expires=60, now=datetime.now(timezone.utc) - timedelta(hours=1)
        )
        assert error_code(requests.get(expired, timeout=10)) == "AccessDenied"
    with RawClient(oss_server, version="v1", credentials=Credentials(oss_server.access_key_id, "bad")) as bad:
        assert error_code(bad.request("GET", B, "v1 key+.txt")) == "SignatureDoesNotMatch"


def test_v1_skew_and_disabled_v1() -> None:
    with LocalOssServer(allow_v1=False) as server, RawClient(server, version="v1") as v1:
        response = v1.request("GET", B, "k")
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    with LocalOssServer() as server, RawClient(server, version="v1") as v1:
        server.set_clock_offset(-1200)
        assert error_code(v1.request("GET", B, "k")) == "RequestTimeTooSkewed"


def test_virtual_hosted_addressing(oss_server: LocalOssServer) -> None:
    with RawClient(oss_server, virtual_hosted=True) as vhost:
        put = vhost.request("PUT", B, "vh/a b.txt", data=b"virtual")
        assert put.status_code == 200
        got = vhost.request("GET", B, "vh/a b.txt")
        assert got.content == b"virtual"
        listing = parse_xml(vhost.request("GET", B, None, [("list-type", "2")]))
        assert [c.findtext("Key") for c in listing.findall("Contents")] == ["vh/a b.txt"]
        url = vhost.presign("GET", B, "vh/a b.txt")
        assert vhost.get_presigned(url, bucket=B).content == b"virtual"
        missing = vhost.request("GET", "no-such-bucket", "k")
        assert error_code(missing) == "NoSuchBucket"
    entry = oss_server.request_log()[0]
    assert (entry["bucket"], entry["key"]) == (B, "vh/a b.txt")
    assert oss_server.object_bytes(B, "vh/a b.txt") == b"virtual"


def test_public_read_bucket_allows_anonymous_reads_only(oss_server: LocalOssServer) -> None:
    oss_server.create_bucket("public-bucket", public_read=True)
    with RawClient(oss_server) as signed:
        signed.request("PUT", "public-bucket", "open.txt", data=b"open")
        signed.request("PUT", B, "closed.txt", data=b"closed")
        signed.request("PUT", B, "shared.txt", headers={"x-oss-object-acl": "public-read"}, data=b"shared")
        anonymous_get = signed.request("GET", "public-bucket", "open.txt", sign=False)
        assert (anonymous_get.status_code, anonymous_get.content) == (200, b"open")
        assert signed.request("HEAD", "public-bucket", "open.txt", sign=False).status_code == 200
        assert oss_server.request_log()[-1]["auth"] == "anonymous"
        anonymous_put = signed.request("PUT", "public-bucket", "new.txt", data=b"x", sign=False)
        assert (anonymous_put.status_code, error_code(anonymous_put)) == (403, "AccessDenied")
        private = signed.request("GET", B, "closed.txt", sign=False)
        assert (private.status_code, error_code(private)) == (403, "AccessDenied")
        assert signed.request("GET", B, "shared.txt", sign=False).content == b"shared"
        delete = signed.request("DELETE", "public-bucket", "open.txt", sign=False)
        assert delete.status_code == 403
    assert oss_server.object_bytes("public-bucket", "open.txt") == b"open"
