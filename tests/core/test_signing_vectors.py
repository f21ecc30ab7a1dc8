"""
Known-answer tests for ``core/signing.py``.

The vectors come from the project's shared protocol notes (oss-protocol.md) (produced by alibabacloud-oss-v2 1.4.1's signers;
oss2 agrees). Besides the vectors: parsing of the V4 ``Authorization`` header, presign expiry bounds,
additional-header filtering, header-name case and the canonical URI of service/bucket-level calls.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from urllib.parse import quote, unquote

import pytest
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.signing import (
    MAX_PRESIGN_EXPIRES,
    SigningRequest,
    parse_v4_authorization,
    parse_v4_credential,
    presign_v1,
    presign_v4,
    sign_v1,
    sign_v4,
    v1_canonical_resource,
    v4_additional_headers,
    v4_canonical_query,
    v4_canonical_request,
    v4_canonical_uri,
    v4_signature,
)

# ---------------------------------------------------------------------------------------------
# Set A
AK = "LTAI5tExampleAccessKeyId"
SK = "ExampleAccessKeySecret1234567890"
STS_TOKEN = "CAIS.example-sts-token/with+chars=="
REGION = "cn-hangzhou"
NOW_A = datetime(2024, 6, 1, 8, 30, 0, tzinfo=timezone.utc)
BUCKET = "examplebucket"
KEY = "dir/my file+1.txt"
UPLOAD_QUERY = [("partNumber", "1"), ("uploadId", "0004B9894A22E5B1888A1E29F823ABCD")]
SCOPE_A = "20240601/cn-hangzhou/oss/aliyun_v4_request"

A1_CANONICAL_REQUEST = (
    "PUT\n/examplebucket/dir/my%20file%2B1.txt\n"
    "partNumber=1&uploadId=0004B9894A22E5B1888A1E29F823ABCD\n"
    "content-md5:XrY7u+Ae7tCTyyK7j1rNww==\ncontent-type:application/octet-stream\n"
    "x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240601T083000Z\nx-oss-meta-author:alice\n"
    "\n\nUNSIGNED-PAYLOAD"
)


def a_headers() -> dict[str, str]:
    """The headers of set A's UploadPart request, before signing."""
    return {
        "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
        "Content-Type": "application/octet-stream",
        "x-oss-meta-author": "alice",
    }


def signature_of(authorization: str) -> str:
    return parse_v4_authorization(authorization).signature


def test_a1_upload_part_canonical_request_and_signature() -> None:
    headers = a_headers()
    sign_v4(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers), Credentials(AK, SK), REGION, NOW_A)

    assert headers["x-oss-date"] == "20240601T083000Z"
    assert headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert "x-oss-security-token" not in headers
    assert (
        v4_canonical_request(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers))
        == A1_CANONICAL_REQUEST
    )
    expected = "e6545a31973564993f2d13c99325f09d88fcd3c4288248365036100de5ec1a32"
    assert v4_signature(SK, REGION, "20240601T083000Z", A1_CANONICAL_REQUEST) == expected
    assert headers["Authorization"] == (f"OSS4-HMAC-SHA256 Credential={AK}/{SCOPE_A},Signature={expected}")


def test_a2_upload_part_with_sts_token() -> None:
    headers = a_headers()
    sign_v4(
        SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers),
        Credentials(AK, SK, STS_TOKEN),
        REGION,
        NOW_A,
    )

    assert headers["x-oss-security-token"] == STS_TOKEN
    assert signature_of(headers["Authorization"]) == (
        "afd8f58cc7b26129744cdf00af13cd35c3110800ed39681a12fbd3b7357b1027"
    )


def test_a3_host_as_additional_header() -> None:
    headers = a_headers()
    headers["Host"] = "examplebucket.oss-cn-hangzhou.aliyuncs.com"
    sign_v4(
        SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers),
        Credentials(AK, SK),
        REGION,
        NOW_A,
        ["Host"],
    )

    parsed = parse_v4_authorization(headers["Authorization"])
    assert parsed.additional_headers == ("host",)
    assert ",AdditionalHeaders=host," in headers["Authorization"]
    assert parsed.signature == "29edf482c4eb675b4d4b62cc6bb00036512fb0f04926e297c59d760badd5ec32"


