"""The short form of the download soak (the full form: ``make soak``, 50 runs of each kind)."""

from __future__ import annotations

from tests.soak_download import MiB, soak


def test_short_download_soak_kills_and_retries_lose_only_the_ranges_in_flight() -> None:
    summary = soak(3, seed=5, size=3 * MiB, time_budget=300)
    assert len(summary.runs) == 3
    assert summary.failures == [], summary.text()
    assert sum(r.wrong_bytes for r in summary.runs) == 0
    assert all(r.fetched_again <= r.parallelism for r in summary.runs if not r.first_finished), summary.text()
