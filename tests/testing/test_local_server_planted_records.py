"""
Records planted in (or damaged inside) the data directory cannot make the local server read, serve,
move or delete a file outside it: every record is checked when the server reads it back, and one
that fails is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.rawclient import RawClient, parse_xml
from airflow_provider_oss.testing.records import key_hash

B = "test-bucket"
SECRET = b"a file of the host, outside the data directory"


def _outside(tmp_path: Path) -> Path:
    target = tmp_path / "host" / "secret.txt"
    target.parent.mkdir()
    target.write_bytes(SECRET)
    return target


def _record_path(root: Path, key: str) -> Path:
    digest = key_hash(key)
    return root / "buckets" / B / "objects" / digest[:2] / f"{digest}.json"


def _stored_root(tmp_path: Path, key: str = "k") -> Path:
    root = tmp_path / "root"
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        assert client.request("PUT", B, key, data=b"stored").status_code == 200
    return root


def _assert_served_nothing_and_deleted_nothing(root: Path, key: str, outside: Path) -> None:
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        got = client.request("GET", B, key)
        assert SECRET not in got.content
        assert got.status_code == 404
        assert client.request("DELETE", B, key).status_code == 204
        listing = parse_xml(client.request("GET", B, None))
        assert [c.findtext("Key") for c in listing.findall("Contents")] == []
    assert outside.read_bytes() == SECRET


def _planted(record: dict[str, Any], record_path: Path, outside: Path, how: str) -> dict[str, Any]:
    """``record`` made to name ``outside`` (its data) the way ``how`` says."""
    relative = os.path.relpath(outside, record_path.parent)  # ../../../../../host/secret.txt
    names = {
        "relative": relative,
        "absolute": str(outside),
        "dot-dot-after-a-good-name": f"{record_path.stem}.0123456789abcdef.data/../../../../../../host/secret.txt",
    }
    planted = {key: value for key, value in record.items() if key != "segments"}
    if how == "old-format":  # a record from before segments: one data_file
        return {**planted, "data_file": str(outside), "size": len(SECRET)}
    return {**planted, "segments": [[names[how], len(SECRET)]], "size": len(SECRET)}


@pytest.mark.parametrize("how", ["relative", "absolute", "dot-dot-after-a-good-name", "old-format"])
def test_an_object_record_naming_a_file_outside_the_root_is_skipped(tmp_path: Path, how: str) -> None:
    outside = _outside(tmp_path)
    root = _stored_root(tmp_path)
    record_path = _record_path(root, "k")
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps(_planted(record, record_path, outside, how)))
    _assert_served_nothing_and_deleted_nothing(root, "k", outside)


def test_a_well_named_segment_that_links_outside_the_root_is_skipped(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root = _stored_root(tmp_path)
    record_path = _record_path(root, "k")
    record = json.loads(record_path.read_text())
    [[name, _]] = record["segments"]
    (record_path.parent / name).unlink()
    (record_path.parent / name).symlink_to(outside)
    record["segments"] = [[name, len(SECRET)]]
    record["size"] = len(SECRET)
    record_path.write_text(json.dumps(record))
    _assert_served_nothing_and_deleted_nothing(root, "k", outside)


def test_a_record_planted_under_another_keys_name_or_with_foreign_fields_is_skipped(tmp_path: Path) -> None:
    root = _stored_root(tmp_path)
    record_path = _record_path(root, "k")
    record = json.loads(record_path.read_text())
    planted = record_path.parent / ("0" * 40 + ".json")
    planted.write_text(json.dumps({**record, "key": "other"}))
    record_path.write_text(json.dumps({**record, "extra": 1, "size": "6"}))
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:  # starts all the same
        assert client.request("GET", B, "other").status_code == 404
        assert client.request("GET", B, "k").status_code == 404


def _upload_with_one_part(tmp_path: Path) -> tuple[Path, str, Path]:
    root = tmp_path / "root"
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        upload_id = parse_xml(client.request("POST", B, "mp", [("uploads", "")])).findtext("UploadId") or ""
        part = client.request("PUT", B, "mp", [("partNumber", "1"), ("uploadId", upload_id)], data=b"part")
        assert part.status_code == 200
    updir = root / "buckets" / B / "uploads" / upload_id
    return root, upload_id, updir


def test_a_part_record_naming_a_file_outside_the_root_is_skipped(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root, upload_id, updir = _upload_with_one_part(tmp_path)
    part = json.loads((updir / "part-1.json").read_text())
    part["data_file"] = os.path.relpath(outside, updir)
    (updir / "part-1.json").write_text(json.dumps(part))
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        listed = client.request("GET", B, "mp", [("uploadId", upload_id)])
        assert listed.status_code == 404  # the upload whose record fails is not served
        client.request("DELETE", B, "mp", [("uploadId", upload_id)])
    assert outside.read_bytes() == SECRET


def test_a_planted_completion_journal_moves_no_file_of_the_host(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root, _, updir = _upload_with_one_part(tmp_path)
    record_path = _record_path(root, "mp")
    digest = key_hash("mp")
    journal = {
        "moves": [
            [str(outside), f"buckets/{B}/objects/{digest[:2]}/{digest}.0123456789abcdef.parts/part-1.data"]
        ],
        "record_path": os.path.relpath(record_path, root),
        "record": {
            "key": "mp",
            "segments": [[f"{digest}.0123456789abcdef.parts/part-1.data", len(SECRET)]],
            "size": len(SECRET),
            "etag": '"X"',
            "crc64": 0,
            "last_modified": 0,
            "object_type": "Multipart",
            "meta": {},
        },
    }
    (updir / "complete.json").write_text(json.dumps(journal))
    with LocalOssServer(root_dir=str(root)) as server, RawClient(server) as client:
        assert SECRET not in client.request("GET", B, "mp").content
        client.request("DELETE", B, "mp")
    assert outside.read_bytes() == SECRET