def test_a4_initiate_multipart_upload() -> None:
    headers = {"Content-Type": "text/plain"}
    sign_v4(
        SigningRequest("POST", BUCKET, KEY, [("uploads", "")], headers), Credentials(AK, SK), REGION, NOW_A
    )

    assert signature_of(headers["Authorization"]) == (
        "eaeb766da95d21d91af345ad8cec44d56cbb39f3985fb44f9a1bd1adebb39ce8"
    )


def test_a5_list_objects_v2_bucket_level() -> None:
    query = [("list-type", "2"), ("prefix", "dir/"), ("max-keys", "100"), ("encoding-type", "url")]
    assert v4_canonical_query(query) == "encoding-type=url&list-type=2&max-keys=100&prefix=dir%2F"
    headers: dict[str, str] = {}
    sign_v4(SigningRequest("GET", BUCKET, None, query, headers), Credentials(AK, SK), REGION, NOW_A)

    canonical = v4_canonical_request(SigningRequest("GET", BUCKET, None, query, headers))
    assert canonical.split("\n")[1] == "/examplebucket/"
    assert signature_of(headers["Authorization"]) == (
        "edac1c38c9ba767e3630603287829ce22ffeff30f8a4e8a5570bfabeec6e9f34"
    )


def test_a6_presigned_get_with_sts_token() -> None:
    pairs = presign_v4(
        SigningRequest("GET", BUCKET, KEY, [], {}), Credentials(AK, SK, STS_TOKEN), REGION, NOW_A, 3600
    )

    assert pairs[-1] == (
        "x-oss-signature",
        "e46db90b0f61762a63f0bc5c4f083b44c496d00bee26102a8369de21d8e33f04",
    )
    query = dict(pairs)
    assert query["x-oss-signature-version"] == "OSS4-HMAC-SHA256"
    assert query["x-oss-date"] == "20240601T083000Z"
    assert query["x-oss-expires"] == "3600"
    assert query["x-oss-credential"] == f"{AK}/{SCOPE_A}"
    assert query["x-oss-security-token"] == STS_TOKEN
    assert "x-oss-additional-headers" not in query
    assert parse_v4_credential(query["x-oss-credential"]) == (AK, "20240601", REGION)


def test_v1_1_header_auth() -> None:
    headers = a_headers()
    sign_v1(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers), Credentials(AK, SK), NOW_A)

    assert headers["Date"] == "Sat, 01 Jun 2024 08:30:00 GMT"
    assert headers["Authorization"] == "OSS LTAI5tExampleAccessKeyId:rx7r7kTNTdiUl53Zcu4iZzKt9q8="


def test_v1_2_presigned_get() -> None:
    pairs = presign_v1(SigningRequest("GET", BUCKET, KEY, [], {}), Credentials(AK, SK), NOW_A, 3600)

    query = dict(pairs)
    assert query["OSSAccessKeyId"] == AK
    assert query["Expires"] == "1717234200"
    assert pairs[-1][0] == "Signature"
    assert quote(query["Signature"], safe="") == "MxJBYM%2FFfzaqGHpFX6QiPf49jlI%3D"


# ---------------------------------------------------------------------------------------------
# Set B
NOW_B = datetime(2023, 12, 3, 12, 12, 12, tzinfo=timezone.utc)
B1_KEY = "1234+-/123/1.txt"
B1_UPLOAD_ID = "0004B9894A22E5B1888A1E29F823****"


def b1_headers() -> dict[str, str]:
    return {
        "x-oss-head1": "value",
        "abc": "value",
        "ZAbc": "value",
        "XYZ": "value",
        "content-type": "text/plain",
        "x-oss-meta-a": "1",
    }


