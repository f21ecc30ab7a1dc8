"""
A smoke run of the benchmark (``make bench --quick``): every client uploads a correct object, and
this project's engine beats both official SDKs by a loose margin (a ratio from one side-by-side run,
never an absolute time; the full figures are in BENCHMARKS.md: about 3x).
"""

from __future__ import annotations

import pytest

from benchmarks.run import main


def _rates(report: str) -> dict[str, float]:
    rates = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[1].replace(".", "", 1).isdigit():
            rates[cells[0]] = float(cells[1])
    return rates


@pytest.mark.slow
def test_quick_benchmark_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--no-warmup"]) == 0  # each run verifies size and CRC-64 or raises
    rates = _rates(capsys.readouterr().out)
    ours = rates["airflow-provider-oss ResumableUploader"]
    assert ours >= 1.2 * rates["alibabacloud-oss-v2 Uploader (V4)"]
    assert ours >= 1.2 * rates["oss2.resumable_upload (V4)"]
    assert set(rates) == {
        "airflow-provider-oss ResumableUploader",
        "alibabacloud-oss-v2 Uploader (V4)",
        "oss2.resumable_upload (V4)",
        "limit: requests + thread pool, no checksums",
    }
