"""
A smoke run of the copy benchmark (``python -m benchmarks.copy``) with small parts: the multipart copy
sends exactly one HEAD of the source, one InitiateMultipartUpload, one UploadPartCopy per planned part
and one Complete (figures derived from the part plan), and parallel UploadPartCopy beats sequential by
a loose ratio from one side-by-side run under a per-part server delay, never an absolute time
(BENCHMARKS.md has the 5 GiB figures).
"""

from __future__ import annotations

import pytest

from airflow_provider_oss.upload.plan import plan_parts
from benchmarks.copy import run

MiB = 1024 * 1024


def _expected(size: int, part_size: int) -> dict[str, int]:
    return {
        "HeadObject": 1,  # the source's identity (size, ETag, CRC-64)
        "InitiateMultipartUpload": 1,
        "UploadPartCopy": plan_parts(size, part_size).part_count,
        "CompleteMultipartUpload": 1,
    }


@pytest.mark.slow
def test_quick_copy_benchmark_requests_and_parallel_ratio() -> None:
    part, ratio_parts = 2 * MiB, 16  # ratio parts of 128 KiB (OSS minimum: 100 KiB)
    figures = run(parts=6, ratio_parts=ratio_parts, part=part)
    assert figures["size"] == 6 * part
    assert figures["ops"] == _expected(figures["size"], part), figures
    assert figures["requests"] == sum(figures["ops"].values())
    assert figures["ratio_ops"] == _expected(part, part // ratio_parts), figures
    # 16 parts, 8 in flight, 50 ms each: ideally 8x; loosely, on a loaded 2-core machine.
    assert figures["ratio"] >= 2.5, figures
