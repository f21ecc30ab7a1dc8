"""
The lowest declared version of each runtime dependency works: a scratch environment gets exactly
the floors the wheel declares (Airflow's floor is covered by the Airflow version matrix), then a
multipart upload, the CRC-64 checks and the hook run against the local server there.
"""

from __future__ import annotations

import json
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.package_support import airflow_env, built_wheel, install, run, scratch_venv

#: Test files run on the floors: multipart uploads (client and engine), CRC-64, and the hook.
FLOOR_TESTS = (
    "tests/core/test_client_multipart.py",
    "tests/upload/test_upload_engine.py",
    "tests/core/test_crc64.py",
    "tests/airflow/test_hook.py",
)


def runtime_floors() -> dict[str, str]:
    """Each non-Airflow runtime dependency's lower bound (``>=X``) as the wheel declares it, by name."""
    with zipfile.ZipFile(built_wheel()) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(name).decode())
    floors: dict[str, str] = {}
    for text in metadata.get_all("Requires-Dist", []):
        if "extra ==" in text:
            continue
        requirement = Requirement(text)
        if requirement.name == "apache-airflow":
            continue
        (lower,) = [s.version for s in requirement.specifier if s.operator == ">="]
        floors[requirement.name] = lower
    return floors


def test_every_runtime_dependency_declares_a_floor() -> None:
    assert set(runtime_floors()) == {"requests", "urllib3", "fastcrc"}


@pytest.mark.slow
def test_uploads_and_hook_work_on_the_lowest_versions(tmp_path: Path) -> None:
    floors = runtime_floors()
    bin_dir = scratch_venv(tmp_path / "venv")
    install(bin_dir, built_wheel(), "pytest", "pytest-timeout", "hypothesis", "crcmod")
    install(bin_dir, *(f"{name}=={version}" for name, version in floors.items()), constrained=False)
    versions = json.loads(
        run(
            bin_dir / "python",
            "-c",
            "import json, importlib.metadata as m; "
            f"print(json.dumps({{n: m.version(n) for n in {sorted(floors)!r}}}))",
        )
    )
    assert {n: Version(v) for n, v in versions.items()} == {n: Version(v) for n, v in floors.items()}
    env = airflow_env(tmp_path / "home")
    output = run(
        bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *FLOOR_TESTS, env=env, timeout=900
    )
    assert " passed" in output and "failed" not in output
