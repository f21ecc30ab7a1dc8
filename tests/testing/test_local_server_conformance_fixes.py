"""Behaviour the official SDK suites expect of OSS, on the local server (each found by a suite run)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from airflow_provider_oss.core import signing
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, error_code, parse_xml

B = "test-bucket"


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def _delete_body(*objects: str) -> tuple[bytes, dict[str, str]]:
    body = ("<Delete><Quiet>false</Quiet>" + "".join(objects) + "</Delete>").encode()
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    return body, {"Content-MD5": md5}


def test_list_buckets_pages_by_prefix_marker_and_max_keys(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    for name in ("page-a1", "page-a2", "page-a3", "other-b1"):
        assert client.request("PUT", name).status_code == 200
    first = parse_xml(client.request("GET", None, None, [("prefix", "page-"), ("max-keys", "2")]))
    assert [b.findtext("Name") for b in first.findall("Buckets/Bucket")] == ["page-a1", "page-a2"]
    assert (first.findtext("IsTruncated"), first.findtext("NextMarker")) == ("true", "page-a2")
    rest = parse_xml(client.request("GET", None, None, [("prefix", "page-"), ("marker", "page-a2")]))
    assert [b.findtext("Name") for b in rest.findall("Buckets/Bucket")] == ["page-a3"]
    assert rest.findtext("IsTruncated") == "false"
    # The listed endpoint is the one this client used, so an SDK can reach a listed bucket.
    assert first.findtext("Buckets/Bucket/ExtranetEndpoint") == f"127.0.0.1:{oss_server.port}"


def test_put_bucket_keeps_its_configuration_and_acl(client: RawClient) -> None:
    config = (
        b"<CreateBucketConfiguration><StorageClass>IA</StorageClass>"
        b"<DataRedundancyType>ZRS</DataRedundancyType></CreateBucketConfiguration>"
    )
    put = client.request("PUT", "configured", headers={"x-oss-acl": "public-read-write"}, data=config)
    assert put.status_code == 200
    info = parse_xml(client.request("GET", "configured", None, [("bucketInfo", "")]))
    bucket = info.find("Bucket")
    assert bucket is not None
    assert bucket.findtext("StorageClass") == "IA"
    assert bucket.findtext("DataRedundancyType") == "ZRS"
    assert bucket.findtext("AccessControlList/Grant") == "public-read-write"
    assert bucket.findtext("AccessMonitor") == "Disabled"
    assert bucket.findtext("CrossRegionReplication") == "Disabled"
    assert bucket.findtext("ServerSideEncryptionRule/SSEAlgorithm") == "None"
    bad = client.request(
        "PUT",
        "badclass",
        data=b"<CreateBucketConfiguration><StorageClass>Cheap</StorageClass></CreateBucketConfiguration>",
    )
    assert (bad.status_code, error_code(bad)) == (400, "InvalidArgument")
    assert client.request("HEAD", "badclass").status_code == 404


def test_object_versions_of_an_unversioned_bucket_are_null(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    for key in ("v/a", "v/b"):
        client.request("PUT", B, key, data=b"x")
    listing = parse_xml(client.request("GET", B, None, [("versions", ""), ("prefix", "v/")]))
    versions = listing.findall("Version")
    assert [(v.findtext("Key"), v.findtext("VersionId"), v.findtext("IsLatest")) for v in versions] == [
        ("v/a", "null", "true"),
        ("v/b", "null", "true"),
    ]
    # A version the object does not have: nothing is deleted (as OSS).
    other = client.request("DELETE", B, "v/a", [("versionId", "CAEQMTIz")])
    assert other.status_code == 204
    body, headers = _delete_body("<Object><Key>v/a</Key><VersionId>CAEQMTIz</VersionId></Object>")
    named = parse_xml(client.request("POST", B, None, [("delete", "")], headers, data=body))
    assert named.findtext("Deleted/VersionId") == "CAEQMTIz"
    assert oss_server.object_bytes(B, "v/a") == b"x"
    assert client.request("DELETE", B, "v/a", [("versionId", "null")]).status_code == 204
    body, headers = _delete_body("<Object><Key>v/b</Key><VersionId>null</VersionId></Object>")
    deleted = parse_xml(client.request("POST", B, None, [("delete", "")], headers, data=body))
    assert deleted.findtext("Deleted/VersionId") == "null"
    assert parse_xml(client.request("GET", B, None, [("versions", "")])).findall("Version") == []


def test_delete_multiple_accepts_character_references_to_control_characters(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    key = "ctl-\x01\x02-key"
    assert client.request("PUT", B, key, data=b"x").status_code == 200
    body, headers = _delete_body("<Object><Key>ctl-&#01;&#x2;-key</Key></Object>")
    answer = client.request("POST", B, None, [("delete", ""), ("encoding-type", "url")], headers, data=body)
    assert answer.status_code == 200, answer.text
    assert parse_xml(answer).findtext("Deleted/Key") == quote(key, safe="/")
    assert client.request("HEAD", B, key).status_code == 404


def test_multipart_listings_carry_storage_class_and_next_markers(client: RawClient) -> None:
    upload = parse_xml(client.request("POST", B, "mp", [("uploads", "")], {"x-oss-storage-class": "IA"}))
    upload_id = upload.findtext("UploadId") or ""
    client.request("PUT", B, "mp", [("partNumber", "1"), ("uploadId", upload_id)], data=b"p")
    parts = parse_xml(client.request("GET", B, "mp", [("uploadId", upload_id)]))
    assert parts.findtext("StorageClass") == "IA"
    uploads = parse_xml(client.request("GET", B, None, [("uploads", "")]))
    assert uploads.findtext("IsTruncated") == "false"
    assert (uploads.findtext("NextKeyMarker"), uploads.findtext("NextUploadIdMarker")) == ("mp", upload_id)


def test_content_type_is_not_guessed_and_copy_keeps_the_source_type(client: RawClient) -> None:
    client.request("PUT", B, "photo.jpg", data=b"x")
    assert client.request("HEAD", B, "photo.jpg").headers["Content-Type"] == "application/octet-stream"
    client.request("PUT", B, "typed", headers={"Content-Type": "text/csv"}, data=b"a,b")
    copy = client.request(
        "PUT",
        B,
        "copied",
        headers={
            "x-oss-copy-source": f"/{B}/typed",
            "x-oss-metadata-directive": "REPLACE",
            "x-oss-meta-a": "1",
        },
    )
    assert copy.status_code == 200
    head = client.request("HEAD", B, "copied")
    assert (head.headers["Content-Type"], head.headers["x-oss-meta-a"]) == ("text/csv", "1")


def test_copy_source_key_with_a_question_mark(oss_server: LocalOssServer, client: RawClient) -> None:
    client.request("PUT", B, "what?.txt", data=b"question")
    source = f"/{B}/{quote('what?.txt', safe='')}"
    assert client.request("PUT", B, "answer", headers={"x-oss-copy-source": source}).status_code == 200
    assert oss_server.object_bytes(B, "answer") == b"question"


def test_bucket_level_put_on_a_missing_bucket_judges_the_key_first(oss_server: LocalOssServer) -> None:
    wrong = Credentials("no-such-key-id", "whatever")
    with RawClient(oss_server, credentials=wrong) as raw:
        put_acl = raw.request("PUT", "missing-bucket", None, [("acl", "")], {"x-oss-acl": "private"})
        assert (put_acl.status_code, error_code(put_acl)) == (403, "InvalidAccessKeyId")
        get_acl = raw.request("GET", "missing-bucket", None, [("acl", "")])
        assert (get_acl.status_code, error_code(get_acl)) == (404, "NoSuchBucket")
    with RawClient(oss_server) as raw:
        signed = raw.request("PUT", "missing-bucket", None, [("acl", "")], {"x-oss-acl": "private"})
        assert (signed.status_code, error_code(signed)) == (501, "NotImplemented")
        assert raw.request("HEAD", "missing-bucket").status_code == 404


def test_other_bucket_level_puts_on_a_missing_bucket_are_no_such_bucket(oss_server: LocalOssServer) -> None:
    wrong = Credentials("no-such-key-id", "whatever")
    with RawClient(oss_server, credentials=wrong) as raw:
        for flag in ("versioning", "accessPoint", "cors"):
            answer = raw.request("PUT", "missing-bucket", None, [(flag, "")], data=b"<x/>")
            assert (answer.status_code, error_code(answer)) == (404, "NoSuchBucket"), flag


def test_list_parts_carries_the_client_side_encryption_metadata(client: RawClient) -> None:
    meta = {
        "x-oss-meta-client-side-encryption-key": "wrapped-key",
        "x-oss-meta-client-side-encryption-start": "iv",
        "x-oss-meta-client-side-encryption-cek-alg": "AES/CTR/NoPadding",
        "x-oss-meta-client-side-encryption-wrap-alg": "RSA/NONE/PKCS1Padding",
        "x-oss-meta-client-side-encryption-data-size": "307445",
        "x-oss-meta-client-side-encryption-part-size": "102400",
    }
    upload_id = (
        parse_xml(client.request("POST", B, "cse", [("uploads", "")], meta)).findtext("UploadId") or ""
    )
    parts = parse_xml(client.request("GET", B, "cse", [("uploadId", upload_id)]))
    assert parts.findtext("ClientEncryptionKey") == "wrapped-key"
    assert parts.findtext("ClientEncryptionStart") == "iv"
    assert parts.findtext("ClientEncryptionCekAlg") == "AES/CTR/NoPadding"
    assert parts.findtext("ClientEncryptionWrapAlg") == "RSA/NONE/PKCS1Padding"
    assert (parts.findtext("ClientEncryptionDataSize"), parts.findtext("ClientEncryptionPartSize")) == (
        "307445",
        "102400",
    )


def test_plus_in_a_query_string_is_a_space(oss_server: LocalOssServer, client: RawClient) -> None:
    client.request("PUT", B, "a b/1", data=b"x")
    client.request("PUT", B, "a+b/2", data=b"x")
    session = client.session
    headers: dict[str, str] = {}
    signing.sign_v4(
        signing.SigningRequest("GET", B, None, [("prefix", "a b")], headers),
        oss_server.credentials,
        oss_server.region,
        datetime.now(timezone.utc),
    )
    listing = session.get(f"{oss_server.endpoint}/{B}/?prefix=a+b", headers=headers, timeout=10)
    assert listing.status_code == 200, listing.text
    assert [c.findtext("Key") for c in parse_xml(listing).findall("Contents")] == ["a b/1"]
    plus = parse_xml(client.request("GET", B, None, [("prefix", "a+b")]))  # sent as %2B
    assert [c.findtext("Key") for c in plus.findall("Contents")] == ["a+b/2"]


def test_raw_utf8_metadata_is_verified_and_stored_as_utf8(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    for version in ("v4", "v1"):
        headers: dict[str, str] = {"x-oss-meta-city": "Zürich 杭州"}
        now = datetime.now(timezone.utc)
        if version == "v4":
            signing.sign_v4(
                signing.SigningRequest("PUT", B, "utf8", [], headers),
                oss_server.credentials,
                oss_server.region,
                now,
            )
        else:
            signing.sign_v1(
                signing.SigningRequest("PUT", B, "utf8", [], headers), oss_server.credentials, now
            )
        raw = {name: value.encode("utf-8") for name, value in headers.items()}  # raw UTF-8 on the wire
        put = client.session.put(f"{oss_server.endpoint}/{B}/utf8", data=b"x", headers=raw, timeout=10)
        assert put.status_code == 200, put.text
        assert oss_server.object_info(B, "utf8")["meta"]["x-oss-meta-city"] == "Zürich 杭州"
        head = client.request("HEAD", B, "utf8")
        assert head.headers["x-oss-meta-city"].encode("latin-1").decode("utf-8") == "Zürich 杭州"


def test_wrong_content_md5_is_invalid_digest(client: RawClient) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other", usedforsecurity=False).digest()).decode()
    answer = client.request("PUT", B, "md5", headers={"Content-MD5": wrong}, data=b"body")
    assert (answer.status_code, error_code(answer)) == (400, "InvalidDigest")


def test_get_declaring_a_content_length_without_a_body_is_answered(oss_server: LocalOssServer) -> None:
    import socket
    import time

    with RawClient(oss_server) as raw:
        raw.request("PUT", B, "k", data=b"hello")
        headers: dict[str, str] = {"Content-Length": "5"}
        signing.sign_v4(
            signing.SigningRequest("GET", B, "k", [], headers),
            oss_server.credentials,
            oss_server.region,
            datetime.now(timezone.utc),
        )
    request = f"GET /{B}/k HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{n}: {v}\r\n" for n, v in headers.items()
    )
    with socket.create_connection(("127.0.0.1", oss_server.port), timeout=5) as conn:
        started = time.monotonic()
        conn.sendall((request + "\r\n").encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert time.monotonic() - started < 3
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"hello")


def test_live_channels_list_empty_and_cannot_be_created(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    import oss2

    bucket = oss2.Bucket(
        oss2.Auth(oss_server.access_key_id, oss_server.access_key_secret), oss_server.endpoint, B
    )
    assert list(oss2.LiveChannelIterator(bucket)) == []
    created = client.request("PUT", B, "channel", [("live", "")], data=b"<LiveChannelConfiguration/>")
    assert (created.status_code, error_code(created)) == (501, "NotImplemented")


def test_signature_v2_is_declared_unsupported(oss_server: LocalOssServer) -> None:
    import oss2

    bucket = oss2.Bucket(
        oss2.AuthV2(oss_server.access_key_id, oss_server.access_key_secret), oss_server.endpoint, B
    )
    with pytest.raises(oss2.exceptions.ServerError) as err:
        bucket.put_object("v2", b"x")
    assert (err.value.status, err.value.code) == (501, "NotImplemented")
    assert oss_server.request_log()[-1]["status"] == 501


def test_error_codes_and_messages_the_sdks_compare(oss_server: LocalOssServer, client: RawClient) -> None:
    missing = client.request("GET", B, "missing")
    assert missing.headers["x-oss-ec"] == "0026-00000001"  # OSS's EC for NoSuchKey
    with RawClient(oss_server, region="cn-hangzhou-test-1") as other_region:
        wrong = other_region.request("HEAD", B, "missing")
        assert wrong.headers["x-oss-ec"] == "0002-00000226"
        bad = other_region.request("GET", B, "missing")
        assert parse_xml(bad).findtext("Message") == "Invalid signing region in Authorization header."
        url = other_region.presign("GET", B, "missing")
        presigned = other_region.get_presigned(url)
        assert parse_xml(presigned).findtext("Message") == "The signing region in credential is invalid."


def test_server_side_encryption_headers_are_echoed(client: RawClient) -> None:
    kms = {"x-oss-server-side-encryption": "KMS", "x-oss-server-side-data-encryption": "SM4"}
    put = client.request("PUT", B, "kms", headers=kms, data=b"x")
    assert (
        put.headers["x-oss-server-side-encryption"],
        put.headers["x-oss-server-side-data-encryption"],
    ) == (
        "KMS",
        "SM4",
    )
    assert put.headers["x-oss-server-side-encryption-key-id"]
    head = client.request("HEAD", B, "kms")
    assert (
        head.headers["x-oss-server-side-encryption-key-id"]
        == put.headers["x-oss-server-side-encryption-key-id"]
    )
    copy = client.request(
        "PUT",
        B,
        "kms-copy",
        headers={"x-oss-copy-source": f"/{B}/kms", "x-oss-server-side-encryption": "KMS"},
    )
    assert copy.headers["x-oss-server-side-encryption"] == "KMS"
    init = client.request("POST", B, "mp-kms", [("uploads", "")], kms)
    assert init.headers["x-oss-server-side-data-encryption"] == "SM4"
    upload_id = parse_xml(init).findtext("UploadId") or ""
    query = [("partNumber", "1"), ("uploadId", upload_id)]
    refused = client.request("PUT", B, "mp-kms", query, {"x-oss-server-side-encryption": "KMS"}, data=b"p")
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    part = client.request("PUT", B, "mp-kms", query, data=b"p")
    assert part.headers["x-oss-server-side-encryption"] == "KMS"
    aes = client.request("PUT", B, "aes", headers={"x-oss-server-side-encryption": "AES256"}, data=b"x")
    assert "x-oss-server-side-encryption-key-id" not in aes.headers


def test_encryption_follows_the_request_not_the_source_or_a_lone_data_algorithm(client: RawClient) -> None:
    lone = client.request("PUT", B, "lone", headers={"x-oss-server-side-data-encryption": "SM4"}, data=b"x")
    assert "x-oss-server-side-data-encryption" not in lone.headers
    kms = {"x-oss-server-side-encryption": "KMS", "x-oss-server-side-data-encryption": "SM4"}
    client.request("PUT", B, "src", headers=kms, data=b"x")
    client.request("PUT", B, "plain-copy", headers={"x-oss-copy-source": f"/{B}/src"})
    head = client.request("HEAD", B, "plain-copy")
    assert not [name for name in head.headers if name.lower().startswith("x-oss-server-side-")]
    aes = {"x-oss-copy-source": f"/{B}/src", "x-oss-server-side-encryption": "AES256"}
    client.request("PUT", B, "aes-copy", headers=aes)
    head = client.request("HEAD", B, "aes-copy")
    assert head.headers["x-oss-server-side-encryption"] == "AES256"
    assert "x-oss-server-side-data-encryption" not in head.headers


def test_objects_take_their_bucket_storage_class(client: RawClient) -> None:
    config = b"<CreateBucketConfiguration><StorageClass>IA</StorageClass></CreateBucketConfiguration>"
    assert client.request("PUT", "ia-bucket", data=config).status_code == 200
    client.request("PUT", "ia-bucket", "plain", data=b"x")
    client.request("PUT", "ia-bucket", "archived", headers={"x-oss-storage-class": "Archive"}, data=b"x")
    listing = parse_xml(client.request("GET", "ia-bucket"))
    assert [(c.findtext("Key"), c.findtext("StorageClass")) for c in listing.findall("Contents")] == [
        ("archived", "Archive"),
        ("plain", "IA"),
    ]
    assert client.request("HEAD", "ia-bucket", "plain").headers["x-oss-storage-class"] == "IA"


def test_delete_multiple_accepts_raw_control_characters(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    key = "form\x0cfeed.txt"
    client.request("PUT", B, key, data=b"x")
    body, headers = _delete_body("<Object><Key>form\x0cfeed.txt</Key></Object>")
    answer = client.request("POST", B, None, [("delete", "")], headers, data=body)
    assert answer.status_code == 200, answer.text
    assert client.request("HEAD", B, key).status_code == 404


def test_get_object_is_gzip_compressed_when_accepted(oss_server: LocalOssServer, client: RawClient) -> None:
    import gzip

    text = b"compressible line of text\n" * 400
    client.request("PUT", B, "page.txt", headers={"Content-Type": "text/plain"}, data=text)
    client.request("PUT", B, "blob.bin", data=text)
    headers = {"Accept-Encoding": "gzip"}
    got = client.request("GET", B, "page.txt", headers=headers)
    assert got.headers["Content-Encoding"] == "gzip"
    assert got.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in got.headers
    assert got.content == text  # requests decodes it
    raw = client.session.get(
        client.url(B, "page.txt"),
        headers={**headers, **_signed_get(oss_server, "page.txt")},
        stream=True,
        timeout=10,
    )
    assert gzip.decompress(raw.raw.read()) == text
    assert "Content-Encoding" not in client.request("GET", B, "blob.bin", headers=headers).headers
    ranged = client.request("GET", B, "page.txt", headers={**headers, "Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, text[:10])
    identity = client.request("GET", B, "page.txt", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers
    assert identity.headers["Content-Length"] == str(len(text))


def _signed_get(server: LocalOssServer, key: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    signing.sign_v4(
        signing.SigningRequest("GET", B, key, [], headers),
        server.credentials,
        server.region,
        datetime.now(timezone.utc),
    )
    return headers


@pytest.mark.parametrize(
    "objects",
    [
        "<Object><Key></Key></Object>",
        "<Object><Key/></Object>",
        "<Object><Key>kept</Key></Object><Object><Key></Key></Object>",
        "<Object><VersionId>null</VersionId></Object>",
        "<Object><Key>kept</Key></Object><Object><Key>nul-&#0;-key</Key></Object>",
        "<Object><Key>kept</Key></Object><Object><Key>nul-&#x0;-key</Key></Object>",
    ],
    ids=["empty", "self-closed", "empty-after-a-real-key", "no-key", "nul-reference", "hex-nul-reference"],
)
def test_delete_multiple_refuses_an_empty_missing_or_nul_key_and_deletes_nothing(
    oss_server: LocalOssServer, client: RawClient, objects: str
) -> None:
    client.request("PUT", B, "kept", data=b"x")
    body, headers = _delete_body(objects)
    answer = client.request("POST", B, None, [("delete", "")], headers, data=body)
    assert (answer.status_code, error_code(answer)) == (400, "MalformedXML")
    assert b"\x00" not in answer.content
    assert oss_server.object_bytes(B, "kept") == b"x"


def test_delete_multiple_deletes_a_key_of_spaces_which_is_an_object_name(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    assert client.request("PUT", B, " ", data=b"blank name").status_code == 200
    body, headers = _delete_body("<Object><Key> </Key></Object>")
    answer = client.request("POST", B, None, [("delete", "")], headers, data=body)
    assert answer.status_code == 200, answer.text
    assert parse_xml(answer).findtext("Deleted/Key") == " "
    assert client.request("HEAD", B, " ").status_code == 404