def test_b1_literal_star_canonical_query_matches_sdk_vector() -> None:
    """
    The SDK's own test signs ``uploadId=...F823****`` as raw URL text. Our signer always encodes
    ``*`` as ``%2A``, so rebuild that canonical request with the literal query line and check the
    hash and signature the vector gives.
    """
    query = [("partNumber", "1"), ("uploadId", B1_UPLOAD_ID)]
    headers = b1_headers()
    sign_v4(SigningRequest("PUT", "bucket", B1_KEY, query, headers), Credentials("ak", "sk"), REGION, NOW_B)

    lines = v4_canonical_request(SigningRequest("PUT", "bucket", B1_KEY, query, headers)).split("\n")
    assert lines[1] == "/bucket/1234%2B-/123/1.txt"
    assert lines[2] == "partNumber=1&uploadId=0004B9894A22E5B1888A1E29F823%2A%2A%2A%2A"
    lines[2] = "partNumber=1&uploadId=" + B1_UPLOAD_ID
    literal = "\n".join(lines)
    assert hashlib.sha256(literal.encode()).hexdigest() == (
        "549913ece412e0f8c29472a9018d70adbbcaf4d2edfb6afb0e784ae4700457ca"
    )
    assert v4_signature("sk", REGION, "20231203T121212Z", literal) == (
        "a49988146eb8e4c2ed7b27bf09c9273645485b1cc4399f2813dfd77596d1bb38"
    )
    # Headers outside x-oss-*, content-type and content-md5 are not signed.
    assert "abc:" not in literal
    assert "xyz:" not in literal
    assert "zabc:" not in literal


def test_b1_matches_sdk_signer_for_the_encoded_url() -> None:
    query = [("partNumber", "1"), ("uploadId", B1_UPLOAD_ID)]
    ours = b1_headers()
    sign_v4(SigningRequest("PUT", "bucket", B1_KEY, query, ours), Credentials("ak", "sk"), REGION, NOW_B)

    url = (
        "http://bucket.oss-cn-hangzhou.aliyuncs.com/1234%2B-/123/1.txt"
        "?partNumber=1&uploadId=0004B9894A22E5B1888A1E29F823%2A%2A%2A%2A"
    )
    request = HttpRequest("PUT", url, headers=b1_headers())
    context = SigningContext(
        product="oss",
        region=REGION,
        bucket="bucket",
        key=B1_KEY,
        request=request,
        credentials=StaticCredentialsProvider("ak", "sk").get_credentials(),
        signing_time=NOW_B,
    )
    SignerV4().sign(context)

    assert ours["Authorization"] == request.headers["Authorization"]
    # And it differs from the literal-'*' vector: the encoding really is part of what is signed.
    assert signature_of(ours["Authorization"]) != (
        "a49988146eb8e4c2ed7b27bf09c9273645485b1cc4399f2813dfd77596d1bb38"
    )


def test_b2_initiate_with_sts_token() -> None:
    headers = {"content-type": "application/octet-stream"}
    sign_v4(
        SigningRequest("POST", "bucket", "obj", [("uploads", "")], headers),
        Credentials("ak", "sk", "token-123"),
        REGION,
        NOW_B,
    )

    assert headers["x-oss-security-token"] == "token-123"
    assert headers["Authorization"] == (
        "OSS4-HMAC-SHA256 Credential=ak/20231203/cn-hangzhou/oss/aliyun_v4_request,"
        "Signature=168ac1539d028606c04e2a388afccced92c6f9deb37853682d316c115e8ee821"
    )


# ---------------------------------------------------------------------------------------------
# parse_v4_authorization


