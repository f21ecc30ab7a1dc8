"""The short form of the fault soak (the full form: ``make soak``, 50 runs)."""

from __future__ import annotations

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
