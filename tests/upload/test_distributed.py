"""
The distributed upload's three steps without Airflow, against the local OSS server: one upload ID
whatever is retried, ranges that resume, a complete that checks the combined CRC-64, and the bad
inputs each step refuses before sending anything.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.errors import CrcMismatchError
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, TransferConfig
from airflow_provider_oss.upload.distributed import start_plan, upload_range
from airflow_provider_oss.upload.distributed_complete import complete_plan
from airflow_provider_oss.upload.distributed_plan import (
    DistributedPlan,
    DistributedPlanError,
    PartRange,
    RangeResult,
    split_ranges,
)
from airflow_provider_oss.upload.errors import (
    PartUploadError,
    SourceChangedError,
    SourceFileError,
    UploadGoneError,
)
from airflow_provider_oss.upload.stores import CheckpointStore
from tests.upload_support import BUCKET, entries, make_client, make_file, parts_stored

PART = 100 * 1024
KEY = "dist/big.bin"


@pytest.fixture
def client(oss_server: LocalOssServer) -> OssClient:
    return make_client(oss_server, max_retries=0)


def _plan(
    client: OssClient, source: Path, store: CheckpointStore | None = None, **kw: object
) -> DistributedPlan:
    kw.setdefault("ranges", 3)
    plan = start_plan(
        client,
        BUCKET,
        KEY,
        source,
        store=store or MemoryCheckpointStore(),
        part_size=PART,
        **kw,  # type: ignore[arg-type]
    )
    return DistributedPlan.from_dict(plan.to_dict())  # what a range task gets from XCom


def _ranges(plan: DistributedPlan) -> list[PartRange]:
    return [PartRange.from_dict(r.to_dict()) for r in plan.part_ranges()]


def test_three_steps_upload_the_file_under_one_upload_id(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "f.bin", 11 * PART + 77)
    plan = _plan(client, tmp_path / "f.bin")
    assert plan.ranges == ((1, 4), (5, 8), (9, 12))
    results = [upload_range(client, plan, r, store=MemoryCheckpointStore()).to_dict() for r in _ranges(plan)]

    result = complete_plan(client, plan, results)

    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert result.crc64 == crc64.crc64(data) and result.size == len(data) and not result.already_complete
    log = oss_server.request_log()
    assert len(entries(log, "InitiateMultipartUpload")) == 1
    assert {e["upload_id"] for e in log if e.get("upload_id")} == {plan.upload_id}
    assert sorted(e["part_number"] for e in entries(log, "UploadPart")) == list(range(1, 13))
    assert oss_server.list_uploads(BUCKET) == []


def test_a_retried_plan_continues_the_recorded_upload(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 5 * PART)
    store = MemoryCheckpointStore()
    first = _plan(client, tmp_path / "f.bin", store)
    again = _plan(client, tmp_path / "f.bin", store)

    assert again == first
    assert len(entries(oss_server.request_log(), "InitiateMultipartUpload")) == 1
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [first.upload_id]


def test_a_retried_plan_whose_file_changed_replaces_the_stale_upload(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    source = tmp_path / "f.bin"
    make_file(source, 5 * PART)
    store = MemoryCheckpointStore()
    first = _plan(client, source, store)
    make_file(source, 6 * PART, seed=2)

    second = _plan(client, source, store)

    assert second.upload_id != first.upload_id
    assert [u["upload_id"] for u in oss_server.list_uploads(BUCKET)] == [second.upload_id]
    assert len(entries(oss_server.request_log(), "AbortMultipartUpload")) == 1


def test_a_retried_plan_whose_upload_is_gone_starts_one_new_upload(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 5 * PART)
    store = MemoryCheckpointStore()
    first = _plan(client, tmp_path / "f.bin", store)
    client.abort_multipart_upload(BUCKET, KEY, first.upload_id)

    second = _plan(client, tmp_path / "f.bin", store)

    assert second.upload_id != first.upload_id
    assert len(entries(oss_server.request_log(), "InitiateMultipartUpload")) == 2


def test_plan_on_a_missing_or_empty_file_says_so_and_sends_nothing(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    with pytest.raises(
        SourceFileError,
        match=r"Cannot plan the distributed upload to oss://test-bucket/dist/big.bin: .*does not exist",
    ):
        _plan(client, tmp_path / "missing.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(SourceFileError, match="the file is empty"):
        _plan(client, tmp_path / "empty.bin")
    assert oss_server.request_log() == []


def test_plan_needs_a_store_that_keeps_a_record(client: OssClient, tmp_path: Path) -> None:
    make_file(tmp_path / "f.bin", 2 * PART)
    from airflow_provider_oss.upload.discovery import UploadDiscoveryStore

    store = UploadDiscoveryStore(client, BUCKET, KEY, str(tmp_path / "f.bin"), PART, retry=True)
    with pytest.raises(ValueError, match="needs a checkpoint store that keeps a record"):
        start_plan(client, BUCKET, KEY, tmp_path / "f.bin", store=store, part_size=PART, ranges=2)


def test_every_range_refuses_a_file_changed_since_the_plan(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    source = tmp_path / "f.bin"
    make_file(source, 6 * PART)
    plan = _plan(client, source)
    with source.open("r+b") as f:  # same size, new bytes at the start, new mtime
        f.write(b"changed")
    os.utime(source, ns=(plan.fingerprint.mtime_ns + 10**9,) * 2)

    for part_range in _ranges(plan):
        with pytest.raises(SourceChangedError) as err:
            upload_range(client, plan, part_range)
        assert str(source) in str(err.value) and f"range {part_range.index}" in str(err.value)
        assert plan.upload_id in str(err.value) and "clear the whole task group" in str(err.value)
    assert entries(oss_server.request_log(), "UploadPart") == []


def test_a_range_of_another_part_size_or_another_upload_is_refused(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 6 * PART)
    plan = _plan(client, tmp_path / "f.bin")
    first = _ranges(plan)[0]
    with pytest.raises(
        DistributedPlanError, match=rf"{2 * PART}-byte parts, but the plan .* {PART}-byte parts"
    ):
        upload_range(client, plan, dataclasses.replace(first, part_size=2 * PART))
    other_upload = client.initiate_multipart_upload(BUCKET, KEY)
    with pytest.raises(DistributedPlanError, match=f"names upload ID {other_upload}, but the plan"):
        upload_range(client, plan, dataclasses.replace(first, upload_id=other_upload))
    with pytest.raises(DistributedPlanError, match="belongs to another plan"):
        upload_range(client, plan, dataclasses.replace(first, plan_digest="0" * 64))
    # a plan (and its ranges) naming an upload ID of another key: OSS knows no such upload for this key
    foreign = client.initiate_multipart_upload(BUCKET, "another/key.bin")
    forged = dataclasses.replace(plan, upload_id=foreign)
    store = MemoryCheckpointStore()
    with pytest.raises(
        UploadGoneError, match=f"Upload ID {foreign} does not exist for oss://test-bucket/{KEY}"
    ):
        upload_range(client, forged, forged.part_ranges()[0], store=store)
    assert store.text is None, "no record is kept for another key's upload"
    assert entries(oss_server.request_log(), "UploadPart") == []


def test_an_altered_plan_or_range_is_refused(client: OssClient, tmp_path: Path) -> None:
    make_file(tmp_path / "f.bin", 6 * PART)
    plan = _plan(client, tmp_path / "f.bin")
    edited = plan.to_dict() | {"filename": "/elsewhere/f.bin"}
    with pytest.raises(DistributedPlanError, match="altered"):
        DistributedPlan.from_dict(edited)
    with pytest.raises(DistributedPlanError, match="exactly the fields"):
        PartRange.from_dict(plan.part_ranges()[0].to_dict() | {"extra": 1})
    with pytest.raises(DistributedPlanError, match="must be a JSON object"):
        DistributedPlan.from_dict("not a plan")


def test_a_retried_range_sends_only_its_missing_parts(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "f.bin", 12 * PART)
    plan = _plan(client, tmp_path / "f.bin", ranges=2)  # parts 1-6 and 7-12
    store = MemoryCheckpointStore()
    second = _ranges(plan)[1]
    oss_server.add_fault("UploadPart", "status", part_number=11, times=1000, status=503)
    config = TransferConfig(parallelism=1, checkpoint_save_interval=0.01)
    with pytest.raises(PartUploadError, match="part 11"):
        upload_range(client, plan, second, config=config, store=store)
    before = parts_stored(oss_server.request_log())
    assert before == {7, 8, 9, 10}
    oss_server.clear_faults()
    seq = max(e["seq"] for e in oss_server.request_log())

    result = upload_range(client, plan, second, config=config, store=store)

    after = [e["part_number"] for e in entries(oss_server.request_log(), "UploadPart") if e["seq"] > seq]
    assert after == [11, 12], "only the parts OSS lacked were sent"
    assert (result.parts_sent, result.parts_reused, result.parts_reused_confirmed) == (2, 4, 4)
    assert result.crc64 == crc64.crc64(data[6 * PART :])
    assert store.text is None, "a finished range deletes its record"
    first = upload_range(client, plan, _ranges(plan)[0])
    complete_plan(client, plan, [first.to_dict(), result.to_dict()])
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_a_range_without_a_store_reuses_listed_parts_after_reading_them(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 4 * PART)
    plan = _plan(client, tmp_path / "f.bin", ranges=1)
    (only,) = _ranges(plan)
    upload_range(client, plan, only)
    seq = max(e["seq"] for e in oss_server.request_log())

    again = upload_range(client, plan, only)

    assert [e for e in entries(oss_server.request_log(), "UploadPart") if e["seq"] > seq] == []
    assert (again.parts_reused, again.parts_reused_confirmed) == (4, 0), "read and CRC-checked, not trusted"


def test_a_retried_complete_finds_the_object_already_there(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    data = make_file(tmp_path / "f.bin", 7 * PART)
    plan = _plan(client, tmp_path / "f.bin")
    results = [upload_range(client, plan, r) for r in _ranges(plan)]
    complete_plan(client, plan, results)

    again = complete_plan(client, plan, [r.to_dict() for r in results])

    assert again.already_complete and again.crc64 == crc64.crc64(data)
    assert len(entries(oss_server.request_log(), "CompleteMultipartUpload")) == 1
    # an object that is not this file is no success
    client.put_object(BUCKET, KEY, b"someone else's bytes")
    with pytest.raises(UploadGoneError, match="no longer exists and the key holds an object of 20 bytes"):
        complete_plan(client, plan, results)


def test_complete_refuses_missing_ranges_foreign_results_and_replaced_parts(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 9 * PART)
    plan = _plan(client, tmp_path / "f.bin")
    results = [upload_range(client, plan, r) for r in _ranges(plan)]
    with pytest.raises(DistributedPlanError, match=r"one result per range 0..2; got ranges \[0, 2\]"):
        complete_plan(client, plan, [results[0], results[2]])
    with pytest.raises(DistributedPlanError, match="is for upload ID other, not this plan's"):
        complete_plan(
            client, plan, [results[0], dataclasses.replace(results[1], upload_id="other"), results[2]]
        )
    # another writer replaces part 5 (range 1) with other bytes of the same size
    client.upload_part(BUCKET, KEY, plan.upload_id, 5, os.urandom(PART))
    with pytest.raises(CrcMismatchError, match=r"Range 1 .* Clear map index 1"):
        complete_plan(client, plan, results)
    assert entries(oss_server.request_log(), "CompleteMultipartUpload") == []


def test_complete_names_the_range_whose_parts_are_missing(
    client: OssClient, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    make_file(tmp_path / "f.bin", 6 * PART)
    plan = _plan(client, tmp_path / "f.bin", ranges=2)
    first = upload_range(client, plan, _ranges(plan)[0])
    claimed = RangeResult.from_dict(first.to_dict() | {"index": 1, "first_part": 4, "last_part": 6})
    with pytest.raises(DistributedPlanError, match=r"OSS lacks part\(s\) 4, 5, 6 of range 1 .* map index 1"):
        complete_plan(client, plan, [first, claimed])


def test_split_ranges() -> None:
    assert split_ranges(10, ranges=3) == [(1, 4), (5, 7), (8, 10)]
    assert split_ranges(2, ranges=4) == [(1, 1), (2, 2)]
    assert split_ranges(10, parts_per_range=4) == [(1, 4), (5, 8), (9, 10)]
    with pytest.raises(ValueError, match="exactly one of"):
        split_ranges(10, ranges=2, parts_per_range=2)
    with pytest.raises(ValueError, match="ranges must be an int from 1"):
        split_ranges(10, ranges=0)
