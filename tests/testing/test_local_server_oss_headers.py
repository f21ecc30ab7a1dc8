"""
``x-oss-`` headers follow OSS on the operations the server implements: applied where OSS applies
them, ignored where OSS ignores them (a header OSS applies that the server lacks answers 501, see
test_local_server_safety.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, parse_xml
from tests.testing.test_local_server_multipart import complete_xml

B = "test-bucket"


@pytest.fixture(params=["v4", "v1"])
def client(oss_server: LocalOssServer, request: pytest.FixtureRequest) -> Iterator[RawClient]:
    with RawClient(oss_server, version=request.param) as raw:
        yield raw


def test_list_objects_v2_with_a_request_payer_lists(client: RawClient) -> None:
    client.request("PUT", B, "listed", data=b"x")
    answer = client.request("GET", B, None, [("list-type", "2")], {"x-oss-request-payer": "requester"})
    assert answer.status_code == 200, answer.text
    assert [c.findtext("Key") for c in parse_xml(answer).findall("Contents")] == ["listed"]


def test_get_object_ignores_forbid_overwrite(client: RawClient) -> None:
    client.request("PUT", B, "k", data=b"content")
    answer = client.request("GET", B, "k", headers={"x-oss-forbid-overwrite": "true"})
    assert (answer.status_code, answer.content) == (200, b"content")


def test_a_header_oss_does_not_know_is_ignored(oss_server: LocalOssServer, client: RawClient) -> None:
    answer = client.request("PUT", B, "k", headers={"x-oss-some-new-header": "1"}, data=b"stored")
    assert answer.status_code == 200, answer.text
    assert oss_server.object_bytes(B, "k") == b"stored"
    assert "x-oss-some-new-header" not in oss_server.object_info(B, "k")["meta"]


def test_a_v4_presigned_put_with_a_signed_client_header_stores(oss_server: LocalOssServer) -> None:
    with RawClient(oss_server, version="v4") as raw:
        url = raw.presign("PUT", B, "presigned", headers={"x-oss-user": "alice"})
        answer = raw.get_presigned(url, "PUT", B, headers={"x-oss-user": "alice"}, data=b"via url")
        assert answer.status_code == 200, answer.text
        assert oss_server.object_bytes(B, "presigned") == b"via url"
        forged = raw.get_presigned(url, "PUT", B, headers={"x-oss-user": "mallory"}, data=b"forged")
        assert forged.status_code == 403  # still signed: another value breaks the signature
    assert oss_server.object_bytes(B, "presigned") == b"via url"


def test_upload_part_ignores_object_acl_and_complete_all_and_complete_ignores_encryption(
    oss_server: LocalOssServer, client: RawClient
) -> None:
    upload_id = parse_xml(client.request("POST", B, "mp", [("uploads", "")])).findtext("UploadId") or ""
    part = client.request(
        "PUT",
        B,
        "mp",
        [("partNumber", "1"), ("uploadId", upload_id)],
        {"x-oss-object-acl": "public-read", "x-oss-complete-all": "yes"},
        data=b"the part",
    )
    assert part.status_code == 200, part.text
    done = client.request(
        "POST",
        B,
        "mp",
        [("uploadId", upload_id)],
        {"x-oss-server-side-encryption": "AES256"},
        data=complete_xml([(1, part.headers["ETag"])]),
    )
    assert done.status_code == 200, done.text
    assert oss_server.object_bytes(B, "mp") == b"the part"
    meta = oss_server.object_info(B, "mp")["meta"]
    assert "x-oss-object-acl" not in meta and "x-oss-server-side-encryption" not in meta
    head = client.request("HEAD", B, "mp")
    assert "x-oss-server-side-encryption" not in head.headers
    anonymous = client.request("GET", B, "mp", sign=False)
    assert anonymous.status_code == 403  # the part's x-oss-object-acl did not make the object public


def test_unknown_sub_resources_stay_501_whatever_the_headers(client: RawClient) -> None:
    answer = client.request(
        "PUT", B, "k", [("tagging", "")], {"x-oss-request-payer": "requester"}, data=b"<T/>"
    )
    assert answer.status_code == 501
