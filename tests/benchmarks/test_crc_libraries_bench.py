"""
A smoke run of the CRC-64 library comparison (``python -m benchmarks.crc_libraries --quick``): every
library that installed gives the OSS check value and streams correctly, every candidate has a row,
and fastcrc outruns crcmod-plus's C extension by a loose margin (a ratio from one side-by-side run,
never an absolute time; the full figures are about 30x). The first run installs the pinned
libraries into ``.bench-cache/crc-libs`` (bounded by ``--install-timeout``); later runs reuse them.
"""

from __future__ import annotations

import pytest

from benchmarks.crc_libraries import CANDIDATES, main


def _rows(report: str) -> dict[str, list[str]]:
    """
    The table's rows by library label.

    :param report: the printed report.
    """
    rows = {}
    for line in report.splitlines():
        if not line.startswith("| ") or line.startswith("| library"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells
    return rows


def _gbps(cell: str) -> float:
    """
    The GB/s figure at the start of a cell such as ``11.9 (16 MiB, median of 1)``.

    :param cell: the table cell.
    """
    return float(cell.split(maxsplit=1)[0])


@pytest.mark.slow
@pytest.mark.timeout(900)  # a cold cache builds crcmod 1.7 from its sdist
def test_quick_crc_library_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--install-timeout", "240"]) == 0  # 1 when an installed library is wrong
    report = capsys.readouterr().out
    rows = _rows(report)
    assert set(rows) == {c.label for c in CANDIDATES}
    measured = {label: cells for label, cells in rows.items() if not cells[2].startswith("-")}
    assert {"fastcrc", "crcmod-plus", "airflow-provider-oss pure Python"} <= set(measured)
    for label, cells in measured.items():
        assert cells[2] == "yes", f"{label} does not give the OSS check value: {cells}"
        assert cells[3] == "yes", f"{label} streams wrongly: {cells}"
    assert _gbps(rows["fastcrc"][5]) >= 3 * _gbps(rows["crcmod-plus"][5])
    assert "\nchosen: " in report
