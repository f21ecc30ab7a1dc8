"""
The client's object versions against the local server: ``version_id`` on reads, HEAD, delete and
copy, ListObjectVersions pages, deleting named versions, and the bucket's versioning status.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_oss.core.bucket_empty import empty_bucket
from airflow_provider_oss.core.bulk_delete import OssDeleteError
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.errors import OssClientError, OssNotFoundError, OssServiceError
from airflow_provider_oss.testing import LocalOssServer

B = "test-bucket"


def _put_version(client: OssClient, key: str, data: bytes) -> str:
    client.put_object(B, key, data)
    newest = next(v for v in client.list_object_versions(B, prefix=key) if v.key == key and v.is_latest)
    return newest.version_id


def test_versioning_status_round_trips_and_a_bad_one_is_refused(oss_client: OssClient) -> None:
    assert oss_client.get_bucket_versioning(B) == ""
    oss_client.put_bucket_versioning(B, "Enabled")
    assert oss_client.get_bucket_versioning(B) == "Enabled"
    assert oss_client.get_bucket_info(B)["Versioning"] == "Enabled"
    with pytest.raises(OssClientError, match="Enabled"):
        oss_client.put_bucket_versioning(B, "Off")
    oss_client.put_bucket_versioning(B, "Suspended")
    assert oss_client.get_bucket_versioning(B) == "Suspended"


def test_reads_heads_and_file_downloads_of_a_named_version(oss_client: OssClient, tmp_path: Path) -> None:
    oss_client.put_bucket_versioning(B, "Enabled")
    first = _put_version(oss_client, "k", b"the first version")
    _put_version(oss_client, "k", b"second")
    assert oss_client.get_object(B, "k") == b"second"
    assert oss_client.get_object(B, "k", version_id=first) == b"the first version"
    assert oss_client.get_object(B, "k", version_id=first, byte_range=(4, 8)) == b"first"
    assert oss_client.head_object(B, "k", version_id=first).size == 17
    info = oss_client.get_object_to_file(B, "k", tmp_path / "old", version_id=first)
    assert (tmp_path / "old").read_bytes() == b"the first version" and info.size == 17


def test_a_missing_or_invalid_version_is_an_error_never_other_bytes(oss_client: OssClient) -> None:
    oss_client.put_bucket_versioning(B, "Enabled")
    _put_version(oss_client, "k", b"current")
    with pytest.raises(OssNotFoundError) as missing:
        oss_client.get_object(B, "k", version_id="CAEQNhiBgMDJgZCA0BYiIDc4MGZjZGI2")
    assert missing.value.code == "NoSuchVersion"
    with pytest.raises(OssServiceError) as invalid:
        oss_client.get_object(B, "k", version_id="not a version!")
    assert (invalid.value.status, invalid.value.code) == (400, "InvalidArgument")
    for bad in ("", "a\nb"):
        with pytest.raises(OssClientError, match="version_id must be"):
            oss_client.get_object(B, "k", version_id=bad)


def test_delete_adds_a_marker_and_a_versioned_delete_removes_for_good(
    oss_client: OssClient, oss_server: LocalOssServer
) -> None:
    oss_client.put_bucket_versioning(B, "Enabled")
    version = _put_version(oss_client, "k", b"kept")
    oss_client.delete_object(B, "k")
    assert not oss_client.object_exists(B, "k")
    entries = list(oss_client.list_object_versions(B))
    assert [(e.delete_marker, e.is_latest) for e in entries] == [(True, True), (False, False)]
    assert oss_client.get_object(B, "k", version_id=version) == b"kept"
    oss_client.delete_object(B, "k", version_id=entries[0].version_id)  # the marker
    assert oss_server.object_bytes(B, "k") == b"kept"
    oss_client.delete_object(B, "k", version_id=version)
    assert list(oss_client.list_object_versions(B)) == []


def test_copy_of_a_source_version(oss_client: OssClient, oss_server: LocalOssServer) -> None:
    oss_client.put_bucket_versioning(B, "Enabled")
    first = _put_version(oss_client, "src", b"old source")
    _put_version(oss_client, "src", b"new source")
    oss_client.copy_object(B, "src", B, "src", source_version_id=first)  # restore the old version
    assert oss_server.object_bytes(B, "src") == b"old source"
    assert len([v for v in oss_client.list_object_versions(B) if v.key == "src"]) == 3
    with pytest.raises(OssNotFoundError) as missing:
        oss_client.copy_object(B, "src", B, "dst", source_version_id="CAEQNDI0")
    assert missing.value.code == "NoSuchVersion"


def test_list_versions_pages_and_deletes_named_versions_in_one_request(
    oss_client: OssClient, oss_server: LocalOssServer
) -> None:
    oss_client.put_bucket_versioning(B, "Enabled")
    for n in range(7):
        oss_client.put_object(B, f"p/{n % 3}", bytes([n]))
    oss_client.delete_object(B, "p/0")
    every = list(oss_client.list_object_versions(B, page_size=2))
    assert len(every) == 8 and len({(e.key, e.version_id) for e in every}) == 8
    assert [e.key for e in every] == sorted(e.key for e in every)
    oss_server.clear_request_log()
    assert oss_client.delete_object_versions(B, [(e.key, e.version_id) for e in every]) == 8
    assert [e["op"] for e in oss_server.request_log()] == ["DeleteMultipleObjects"]
    assert list(oss_client.list_object_versions(B)) == []


def test_deleting_a_version_the_server_does_not_confirm_is_reported(
    oss_client: OssClient, oss_server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    oss_client.put_bucket_versioning(B, "Enabled")
    version = _put_version(oss_client, "k", b"x")
    original = oss_client.transport.send

    def drop_confirmations(*args: object, **kwargs: object) -> object:
        response = original(*args, **kwargs)  # type: ignore[arg-type]
        if kwargs.get("op") == "DeleteMultipleObjects":
            response._content = b"<DeleteResult></DeleteResult>"
        return response

    monkeypatch.setattr(oss_client.transport, "send", drop_confirmations)
    with pytest.raises(OssDeleteError, match=f"did not delete 1 of 1 version.*{version}"):
        oss_client.delete_object_versions(B, [("k", version)])


def test_emptying_a_versioned_bucket_deletes_every_version_page_by_page(
    oss_client: OssClient, oss_server: LocalOssServer
) -> None:
    oss_client.create_bucket("versioned")
    oss_client.put_bucket_versioning("versioned", "Enabled")
    for n in range(5):
        oss_client.put_object("versioned", f"k{n % 2}", bytes([n]))
    oss_client.delete_object("versioned", "k0")
    oss_server.clear_request_log()
    emptied = empty_bucket(oss_client, "versioned", batch_size=2)
    assert (emptied.objects_deleted, emptied.uploads_aborted, emptied.versions_deleted) == (0, 0, 6)
    assert [e["op"] for e in oss_server.request_log()].count("DeleteMultipleObjects") == 3
    assert list(oss_client.list_object_versions("versioned")) == []
    oss_client.delete_bucket("versioned")
