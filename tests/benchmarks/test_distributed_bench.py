"""``python -m benchmarks.distributed --quick`` runs end to end and reports the request counts it must."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.airflow
def test_distributed_benchmark_quick_run() -> None:
    # its own process: the benchmark points Airflow at a fresh home of its own
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.distributed", "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Every row's object was checked" in out
    rows = {
        (m.group(1).strip(), m.group(2)): [int(x) for x in m.group(3).split("|")]
        for m in re.finditer(
            r"^\| ([^|]+) \| ([-\d]+) \| [\d.]+ \| [\d.]+x \| \d+ \| ([\d |]+)\|$", out, re.M
        )
    }
    # requests, Initiate, UploadPart, ListParts, Complete, Head: one upload; each range task and the
    # complete list the parts once; the engine's fresh upload HEADs the key instead
    assert rows[("engine (ResumableUploader)", "-")] == [19, 1, 16, 0, 1, 1]
    assert rows[("steps without Airflow", "2")] == [21, 1, 16, 3, 1, 0]
    assert rows[("task group under dag.test()", "2")] == [21, 1, 16, 3, 1, 0]
    assert re.search(r"dag.test\(\) mapped task \d+ ms", out)