def test_parse_v4_authorization_round_trip() -> None:
    headers = a_headers()
    headers["Host"] = "examplebucket.oss-cn-hangzhou.aliyuncs.com"
    headers["Range"] = "bytes=0-9"
    sign_v4(
        SigningRequest("GET", BUCKET, KEY, [], headers), Credentials(AK, SK), REGION, NOW_A, ["range", "HOST"]
    )

    parsed = parse_v4_authorization(headers["Authorization"])
    assert parsed.access_key_id == AK
    assert parsed.date == "20240601"
    assert parsed.region == REGION
    assert parsed.product == "oss"
    assert parsed.additional_headers == ("host", "range")
    canonical = v4_canonical_request(
        SigningRequest("GET", BUCKET, KEY, [], headers), list(parsed.additional_headers)
    )
    assert parsed.signature == v4_signature(SK, parsed.region, headers["x-oss-date"], canonical)


def test_parse_v4_authorization_accepts_spaces_after_commas() -> None:
    """oss2 writes ``Credential=..., Signature=..., AdditionalHeaders=...``."""
    value = (
        "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aliyun_v4_request, "
        "Signature=abc123, AdditionalHeaders=host;range"
    )
    parsed = parse_v4_authorization(value)
    assert parsed.access_key_id == "ak"
    assert parsed.signature == "abc123"
    assert parsed.additional_headers == ("host", "range")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aliyun_v4_request,"
            "AdditionalHeaders=,Signature=abc",
            id="empty-additional-headers",
        ),
        pytest.param(
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aliyun_v4_request",
            id="missing-signature",
        ),
        pytest.param(
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aliyun_v4_request,Signature",
            id="signature-without-value-separator",
        ),
        pytest.param("OSS4-HMAC-SHA256 Signature=abc", id="missing-credential"),
        pytest.param(
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aws4_request,Signature=abc",
            id="wrong-scope-terminator",
        ),
        pytest.param(
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/aliyun_v4_request,Signature=abc",
            id="scope-too-short",
        ),
        pytest.param(
            "OSS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/x/aliyun_v4_request,Signature=abc",
            id="scope-too-long",
        ),
        pytest.param("OSS ak:c2lnbmF0dXJl", id="v1-header"),
        pytest.param(
            "AWS4-HMAC-SHA256 Credential=ak/20240601/cn-hangzhou/oss/aliyun_v4_request,Signature=abc",
            id="wrong-algorithm",
        ),
        pytest.param("", id="empty"),
    ],
)
def test_parse_v4_authorization_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_v4_authorization(value)


@pytest.mark.parametrize(
    "value",
    [
        "ak/20240601/cn-hangzhou/s3/aliyun_v4_request",
        "ak/20240601/cn-hangzhou/oss/aws4_request",
        "ak/20240601/cn-hangzhou/oss",
        "",
    ],
)
def test_parse_v4_credential_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match="x-oss-credential"):
        parse_v4_credential(value)


# ---------------------------------------------------------------------------------------------
# Presign expiry bounds


@pytest.mark.parametrize("expires", [0, -1, -3600, MAX_PRESIGN_EXPIRES + 1, 10**9])
def test_presign_rejects_expiry_out_of_bounds(expires: int) -> None:
    creds = Credentials(AK, SK)
    with pytest.raises(ValueError, match="604800"):
        presign_v4(SigningRequest("GET", BUCKET, KEY, [], {}), creds, REGION, NOW_A, expires)
    with pytest.raises(ValueError, match="604800"):
        presign_v1(SigningRequest("GET", BUCKET, KEY, [], {}), creds, NOW_A, expires)


@pytest.mark.parametrize("expires", [1, MAX_PRESIGN_EXPIRES])
def test_presign_accepts_expiry_bounds(expires: int) -> None:
    assert MAX_PRESIGN_EXPIRES == 604800
    creds = Credentials(AK, SK)
    v4 = dict(presign_v4(SigningRequest("GET", BUCKET, KEY, [], {}), creds, REGION, NOW_A, expires))
    assert v4["x-oss-expires"] == str(expires)
    v1 = dict(presign_v1(SigningRequest("GET", BUCKET, KEY, [], {}), creds, NOW_A, expires))
    assert int(v1["Expires"]) == int(NOW_A.timestamp()) + expires


