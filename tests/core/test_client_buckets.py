"""
OssClient's bucket calls (PutBucket, DeleteBucket, the existence check) and the forced emptying,
against the local server: what the server holds afterwards, and OSS's errors.
"""

from __future__ import annotations

import pytest

from airflow_provider_oss.core.bucket_empty import empty_bucket
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_buckets import create_bucket_body
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.errors import OssAuthError, OssClientError, OssNotFoundError, OssServiceError
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.ops_buckets import OTHER_ACCOUNT_PREFIX
from airflow_provider_oss.testing.rawclient import RawClient, error_code
from tests.upload_support import make_client


def _ops(server: LocalOssServer, op: str) -> list[dict[str, object]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


def test_create_bucket_sends_its_settings_and_the_server_keeps_them(
    oss_server: LocalOssServer, oss_client: OssClient
) -> None:
    oss_client.create_bucket("new-bucket", acl="public-read", storage_class="IA", redundancy_type="ZRS")
    info = oss_client.get_bucket_info("new-bucket")
    assert (info["StorageClass"], info["DataRedundancyType"]) == ("IA", "ZRS")
    assert info["AccessControlList"] == {"Grant": "public-read"}
    assert [e["status"] for e in _ops(oss_server, "PutBucket")] == [200]


def test_create_bucket_without_settings_sends_no_body_and_gets_osss_defaults(oss_client: OssClient) -> None:
    assert create_bucket_body(None, None) == b""
    oss_client.create_bucket("plain-bucket")
    info = oss_client.get_bucket_info("plain-bucket")
    assert (info["StorageClass"], info["DataRedundancyType"]) == ("Standard", "LRS")
    assert info["AccessControlList"] == {"Grant": "private"}


def test_create_on_an_own_bucket_changes_its_acl_only(oss_client: OssClient) -> None:
    oss_client.create_bucket("mine", storage_class="Archive")
    oss_client.put_object("mine", "kept", b"still here")
    oss_client.create_bucket("mine", acl="public-read", storage_class="Standard")
    info = oss_client.get_bucket_info("mine")
    assert info["StorageClass"] == "Archive"  # set at creation only, as OSS
    assert info["AccessControlList"] == {"Grant": "public-read"}
    assert oss_client.get_object("mine", "kept") == b"still here"


def test_create_on_a_name_another_account_holds_is_bucket_already_exists(
    oss_server: LocalOssServer, oss_client: OssClient
) -> None:
    name = OTHER_ACCOUNT_PREFIX + "data"
    with pytest.raises(OssServiceError) as caught:
        oss_client.create_bucket(name)
    assert (caught.value.status, caught.value.code) == (409, "BucketAlreadyExists")
    assert not oss_client.bucket_exists(name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"acl": "public"},
            "acl='public' is not one OSS accepts: use one of private, public-read, public-read-write",
        ),
        ({"storage_class": "Cold"}, "storage_class='Cold' is not one OSS accepts: use one of Standard, IA"),
        ({"redundancy_type": "GRS"}, "redundancy_type='GRS' is not one OSS accepts: use one of LRS, ZRS"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_sent(
    oss_server: LocalOssServer, oss_client: OssClient, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(OssClientError, match=message):
        oss_client.create_bucket("new-bucket", **kwargs)
    assert _ops(oss_server, "PutBucket") == []


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Upper-case", "-dash-first", "dash-last-", "under_score"])
def test_invalid_bucket_names_are_refused_by_the_client_and_by_the_server(
    oss_server: LocalOssServer, oss_client: OssClient, name: str
) -> None:
    with pytest.raises(OssClientError, match="a bucket name is 3-63 characters of lower-case letters"):
        oss_client.create_bucket(name)
    with RawClient(oss_server) as raw:
        answer = raw.request("PUT", name)
    assert (answer.status_code, error_code(answer)) == (400, "InvalidBucketName")
    assert name not in oss_client.list_buckets()


def test_server_refuses_a_bad_storage_class_in_the_body(
    oss_server: LocalOssServer, oss_client: OssClient
) -> None:
    body = b"<CreateBucketConfiguration><StorageClass>Cold</StorageClass></CreateBucketConfiguration>"
    with RawClient(oss_server) as raw:
        answer = raw.request("PUT", "new-bucket", data=body)
    assert (answer.status_code, error_code(answer)) == (400, "InvalidArgument")
    assert "new-bucket" not in oss_client.list_buckets()


def test_bucket_exists_is_false_only_for_no_such_bucket(
    oss_server: LocalOssServer, oss_client: OssClient
) -> None:
    assert oss_client.bucket_exists("test-bucket")
    assert not oss_client.bucket_exists("no-such-bucket")
    wrong = Credentials(oss_server.access_key_id, "not-the-secret")
    with make_client(oss_server, credentials=wrong, max_retries=0) as client, pytest.raises(OssAuthError):
        client.bucket_exists("test-bucket")


def test_delete_bucket_refuses_objects_and_uploads_then_deletes_an_empty_one(
    oss_server: LocalOssServer, oss_client: OssClient
) -> None:
    oss_client.create_bucket("doomed")
    oss_client.put_object("doomed", "a", b"1")
    with pytest.raises(OssServiceError) as caught:
        oss_client.delete_bucket("doomed")
    assert (caught.value.status, caught.value.code) == (409, "BucketNotEmpty")
    oss_client.delete_object("doomed", "a")
    upload_id = oss_client.initiate_multipart_upload("doomed", "big")
    with pytest.raises(OssServiceError, match="BucketNotEmpty"):
        oss_client.delete_bucket("doomed")
    oss_client.abort_multipart_upload("doomed", "big", upload_id)
    oss_client.delete_bucket("doomed")
    assert oss_client.list_buckets() == ["test-bucket"]
    with pytest.raises(OssNotFoundError) as missing:
        oss_client.delete_bucket("doomed")
    assert missing.value.code == "NoSuchBucket"


def test_empty_bucket_aborts_uploads_and_deletes_every_object_page_by_page(
    oss_server: LocalOssServer, oss_client: OssClient
) -> None:
    oss_client.create_bucket("full")
    for index in range(25):
        oss_client.put_object("full", f"dir/{index:02d}", b"x" * index)
    for key in ("u1", "u2", "u2"):
        oss_client.initiate_multipart_upload("full", key)
    emptied = empty_bucket(oss_client, "full", batch_size=10)
    assert (emptied.objects_deleted, emptied.uploads_aborted) == (25, 3)
    assert list(oss_client.list_objects_v2("full")) == []
    assert list(oss_client.list_multipart_uploads("full")) == []
    assert len(_ops(oss_server, "DeleteMultipleObjects")) == 3  # 10 + 10 + 5 keys
    oss_client.delete_bucket("full")
    assert oss_client.list_buckets() == ["test-bucket"]
