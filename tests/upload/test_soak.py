"""The short form of the fault soak (the full form: ``make soak``, 50 runs)."""

from __future__ import annotations

from collections import Counter

from tests.soak_folder import folder_soak
from tests.soak_harness import FAULTS, KiB, MiB, soak


def test_short_soak_every_fault_kind_ends_with_the_right_object() -> None:
    summary = soak(len(FAULTS), seed=7, size=4 * MiB, part=256 * KiB, time_budget=300)
    assert {r.fault for r in summary.runs} == set(FAULTS), "each kind of fault ran once"
    assert summary.failures == [], summary.text()
    # a damaged checkpoint continues the upload that holds the file; only an expired upload and a
    # first attempt that never reached OSS leave nothing to continue
    resumable = [r for r in summary.runs if r.fault not in ("no_such_upload", "not_oss")]
    # an orphaned first attempt may finish before the retry starts (a loaded machine): then there is
    # nothing to continue, and the retry's new upload is right
    assert all(r.same_upload_id or r.first_attempt_finished for r in resumable), summary.text()
    assert sum(r.foreign_aborts for r in summary.runs) == 0
    assert not any(r.full_reupload for r in summary.runs)


def test_short_folder_soak_sends_no_outside_byte_and_every_object_is_its_file() -> None:
    summary = folder_soak(6, seed=7, time_budget=300)
    assert summary.failures == [], summary.text()
    swaps: Counter[str] = Counter()
    for run in summary.runs:
        swaps.update(run.swaps)
    assert swaps["file"] and swaps["dir"], "both kinds of swap happened"
    assert sum(r.failed for r in summary.runs), "some swapped file was caught (else the swaps came too late)"
    assert sum(r.outside_files_on_server for r in summary.runs) == 0
    assert sum(r.wrong_objects for r in summary.runs) == 0