def test_presign_v4_replaces_stale_signing_parameters() -> None:
    """Re-presigning a URL's own query must not keep the old signature, token or header list."""
    creds = Credentials(AK, SK, STS_TOKEN)
    first = presign_v4(
        SigningRequest("GET", BUCKET, KEY, [("versionId", "v1")], {}), creds, REGION, NOW_A, 60
    )
    stale = {"x-oss-signature", "x-oss-security-token", "x-oss-additional-headers"}
    user_query = [(n, v) for n, v in first if n in stale or not n.startswith("x-oss-")]
    assert {n for n, _ in user_query} == stale - {"x-oss-additional-headers"} | {"versionId"}
    again = presign_v4(SigningRequest("GET", BUCKET, KEY, user_query, {}), creds, REGION, NOW_A, 60)
    assert again == first


# ---------------------------------------------------------------------------------------------
# Additional headers and header-name case


def test_absent_or_empty_additional_headers_are_not_listed() -> None:
    requested = ["host", "range", "if-match", "content-type", "x-oss-meta-author", "Content-MD5"]
    plain = a_headers()
    sign_v4(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, plain), Credentials(AK, SK), REGION, NOW_A)

    with_empty = {**a_headers(), "Range": ""}
    assert v4_additional_headers(with_empty, requested) == []
    sign_v4(
        SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, with_empty),
        Credentials(AK, SK),
        REGION,
        NOW_A,
        requested,
    )

    assert "AdditionalHeaders" not in with_empty["Authorization"]
    assert with_empty["Authorization"] == plain["Authorization"]
    # An empty field would be rejected by OSS; the parser refuses it too.
    assert parse_v4_authorization(with_empty["Authorization"]).additional_headers == ()


def test_only_present_additional_headers_are_listed_and_signed() -> None:
    headers = {**a_headers(), "Range": "bytes=0-9", "Cache-Control": "no-cache"}
    requested = ["host", "RANGE", "x-oss-meta-author", "cache-control"]
    assert v4_additional_headers(headers, requested) == ["cache-control", "range"]

    sign_v4(SigningRequest("GET", BUCKET, KEY, [], headers), Credentials(AK, SK), REGION, NOW_A, requested)
    assert ",AdditionalHeaders=cache-control;range," in headers["Authorization"]
    canonical = v4_canonical_request(
        SigningRequest("GET", BUCKET, KEY, [], headers), ["cache-control", "range"]
    )
    assert "cache-control:no-cache\n" in canonical
    assert "range:bytes=0-9\n" in canonical
    assert canonical.split("\n")[-2] == "cache-control;range"


def test_unrequested_headers_do_not_change_the_signature() -> None:
    plain = a_headers()
    sign_v4(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, plain), Credentials(AK, SK), REGION, NOW_A)
    noisy = {**a_headers(), "Host": "example", "User-Agent": "x", "Date": "whenever", "Range": "bytes=1-2"}
    sign_v4(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, noisy), Credentials(AK, SK), REGION, NOW_A)
    assert noisy["Authorization"] == plain["Authorization"]


def test_header_names_are_case_insensitive() -> None:
    lower = {k.lower(): v for k, v in a_headers().items()}
    upper = {k.upper(): v for k, v in a_headers().items()}
    mixed = {
        "content-MD5": lower["content-md5"],
        "CONTENT-type": lower["content-type"],
        "X-Oss-Meta-Author": "alice",
    }
    signatures = set()
    for headers in (lower, upper, mixed):
        sign_v4(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers), Credentials(AK, SK), REGION, NOW_A)
        signatures.add(headers["Authorization"])
    assert signatures == {
        f"OSS4-HMAC-SHA256 Credential={AK}/{SCOPE_A},"
        "Signature=e6545a31973564993f2d13c99325f09d88fcd3c4288248365036100de5ec1a32"
    }

    v1_signatures = set()
    for headers in (
        {k.lower(): v for k, v in a_headers().items()},
        {k.upper(): v for k, v in a_headers().items()},
    ):
        sign_v1(SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers), Credentials(AK, SK), NOW_A)
        v1_signatures.add(headers["Authorization"])
    assert v1_signatures == {"OSS LTAI5tExampleAccessKeyId:rx7r7kTNTdiUl53Zcu4iZzKt9q8="}


