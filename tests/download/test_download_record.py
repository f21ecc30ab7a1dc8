"""The download checkpoint record: a strict round trip, and every malformed shape refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oss.download import DownloadCheckpoint, ObjectIdentity
from airflow_provider_oss.upload.checkpoint import encode_confirmed
from airflow_provider_oss.upload.errors import CheckpointCorruptError

IDENTITY = ObjectIdentity(
    size=1_000_000, etag="ABC123", crc64=(1 << 64) - 1, last_modified="2026-12-01T00:00:00+00:00"
)


def record(**changes: Any) -> DownloadCheckpoint:
    fields: dict[str, Any] = {
        "bucket": "b",
        "key": "dir/ключ",
        "destination": "/data/out.bin",
        "part_size": 200 * 1024,
        "object": IDENTITY,
        "done": {1: 5, 3: (1 << 64) - 1},
    }
    fields.update(changes)
    return DownloadCheckpoint(**fields)


def test_round_trip_keeps_every_field_and_the_crc_as_a_string() -> None:
    original = record()
    text = original.to_json()
    assert json.loads(text)["object"]["crc64"] == str((1 << 64) - 1)
    assert DownloadCheckpoint.from_json(text) == original
    assert DownloadCheckpoint.from_dict(original.to_dict()) == original
    assert original.part_count == 5
    assert "2 of 5 ranges" in original.describe()


def test_identity_differences_name_what_changed() -> None:
    other = ObjectIdentity(1_000_000, "DEF", 7, IDENTITY.last_modified)
    assert [d.split()[0] for d in IDENTITY.differences(other)] == ["etag", "crc64"]
    assert IDENTITY.differences(IDENTITY) == []


def _mutations() -> list[tuple[str, Any]]:
    base = record().to_dict()
    return [
        ("a list", [base]),
        ("upload kind", {**base, "kind": None}),
        ("future version", {**base, "version": 2}),
        ("missing field", {k: v for k, v in base.items() if k != "destination"}),
        ("empty bucket", {**base, "bucket": ""}),
        ("part size too small", {**base, "part_size": 10}),
        ("part size a bool", {**base, "part_size": True}),
        ("negative size", {**base, "object": {**base["object"], "size": -1}}),
        ("etag not ascii", {**base, "object": {**base["object"], "etag": "é"}}),
        ("crc too big", {**base, "object": {**base["object"], "crc64": str(1 << 64)}}),
        ("object extra field", {**base, "object": {**base["object"], "x": 1}}),
        ("done beyond the plan", {**base, "done": encode_confirmed({6: 1})}),
        ("done out of order", {**base, "done": "AgAAAAEAAAAAAAAAAQAAAAEAAAAAAAAA"}),
        ("too many ranges", {**base, "part_size": 102400, "object": {**base["object"], "size": 10**12}}),
    ]


@pytest.mark.parametrize(("name", "data"), _mutations(), ids=[name for name, _ in _mutations()])
def test_malformed_records_are_corrupt(name: str, data: Any) -> None:
    with pytest.raises(CheckpointCorruptError):
        DownloadCheckpoint.from_dict(data)


@pytest.mark.parametrize("text", ["", "{", "null", "[" * 50_000, "x" * (300 * 1024)])
def test_malformed_text_is_corrupt(text: str) -> None:
    with pytest.raises(CheckpointCorruptError):
        DownloadCheckpoint.from_json(text)
