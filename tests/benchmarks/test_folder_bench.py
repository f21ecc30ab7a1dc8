"""
A smoke run of the folder benchmark (``python -m benchmarks.folder``) on 100 files: the folder
upload sends one listing and one PutObject per file (no HEAD for absent keys), its re-run of the
unchanged folder sends no PutObject at all, and with a 10 ms round trip added to every request (as
a real endpoint has) it beats the sequential loop of ``upload_file`` by a loose ratio from one
side-by-side run, never an absolute time (BENCHMARKS.md has the 2,000-file figures).
"""

from __future__ import annotations

import pytest

from benchmarks.folder import measure


@pytest.mark.slow
def test_folder_upload_beats_a_loop_of_single_uploads() -> None:
    figures = measure(files=100, concurrency=8, repeat=1, rtt_ms=10)
    requests = figures["requests"]
    assert requests["folder"] == {"ListObjectsV2": 1, "PutObject": 100}
    assert requests["rerun"] == {"ListObjectsV2": 1, "HeadObject": 100}
    assert requests["loop"] == {"PutObject": 100}
    assert figures["bytes_sent"]["rerun"] == 0
    assert figures["bytes_sent"]["folder"] == figures["bytes_sent"]["loop"] == figures["bytes"]
    assert figures["ratio"] > 1.5, figures
    assert figures["rerun_vs_folder"] < 1, figures
