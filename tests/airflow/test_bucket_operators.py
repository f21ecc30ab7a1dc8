"""
OssCreateBucketOperator, OssDeleteBucketOperator and the hook's bucket methods against the local
OSS server: what the server holds afterwards, OSS's errors, and bad arguments refused at parse time.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from airflow_provider_oss.core.errors import OssAuthError, OssServiceError
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.bucket import OssCreateBucketOperator, OssDeleteBucketOperator
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.ops_buckets import OTHER_ACCOUNT_PREFIX
from tests.upload_support import make_client


@pytest.fixture
def hook(oss_server: LocalOssServer, oss_connection_env: str) -> OssHook:
    return OssHook(oss_connection_env)


def _ops(server: LocalOssServer, op: str) -> list[dict[str, Any]]:
    return [entry for entry in server.request_log() if entry["op"] == op]


def test_create_operator_creates_with_its_settings_and_leaves_an_existing_bucket_alone(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    op = OssCreateBucketOperator(
        task_id="create", bucket_name="made", acl="public-read", storage_class="IA", redundancy_type="ZRS"
    )
    assert op.execute({}) == {"bucket": "made", "created": True}
    info = hook.get_client().get_bucket_info("made")
    assert (info["StorageClass"], info["DataRedundancyType"], info["AccessControlList"]) == (
        "IA",
        "ZRS",
        {"Grant": "public-read"},
    )
    oss_server.clear_request_log()
    again = OssCreateBucketOperator(task_id="again", bucket_name="made", acl="private")
    assert again.execute({}) == {"bucket": "made", "created": False}
    assert _ops(oss_server, "PutBucket") == []  # a PutBucket would have made it private
    assert hook.get_client().get_bucket_info("made")["AccessControlList"] == {"Grant": "public-read"}


def test_create_operator_in_another_region_keeps_a_custom_endpoint(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    # The local server accepts its own region only: a PutBucket signed for cn-shanghai reaching
    # this custom endpoint proves the region was used and the endpoint kept.
    with pytest.raises(OssServiceError, match="Invalid signing region"):
        OssCreateBucketOperator(task_id="create", bucket_name="elsewhere", region="cn-shanghai").execute({})
    assert [e["status"] for e in _ops(oss_server, "PutBucket")] == [400]
    assert not hook.bucket_exists("elsewhere")
    assert OssCreateBucketOperator(task_id="c", bucket_name="here", region=oss_server.region).execute({})[
        "created"
    ]


def test_create_operator_on_another_accounts_name_fails_with_bucket_already_exists(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    # Real OSS answers GetBucketInfo on another account's bucket with AccessDenied.
    oss_server.add_fault("GetBucketInfo", "status", status=403, code="AccessDenied")
    with pytest.raises(OssServiceError, match="BucketAlreadyExists"):
        OssCreateBucketOperator(task_id="create", bucket_name=OTHER_ACCOUNT_PREFIX + "x").execute({})
    assert [e["status"] for e in _ops(oss_server, "PutBucket")] == [409]


def test_create_operator_with_a_wrong_secret_fails_and_creates_nothing(
    hook: OssHook, oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    with pytest.raises(OssAuthError, match="SignatureDoesNotMatch"):
        OssCreateBucketOperator(task_id="create", bucket_name="new-one").execute({})
    # OSS answers NoSuchBucket before checking the signature (so does the server): the PutBucket is
    # what refuses the secret.
    assert [e["status"] for e in _ops(oss_server, "PutBucket")] == [403]
    with make_client(oss_server) as client:
        assert client.list_buckets() == ["test-bucket"]


def test_delete_operator_without_force_leaves_a_full_bucket_and_with_force_empties_it(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    hook.create_bucket("full")
    for index in range(3):
        hook.load_bytes(b"data", f"k{index}", bucket_name="full")
    client = hook.get_client()
    client.initiate_multipart_upload("full", "half-done")
    with pytest.raises(OssServiceError, match="BucketNotEmpty"):
        OssDeleteBucketOperator(task_id="delete", bucket_name="full").execute({})
    assert hook.list_keys(bucket_name="full") == ["k0", "k1", "k2"]
    result = OssDeleteBucketOperator(task_id="delete", bucket_name="full", force=True).execute({})
    assert result == {
        "bucket": "full",
        "deleted": True,
        "objects_deleted": 3,
        "uploads_aborted": 1,
        "versions_deleted": 0,
    }
    ops = [e["op"] for e in oss_server.request_log()]
    assert ops[-5:] == [
        "ListMultipartUploads",
        "AbortMultipartUpload",
        "ListObjectsV2",
        "DeleteMultipleObjects",
        "DeleteBucket",
    ]
    assert not hook.bucket_exists("full")


def test_delete_operator_on_a_missing_bucket_succeeds_and_says_so(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    result = OssDeleteBucketOperator(task_id="delete", bucket_name="never-was").execute({})
    assert result == {
        "bucket": "never-was",
        "deleted": False,
        "objects_deleted": 0,
        "uploads_aborted": 0,
        "versions_deleted": 0,
    }
    assert _ops(oss_server, "DeleteBucket") == []


def test_delete_with_a_wrong_secret_fails_and_deletes_nothing(
    hook: OssHook, oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook.load_bytes(b"keep", "keep")
    conn = json.loads(os.environ["AIRFLOW_CONN_OSS_DEFAULT"])
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    with pytest.raises(OssAuthError):
        OssDeleteBucketOperator(task_id="delete", force=True).execute({})
    assert oss_server.object_bytes("test-bucket", "keep") == b"keep"


def test_force_deletes_every_version_and_delete_marker_of_a_versioned_bucket(
    hook: OssHook, oss_server: LocalOssServer
) -> None:
    client = hook.get_client()
    client.create_bucket("versioned")
    client.put_bucket_versioning("versioned", "Enabled")
    for n in range(3):
        hook.load_bytes(bytes([n]), "k", "versioned")
    hook.load_bytes(b"gone", "deleted", "versioned")
    hook.delete_object("deleted", "versioned")  # a delete marker over its one version
    client.put_bucket_versioning("versioned", "Suspended")
    hook.load_bytes(b"null version", "k", "versioned")
    client.initiate_multipart_upload("versioned", "unfinished")
    assert len(list(client.list_object_versions("versioned"))) == 6
    result = OssDeleteBucketOperator(task_id="delete", bucket_name="versioned", force=True).execute({})
    assert result == {
        "bucket": "versioned",
        "deleted": True,
        "objects_deleted": 0,
        "uploads_aborted": 1,
        "versions_deleted": 6,
    }
    assert not hook.bucket_exists("versioned")
    assert _ops(oss_server, "ListObjectsV2") == []  # versions are listed, not current objects


@pytest.mark.parametrize(
    ("operator", "kwargs", "message"),
    [
        (OssCreateBucketOperator, {"bucket_name": "Bad_Name"}, "Invalid bucket name 'Bad_Name'"),
        (OssCreateBucketOperator, {"acl": "open"}, "acl='open' is not one OSS accepts"),
        (OssCreateBucketOperator, {"storage_class": "Hot"}, "storage_class='Hot' is not one OSS accepts"),
        (OssCreateBucketOperator, {"redundancy_type": "GRS"}, "redundancy_type='GRS' is not one OSS accepts"),
        (OssDeleteBucketOperator, {"bucket_name": "ab"}, "Invalid bucket name 'ab'"),
        (OssDeleteBucketOperator, {"force": "yes"}, "force must be True or False"),
    ],
)
def test_bad_arguments_fail_at_parse_time_naming_the_task(
    operator: type[Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=rf"{operator.__name__}\(task_id='t'\): .*{message}"):
        operator(task_id="t", **kwargs)


def test_templated_arguments_are_checked_after_rendering(hook: OssHook) -> None:
    op = OssCreateBucketOperator(task_id="t", bucket_name="{{ params.b }}", storage_class="{{ params.s }}")
    assert set(op.template_fields) == {"bucket_name", "region", "acl", "storage_class", "redundancy_type"}
    op.bucket_name, op.storage_class = "rendered", "Cold"
    with pytest.raises(ValueError, match="storage_class='Cold' is not one OSS accepts"):
        op.execute({})
    assert not hook.bucket_exists("rendered")
    assert OssDeleteBucketOperator.template_fields == ("bucket_name",)


def test_another_region_moves_an_alibaba_endpoint_to_that_region(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "oss_resumable", "login": "ak", "password": "secret-value"}
    conn["extra"] = {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "internal": True}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_OSS_ALIBABA", json.dumps(conn))
    hook = OssHook("oss_alibaba")
    moved = hook._client_in("cn-shanghai").config
    assert (moved.region, moved.endpoint_host) == ("cn-shanghai", "oss-cn-shanghai-internal.aliyuncs.com")
    assert hook._client_in("cn-hangzhou") is hook.get_client()
