"""Build the wheel once and install it into scratch virtual environments (uv, its cache makes repeats cheap)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.run_shared import run_shared_folder

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
_WHEEL: list[Path] = []
_SDIST: list[Path] = []


def uv() -> str:
    """The uv next to the running Python (``make install`` puts it there), else the one on PATH."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    assert found, "uv is missing: run 'make install' (it installs uv into .venv)"
    return found


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; on failure the assertion shows its output."""
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def built_wheel() -> Path:
    """The project's wheel, built once per test run from the working tree (:func:`_build`)."""
    if not _WHEEL:
        _WHEEL.append(_build("--wheel", "airflow_provider_oss-*.whl"))
    return _WHEEL[0]


def built_sdist() -> Path:
    """The project's source distribution (``.tar.gz``), built once per test run (:func:`_build`)."""
    if not _SDIST:
        _SDIST.append(_build("--sdist", "airflow_provider_oss-*.tar.gz"))
    return _SDIST[0]


def _build(kind: str, pattern: str) -> Path:
    """
    ``uv build <kind>`` of the working tree into the run's shared folder, unless a worker of the run
    did: the pytest-xdist workers share what it built, and builds run one at a time (two at once
    would share setuptools' ``build/`` folder in the tree).
    """
    with run_shared_folder("dist") as out:
        if not list(out.glob(pattern)):
            run(uv(), "build", kind, "--quiet", "--out-dir", out, REPO)
        (built,) = out.glob(pattern)
    return built


def scratch_venv(path: Path) -> Path:
    """A new virtual environment with this Python's version; returns its ``bin`` directory."""
    run(uv(), "venv", "--quiet", "--python", sys.executable, path)
    return path / "bin"


def install(
    bin_dir: Path, *requirements: str | Path, constrained: bool = True, extra: tuple[str, ...] = ()
) -> None:
    """``uv pip install`` into the scratch environment (with the project's constraints unless told)."""
    args: list[str | Path] = [uv(), "pip", "install", "--quiet", "--python", bin_dir / "python"]
    if constrained:
        args += ["-c", CONSTRAINTS]
    run(*args, *extra, *requirements)


def airflow_env(home: Path) -> dict[str, str]:
    """An environment for a scratch Airflow: its own home and SQLite database, no examples."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "VIRTUAL_ENV"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    return env
