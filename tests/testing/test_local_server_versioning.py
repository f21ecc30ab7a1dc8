"""
Versioning on the local server, with OSS's semantics: PutBucketVersioning / GetBucketVersioning,
a version per write, ``versionId`` on reads, copies and deletes, delete markers, ListObjectVersions,
the ``null`` version of a suspended bucket, and versions kept across a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, error_code, parse_xml
from airflow_provider_oss.testing.records import key_hash

B = "test-bucket"


@pytest.fixture
def client(oss_server: LocalOssServer) -> Iterator[RawClient]:
    with RawClient(oss_server) as raw:
        yield raw


def _set_versioning(client: RawClient, status: str) -> None:
    body = f"<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>".encode()
    assert client.request("PUT", B, None, [("versioning", "")], data=body).status_code == 200


def _put(client: RawClient, key: str, data: bytes) -> str:
    answer = client.request("PUT", B, key, data=data)
    assert answer.status_code == 200
    return answer.headers["x-oss-version-id"]


def _versions(client: RawClient, *query: tuple[str, str]) -> list[tuple[str, str, str, str]]:
    """(kind, key, version id, IsLatest) of each entry of a ListObjectVersions page, in order."""
    listing = parse_xml(client.request("GET", B, None, [("versions", ""), *query]))
    return [
        (
            entry.tag,
            entry.findtext("Key") or "",
            entry.findtext("VersionId") or "",
            entry.findtext("IsLatest") or "",
        )
        for entry in listing
        if entry.tag in ("Version", "DeleteMarker")
    ]


def _delete_body(*objects: str) -> tuple[bytes, dict[str, str]]:
    body = ("<Delete><Quiet>false</Quiet>" + "".join(objects) + "</Delete>").encode()
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    return body, {"Content-MD5": md5}


def test_bucket_versioning_status_is_set_and_read(client: RawClient) -> None:
    never = parse_xml(client.request("GET", B, None, [("versioning", "")]))
    assert never.tag == "VersioningConfiguration" and never.findtext("Status") is None
    _set_versioning(client, "Enabled")
    assert parse_xml(client.request("GET", B, None, [("versioning", "")])).findtext("Status") == "Enabled"
    _set_versioning(client, "Suspended")
    assert parse_xml(client.request("GET", B, None, [("versioning", "")])).findtext("Status") == "Suspended"
    bad = b"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>"
    refused = client.request("PUT", B, None, [("versioning", "")], data=bad)
    assert (refused.status_code, error_code(refused)) == (400, "MalformedXML")
    assert parse_xml(client.request("GET", B, None, [("versioning", "")])).findtext("Status") == "Suspended"


def test_each_write_is_a_version_read_by_its_id(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    first = _put(client, "k", b"first bytes")
    second = _put(client, "k", b"second")
    assert first != second and "null" not in (first, second)
    assert client.request("GET", B, "k").content == b"second"
    old = client.request("GET", B, "k", [("versionId", first)])
    assert (old.content, old.headers["x-oss-version-id"]) == (b"first bytes", first)
    ranged = client.request("GET", B, "k", [("versionId", first)], {"Range": "bytes=6-10"})
    assert (ranged.status_code, ranged.content) == (206, b"bytes")
    head = client.request("HEAD", B, "k", [("versionId", first)])
    assert (head.headers["Content-Length"], head.headers["x-oss-version-id"]) == ("11", first)
    meta = client.request("HEAD", B, "k", [("objectMeta", ""), ("versionId", first)])
    assert (meta.status_code, meta.headers["Content-Length"]) == (200, "11")
    assert _versions(client) == [("Version", "k", second, "true"), ("Version", "k", first, "false")]


def test_unknown_and_invalid_version_ids_answer_as_oss(oss_server: LocalOssServer, client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    version = _put(client, "k", b"kept")
    unknown = "CAEQNhiBgMDJgZCA0BYiIDc4MGZjZGI2OTBjOTRmNTE5NmU5NmFhZjhjYmY0"
    for method, query in (("GET", []), ("HEAD", []), ("HEAD", [("objectMeta", "")])):
        missing = client.request(method, B, "k", [*query, ("versionId", unknown)])
        assert missing.status_code == 404
        if method == "GET":
            assert error_code(missing) == "NoSuchVersion"
    for bad in ("not a version!", "../../etc/passwd", "", "234", "IllegalVersion"):
        refused = client.request("GET", B, "k", [("versionId", bad)])
        assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
        refused = client.request("DELETE", B, "k", [("versionId", bad)])
        assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    # A well-formed id the object does not have deletes nothing (204, as OSS).
    assert client.request("DELETE", B, "k", [("versionId", unknown)]).status_code == 204
    assert client.request("GET", B, "k", [("versionId", version)]).content == b"kept"
    assert oss_server.object_bytes(B, "k") == b"kept"


def test_delete_adds_a_marker_and_deleting_the_marker_restores(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    version = _put(client, "k", b"data")
    deleted = client.request("DELETE", B, "k")
    assert deleted.status_code == 204 and deleted.headers["x-oss-delete-marker"] == "true"
    marker = deleted.headers["x-oss-version-id"]
    gone = client.request("GET", B, "k")
    assert (gone.status_code, error_code(gone)) == (404, "NoSuchKey")
    assert (gone.headers["x-oss-delete-marker"], gone.headers["x-oss-version-id"]) == ("true", marker)
    of_marker = client.request("GET", B, "k", [("versionId", marker)])
    assert (of_marker.status_code, error_code(of_marker)) == (405, "MethodNotAllowed")
    assert of_marker.headers["x-oss-delete-marker"] == "true"
    listed = parse_xml(client.request("GET", B, None))
    assert listed.findall("Contents") == []
    assert _versions(client) == [("DeleteMarker", "k", marker, "true"), ("Version", "k", version, "false")]
    assert client.request("GET", B, "k", [("versionId", version)]).content == b"data"
    refused = client.request("DELETE", B)
    assert (refused.status_code, error_code(refused)) == (409, "BucketNotEmpty")
    removed = client.request("DELETE", B, "k", [("versionId", marker)])
    assert (removed.headers["x-oss-delete-marker"], removed.headers["x-oss-version-id"]) == ("true", marker)
    assert client.request("GET", B, "k").content == b"data"
    assert client.request("DELETE", B, "k", [("versionId", version)]).status_code == 204
    assert _versions(client) == []
    assert client.request("DELETE", B).status_code == 204


def test_suspended_versioning_replaces_the_null_version_only(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    kept = _put(client, "k", b"versioned")
    _set_versioning(client, "Suspended")
    assert _put(client, "k", b"null one") == "null"
    assert _put(client, "k", b"null two") == "null"
    assert _versions(client) == [("Version", "k", "null", "true"), ("Version", "k", kept, "false")]
    assert client.request("GET", B, "k", [("versionId", "null")]).content == b"null two"
    deleted = client.request("DELETE", B, "k")
    assert (deleted.headers["x-oss-delete-marker"], deleted.headers["x-oss-version-id"]) == ("true", "null")
    assert _versions(client) == [("DeleteMarker", "k", "null", "true"), ("Version", "k", kept, "false")]
    assert client.request("GET", B, "k", [("versionId", kept)]).content == b"versioned"


def test_copy_reads_the_source_version_and_answers_both_ids(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    first = _put(client, "src", b"first source")
    _put(client, "src", b"second source")
    copied = client.request("PUT", B, "dst", headers={"x-oss-copy-source": f"/{B}/src?versionId={first}"})
    assert copied.status_code == 200
    assert copied.headers["x-oss-copy-source-version-id"] == first
    assert client.request("GET", B, "dst", [("versionId", copied.headers["x-oss-version-id"])]).content == (
        b"first source"
    )
    marker = client.request("DELETE", B, "src").headers["x-oss-version-id"]
    of_marker = client.request("PUT", B, "dst", headers={"x-oss-copy-source": f"/{B}/src?versionId={marker}"})
    assert (of_marker.status_code, error_code(of_marker)) == (400, "InvalidArgument")
    missing = client.request("PUT", B, "dst", headers={"x-oss-copy-source": f"/{B}/src?versionId=CAEQOTk5"})
    assert (missing.status_code, error_code(missing)) == (404, "NoSuchVersion")
    current = client.request("PUT", B, "dst", headers={"x-oss-copy-source": f"/{B}/src"})
    assert (current.status_code, error_code(current)) == (404, "NoSuchKey")
    assert client.request("GET", B, "dst").content == b"first source"


def test_upload_part_copy_reads_the_source_version(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    first = _put(client, "src", b"first source bytes")
    _put(client, "src", b"second")
    upload_id = parse_xml(client.request("POST", B, "dst", [("uploads", "")])).findtext("UploadId") or ""
    query = [("partNumber", "1"), ("uploadId", upload_id), ("versionId", first)]  # as oss2 sends it
    headers = {"x-oss-copy-source": f"/{B}/src?versionId={first}", "x-oss-copy-source-range": "bytes=6-"}
    part = client.request("PUT", B, "dst", query, headers)
    assert (part.status_code, part.headers["x-oss-copy-source-version-id"]) == (200, first)
    body = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{part.headers['ETag']}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    assert client.request("POST", B, "dst", [("uploadId", upload_id)], data=body).status_code == 200
    assert client.request("GET", B, "dst").content == b"source bytes"


def test_multipart_and_append_answers_carry_the_version(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    init = parse_xml(client.request("POST", B, "mp", [("uploads", "")]))
    upload_id = init.findtext("UploadId") or ""
    part = client.request("PUT", B, "mp", [("partNumber", "1"), ("uploadId", upload_id)], data=b"part bytes")
    body = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{part.headers['ETag']}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    done = client.request("POST", B, "mp", [("uploadId", upload_id)], data=body)
    version = done.headers["x-oss-version-id"]
    assert client.request("GET", B, "mp", [("versionId", version)]).content == b"part bytes"
    appended = client.request("POST", B, "ap", [("append", ""), ("position", "0")], data=b"abc")
    again = client.request("POST", B, "ap", [("append", ""), ("position", "3")], data=b"def")
    assert appended.headers["x-oss-version-id"] == again.headers["x-oss-version-id"]
    assert (
        client.request("GET", B, "ap", [("versionId", again.headers["x-oss-version-id"])]).content
        == b"abcdef"
    )


def test_list_object_versions_pages_with_markers_prefix_and_delimiter(client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    ids = {key: [_put(client, key, key.encode() + bytes([n])) for n in range(2)] for key in ("a", "b", "d/x")}
    every = _versions(client)
    assert [(key, vid) for _, key, vid, _ in every] == [
        (key, vid) for key in ("a", "b", "d/x") for vid in reversed(ids[key])
    ]
    pages: list[tuple[str, str, str, str]] = []
    query: list[tuple[str, str]] = [("max-keys", "2")]
    while True:
        listing = parse_xml(client.request("GET", B, None, [("versions", ""), *query]))
        pages += [
            (e.tag, e.findtext("Key") or "", e.findtext("VersionId") or "", e.findtext("IsLatest") or "")
            for e in listing
            if e.tag in ("Version", "DeleteMarker")
        ]
        if listing.findtext("IsTruncated") != "true":
            break
        query = [
            ("max-keys", "2"),
            ("key-marker", listing.findtext("NextKeyMarker") or ""),
            ("version-id-marker", listing.findtext("NextVersionIdMarker") or ""),
        ]
    assert pages == every
    for name in ("prefix", "key-marker", "delimiter", "version-id-marker"):  # as OSS: 400, not a listing
        refused = client.request("GET", B, None, [("versions", ""), (name, "a" * 1025)])
        assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    refused = client.request("GET", B, None, [("versions", ""), ("max-keys", "1001")])
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    grouped = parse_xml(client.request("GET", B, None, [("versions", ""), ("delimiter", "/")]))
    assert [p.findtext("Prefix") for p in grouped.findall("CommonPrefixes")] == ["d/"]
    assert {v.findtext("Key") for v in grouped.findall("Version")} == {"a", "b"}
    assert [key for _, key, _, _ in _versions(client, ("prefix", "d/"))] == ["d/x", "d/x"]


def test_delete_multiple_objects_with_version_ids(oss_server: LocalOssServer, client: RawClient) -> None:
    _set_versioning(client, "Enabled")
    first = _put(client, "k", b"one")
    second = _put(client, "k", b"two")
    body, headers = _delete_body(
        f"<Object><Key>k</Key><VersionId>{first}</VersionId></Object>", "<Object><Key>k</Key></Object>"
    )
    result = parse_xml(client.request("POST", B, None, [("delete", "")], headers, data=body))
    named, marked = result.findall("Deleted")
    assert (named.findtext("VersionId"), named.findtext("DeleteMarker")) == (first, None)
    assert marked.findtext("DeleteMarker") == "true"
    marker = marked.findtext("DeleteMarkerVersionId") or ""
    assert _versions(client) == [("DeleteMarker", "k", marker, "true"), ("Version", "k", second, "false")]
    bad, headers = _delete_body("<Object><Key>k</Key><VersionId>bad id!</VersionId></Object>")
    refused = client.request("POST", B, None, [("delete", "")], headers, data=bad)
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    body, headers = _delete_body(f"<Object><Key>k</Key><VersionId>{marker}</VersionId></Object>")
    result = parse_xml(client.request("POST", B, None, [("delete", "")], headers, data=body))
    assert result.findtext("Deleted/DeleteMarker") == "true"
    assert oss_server.object_bytes(B, "k") == b"two"


def test_versions_and_markers_survive_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        _set_versioning(client, "Enabled")
        first = _put(client, "k", b"first")
        second = _put(client, "k", b"second")
        marker = client.request("DELETE", B, "k").headers["x-oss-version-id"]
        before = _versions(client)
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        assert _versions(client) == before
        assert [vid for _, _, vid, _ in before] == [marker, second, first]
        assert parse_xml(client.request("GET", B, None, [("versioning", "")])).findtext("Status") == "Enabled"
        assert client.request("GET", B, "k", [("versionId", first)]).content == b"first"
        assert client.request("GET", B, "k").status_code == 404
        assert _put(client, "k", b"third") not in (first, second, marker)


def test_a_planted_version_record_naming_another_version_id_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        _set_versioning(client, "Enabled")
        version = _put(client, "k", b"real")
    digest = key_hash("k")
    folder = root / "buckets" / B / "objects" / digest[:2]
    record = json.loads((folder / f"{digest}.{version}.json").read_text())
    forged = dict(record, version_id="f" * 32)  # the file name no longer matches the record
    (folder / f"{digest}.{'e' * 32}.json").write_text(json.dumps(forged))
    marker = dict(record, version_id="d" * 32, delete_marker=True)  # a marker that names files
    (folder / f"{digest}.{'d' * 32}.json").write_text(json.dumps(marker))
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        assert [vid for _, _, vid, _ in _versions(client)] == [version]
        assert client.request("GET", B, "k").content == b"real"


def test_the_readme_versioning_snippet_runs() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- versioning-snippet:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102  # the project's own documentation
