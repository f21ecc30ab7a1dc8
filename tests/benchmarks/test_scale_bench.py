"""
A smoke run of the scale benchmark (``python -m benchmarks.scale --quick``): the resume of a
1,000-part upload lists its parts in the expected pages and sends only the missing part; the peak
RSS of every size is within ``parallelism x part_size + 64 MiB``; the time per GiB does not grow with
the size (a loose ratio between sizes from one run, never an absolute time; the full figures are in
BENCHMARKS.md).
"""

from __future__ import annotations

import math

import pytest

from benchmarks.scale import main

QUICK_PARTS = 1000
PAGE_SIZE = 1000


def _tables(report: str) -> list[list[dict[str, str]]]:
    """Every markdown table of the report, as rows of header -> cell."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in report.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            tables.append([])
        elif not set("".join(cells)) <= set("-:"):
            tables[-1].append(dict(zip(header, cells, strict=True)))
    return tables


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.mark.slow
def test_quick_scale_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick"]) == 0  # each run verifies the object (size, CRC-64) or raises
    parts_table, growth_table = _tables(capsys.readouterr().out)

    (row,) = parts_table
    assert _number(row["parts"]) == QUICK_PARTS
    assert _number(row["ListParts pages"]) == math.ceil((QUICK_PARTS - 1) / PAGE_SIZE)
    requests = dict(item.rsplit(" ", 1) for item in row["resume requests"].split(", "))
    assert requests["UploadPart"] == "1"
    assert requests["ListParts"] == str(math.ceil((QUICK_PARTS - 1) / PAGE_SIZE))
    assert requests["CompleteMultipartUpload"] == "1"
    assert row["stored parts re-sent"] == "0"

    sizes = [_number(r["size MiB"]) for r in growth_table]
    assert sizes == [16, 64]
    for growth in growth_table:
        assert _number(growth["peak RSS over baseline MiB (max)"]) <= _number(growth["RSS budget MiB"])
        assert growth["within budget"] == "PASS"
    per_gib = [_number(r["s per GiB"]) for r in growth_table]
    assert per_gib[-1] <= 3 * per_gib[0]  # bigger files cost no more per GiB (loosely)
