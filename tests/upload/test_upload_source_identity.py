"""
A file rewritten in place whose mtime is put back (``touch -r``, ``os.utime``, ``rsync --inplace
--times``) keeps its size, its mtime and, when the rewrite misses the sampled windows, its sampled
hash: only its ctime tells. A resume must then read every part it reuses, never mix old and new
bytes; a file whose content is the same but whose identity is not (touched, restored from a backup)
has its parts read and reused, not sent again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core import crc64
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import (
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
    MemoryCheckpointStore,
    PartUploadError,
    ResumableUploader,
    SourceFingerprint,
    TransferConfig,
)
from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.upload.distributed import check_source, start_plan, upload_range
from airflow_provider_oss.upload.distributed_complete import complete_plan
from airflow_provider_oss.upload.distributed_plan import DistributedPlan
from airflow_provider_oss.upload.errors import SourceChangedError
from airflow_provider_oss.upload.progress import ProgressEvent
from tests.upload.test_upload_checkpoint import DictKV
from tests.upload_support import (
    BUCKET,
    KiB,
    MiB,
    entries,
    last_seq,
    make_client,
    make_file,
    part_requests,
    parts_stored,
    since,
)

PART = 256 * KiB
KEY = "identity/file.bin"
MODES = ("file", "state_store", "discover")


class Mode:
    """One checkpoint mode: the store a try uses (``discover`` builds one per try, as Airflow does)."""

    def __init__(self, name: str, server: LocalOssServer, path: Path, tmp_path: Path) -> None:
        self.name, self.server, self.path = name, server, path
        self.file_store = FileCheckpointStore(tmp_path / "checkpoints", BUCKET, KEY, path)
        self.kv_store = KeyValueCheckpointStore(DictKV())

    def store(self, client: Any, *, retry: bool) -> CheckpointStore:
        if self.name == "file":
            return self.file_store
        if self.name == "state_store":
            return self.kv_store
        return UploadDiscoveryStore(client, BUCKET, KEY, str(self.path), PART, retry=retry)

    def uploader(self, *, retry: bool, **kwargs: Any) -> ResumableUploader:
        client = make_client(self.server, **kwargs.pop("client_kwargs", {}))
        return ResumableUploader(
            client,
            BUCKET,
            KEY,
            self.path,
            config=TransferConfig(part_size=PART, parallelism=2),
            checkpoint_store=self.store(client, retry=retry),
            **kwargs,
        )

    def failed_first_try(self) -> set[int]:
        """A first try that a connection reset stops after some parts; the parts OSS holds."""
        self.server.add_fault("UploadPart", "reset", nth=4)
        with pytest.raises(PartUploadError):
            self.uploader(retry=False, client_kwargs={"max_retries": 0}).run()
        self.server.clear_faults()
        stored = parts_stored(self.server.request_log())
        assert stored, "the first try stored parts"
        return stored


def a_3_mib_source(server: LocalOssServer, tmp_path: Path, mode: str = "file") -> tuple[Path, Mode]:
    """A 3 MiB source file (12 parts) and the checkpoint ``mode`` its tries use."""
    path = tmp_path / "src.bin"
    make_file(path, 3 * MiB)
    return path, Mode(mode, server, path, tmp_path)


def rewrite_in_place(path: Path, offsets: list[int], *, keep_mtime: bool = True) -> bytes:
    """Flip 16 bytes at each offset, writing into the same inode; put the mtime back; the new bytes."""
    before = os.stat(path)
    with path.open("r+b") as f:
        for offset in offsets:
            f.seek(offset)
            old = f.read(16)
            f.seek(offset)
            f.write(bytes(b ^ 0xFF for b in old))
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return path.read_bytes()


def outside_samples(parts: set[int]) -> list[int]:
    """An offset in each part that none of the fingerprint's sampled windows covers (3 MiB files)."""
    return [(n - 1) * PART + PART // 2 for n in sorted(parts)]


def same_content_fingerprint(old: SourceFingerprint, path: Path) -> SourceFingerprint:
    new = SourceFingerprint.of_file(path)
    assert old.differences(new) == [], "size, mtime and sampled content look unchanged"
    assert new.identity_differences(old), "only the identity tells"
    return new


@pytest.mark.parametrize("mode", MODES)
def test_a_rewrite_with_its_mtime_put_back_is_never_mixed_with_the_old_parts(
    oss_server: LocalOssServer, tmp_path: Path, mode: str
) -> None:
    path, modes = a_3_mib_source(oss_server, tmp_path, mode)
    stored = modes.failed_first_try()
    before = SourceFingerprint.of_file(path)
    data = rewrite_in_place(path, outside_samples(stored))
    same_content_fingerprint(before, path)
    mark = last_seq(oss_server)

    result = modes.uploader(retry=True).run()

    run2 = since(oss_server.request_log(), mark)
    assert oss_server.object_bytes(BUCKET, KEY) == data, "the object is the file, no old part in it"
    assert result.crc64 == crc64.crc64(data)
    assert sorted(part_requests(run2)) == list(range(1, 13)), "every old part was sent again"
    assert result.parts_reused == 0


@pytest.mark.parametrize("mode", ["file", "state_store"])
@pytest.mark.parametrize("how", ["touched", "restored_copy"])
def test_same_content_with_another_identity_has_its_parts_read_not_resent(
    oss_server: LocalOssServer, tmp_path: Path, mode: str, how: str
) -> None:
    path, modes = a_3_mib_source(oss_server, tmp_path, mode)
    data = path.read_bytes()
    stored = modes.failed_first_try()
    before = SourceFingerprint.of_file(path)
    if how == "touched":  # os.utime with the same times: only the ctime moves
        os.utime(path, ns=(before.mtime_ns, before.mtime_ns))
    else:  # a copy restored from a backup with its times (another inode)
        shutil.copy2(path, tmp_path / "backup.bin")
        os.replace(tmp_path / "backup.bin", path)
    same_content_fingerprint(before, path)
    mark = last_seq(oss_server)

    result = modes.uploader(retry=True).run()

    run2 = since(oss_server.request_log(), mark)
    assert sorted(part_requests(run2)) == sorted(set(range(1, 13)) - stored), "no stored part sent again"
    assert (result.parts_reused, result.parts_reused_confirmed) == (len(stored), 0), "each one read"
    assert oss_server.object_bytes(BUCKET, KEY) == data


@pytest.mark.parametrize("mode", ["file", "state_store"])
def test_changed_content_on_a_new_inode_resends_only_the_parts_that_differ(
    oss_server: LocalOssServer, tmp_path: Path, mode: str
) -> None:
    path, modes = a_3_mib_source(oss_server, tmp_path, mode)
    stored = modes.failed_first_try()
    changed = min(stored)
    before = SourceFingerprint.of_file(path)
    shutil.copy2(path, tmp_path / "new.bin")
    data = rewrite_in_place(tmp_path / "new.bin", outside_samples({changed}))
    os.replace(tmp_path / "new.bin", path)
    same_content_fingerprint(before, path)
    mark = last_seq(oss_server)

    result = modes.uploader(retry=True).run()

    run2 = since(oss_server.request_log(), mark)
    assert sorted(part_requests(run2)) == sorted((set(range(1, 13)) - stored) | {changed})
    assert result.parts_reused == len(stored) - 1
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_a_record_without_identity_from_an_older_version_has_its_parts_read(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path, modes = a_3_mib_source(oss_server, tmp_path)
    stored = modes.failed_first_try()
    (record_file,) = (tmp_path / "checkpoints").iterdir()
    record = json.loads(record_file.read_text())
    for name in ("ctime_ns", "inode", "device"):
        del record["fingerprint"][name]
    record["version"] = 3
    record_file.write_text(json.dumps(record))
    assert modes.file_store.load() is not None, "a version 3 record is still read"
    data = rewrite_in_place(path, outside_samples(stored))

    result = modes.uploader(retry=True).run()

    assert oss_server.object_bytes(BUCKET, KEY) == data
    assert (result.parts_reused, result.parts_sent) == (0, 12)


def test_a_completed_mark_is_not_trusted_unread_after_a_rewrite_with_its_mtime_put_back(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path, modes = a_3_mib_source(oss_server, tmp_path)
    modes.uploader(retry=False).run()
    record = modes.file_store.load()
    assert record is not None and record.completed is not None
    data = rewrite_in_place(path, outside_samples({5}))

    result = modes.uploader(retry=True).run()

    assert not result.already_complete
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_a_rewrite_with_its_mtime_put_back_during_the_upload_fails_it(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path, modes = a_3_mib_source(oss_server, tmp_path)
    rewritten: list[bytes] = []

    def rewrite_sent_part(event: ProgressEvent) -> None:
        if not rewritten:  # part 1 is in OSS: rewrite it behind the upload's back
            rewritten.append(rewrite_in_place(path, outside_samples({1})))

    with pytest.raises(SourceChangedError, match="ctime"):
        modes.uploader(retry=False, progress_callback=rewrite_sent_part).run()
    assert entries(oss_server.request_log(), "CompleteMultipartUpload") == []
    assert rewritten


# -- distributed -----------------------------------------------------------------------------------

DPART = 100 * KiB


def _plan(client: Any, path: Path, ranges: int = 1) -> DistributedPlan:
    plan = start_plan(
        client, BUCKET, KEY, path, store=MemoryCheckpointStore(), part_size=DPART, ranges=ranges
    )
    return DistributedPlan.from_dict(plan.to_dict())


def test_a_range_refuses_a_file_rewritten_since_the_plan_with_its_mtime_put_back(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 8 * DPART)
    client = make_client(oss_server, max_retries=0)
    plan = _plan(client, path, ranges=2)
    first, second = plan.part_ranges()
    upload_range(client, plan, first)
    rewrite_in_place(path, [DPART + DPART // 2])
    assert plan.fingerprint.differences(SourceFingerprint.of_file(path)) == []

    with pytest.raises(SourceChangedError, match="ctime"):
        upload_range(client, plan, second)
    with pytest.raises(SourceChangedError, match="ctime"):
        check_source(plan, "the complete task")


def test_a_range_on_another_inode_than_the_plans_reads_the_parts_its_record_confirmed(
    oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """The plan fingerprinted the file on another worker (another device number on a shared volume)."""
    path = tmp_path / "f.bin"
    data = make_file(path, 8 * DPART)
    client = make_client(oss_server, max_retries=0)
    real = _plan(client, path)
    assert real.fingerprint.device is not None
    plan = dataclasses.replace(
        real, fingerprint=dataclasses.replace(real.fingerprint, device=real.fingerprint.device + 1)
    )
    (only,) = plan.part_ranges()
    store = MemoryCheckpointStore()
    config = TransferConfig(parallelism=1, checkpoint_save_interval=0.01)
    oss_server.add_fault("UploadPart", "status", part_number=5, times=1000, status=503)
    with pytest.raises(PartUploadError):
        upload_range(client, plan, only, config=config, store=store)
    oss_server.clear_faults()
    stored = parts_stored(oss_server.request_log())
    assert stored == {1, 2, 3, 4}
    mark = last_seq(oss_server)

    result = upload_range(client, plan, only, config=config, store=store)

    assert sorted(part_requests(since(oss_server.request_log(), mark))) == [5, 6, 7, 8]
    assert (result.parts_reused, result.parts_reused_confirmed) == (4, 0), "read, not trusted"
    complete_plan(client, plan, [result.to_dict()])
    assert oss_server.object_bytes(BUCKET, KEY) == data


def test_a_fingerprint_round_trips_with_or_without_identity_and_refuses_half_of_it(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 1000)
    full = SourceFingerprint.of_file(path)
    assert SourceFingerprint.from_dict(full.to_dict()) == full
    old = {"size": full.size, "mtime_ns": full.mtime_ns, "sample": full.sample}
    assert SourceFingerprint.from_dict(old).to_dict() == old, "an older record stays as it was"
    assert SourceFingerprint.from_dict(old).identity_differences(full) != []
    with pytest.raises(ValueError, match="exactly"):
        SourceFingerprint.from_dict({**old, "ctime_ns": full.ctime_ns})
    with pytest.raises(ValueError, match="must be ints"):
        SourceFingerprint.from_dict({**full.to_dict(), "inode": "12"})