def test_additional_header_names_are_case_insensitive() -> None:
    results = set()
    for header_name, requested in (("Host", "host"), ("host", "HOST"), ("HOST", "Host")):
        headers = {**a_headers(), header_name: "examplebucket.oss-cn-hangzhou.aliyuncs.com"}
        sign_v4(
            SigningRequest("PUT", BUCKET, KEY, UPLOAD_QUERY, headers),
            Credentials(AK, SK),
            REGION,
            NOW_A,
            [requested],
        )
        results.add(headers["Authorization"])
    assert len(results) == 1
    assert signature_of(results.pop()) == "29edf482c4eb675b4d4b62cc6bb00036512fb0f04926e297c59d760badd5ec32"


# ---------------------------------------------------------------------------------------------
# Canonical URIs and resources


def test_service_and_bucket_level_canonical_uris() -> None:
    assert v4_canonical_uri(None, None) == "/"
    assert v4_canonical_uri("", None) == "/"
    assert v4_canonical_uri(BUCKET, None) == "/examplebucket/"
    assert v4_canonical_uri(BUCKET, "") == "/examplebucket/"
    assert v4_canonical_uri(BUCKET, "a/b c/") == "/examplebucket/a/b%20c/"
    assert v4_canonical_uri(BUCKET, "中文/😀~-_.*+=&?#%") == (
        "/examplebucket/%E4%B8%AD%E6%96%87/%F0%9F%98%80~-_.%2A%2B%3D%26%3F%23%25"
    )
    assert unquote(v4_canonical_uri(BUCKET, "中文/😀~-_.*+=&?#%")) == "/examplebucket/中文/😀~-_.*+=&?#%"

    assert v1_canonical_resource(None, None, []) == "/"
    assert v1_canonical_resource(BUCKET, None, [("acl", "")]) == "/examplebucket/?acl"
    # V1 signs the raw key and only sub-resources, sorted, with their decoded values.
    assert v1_canonical_resource(BUCKET, "a b+c", [("uploadId", "x/y"), ("prefix", "p"), ("acl", "")]) == (
        "/examplebucket/a b+c?acl&uploadId=x/y"
    )


def test_service_level_request_signature_matches_sdk() -> None:
    """ListBuckets: canonical URI ``/`` and no bucket in the SDK's signing context."""
    query = [("prefix", "my/"), ("max-keys", "10")]
    ours: dict[str, str] = {}
    sign_v4(SigningRequest("GET", None, None, query, ours), Credentials(AK, SK, STS_TOKEN), REGION, NOW_A)
    canonical = v4_canonical_request(SigningRequest("GET", None, None, query, ours))
    assert canonical.split("\n")[1:3] == ["/", "max-keys=10&prefix=my%2F"]

    request = HttpRequest("GET", "https://oss-cn-hangzhou.aliyuncs.com/?prefix=my%2F&max-keys=10")
    context = SigningContext(
        product="oss",
        region=REGION,
        request=request,
        credentials=StaticCredentialsProvider(AK, SK, STS_TOKEN).get_credentials(),
        signing_time=NOW_A,
    )
    SignerV4().sign(context)
    assert ours["Authorization"] == request.headers["Authorization"]


def test_canonical_query_bare_flags_and_sorting_by_encoded_name() -> None:
    query = [
        ("uploads", ""),
        ("acl", ""),
        ("Z", "1"),
        ("a b", "c/d"),
        ("x-oss-process", "image/resize,w_100"),
    ]
    assert v4_canonical_query(query) == ("Z=1&a%20b=c%2Fd&acl&uploads&x-oss-process=image%2Fresize%2Cw_100")
    assert v4_canonical_query([]) == ""
