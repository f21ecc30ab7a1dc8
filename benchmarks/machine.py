"""A description of the machine and library versions, printed above the benchmark table."""

from __future__ import annotations

import os
import platform
from importlib import metadata

LIBRARIES = (
    "airflow-provider-oss",
    "alibabacloud-oss-v2",
    "oss2",
    "requests",
    "urllib3",
    "fastcrc",
    "crcmod",
    "crcmod-plus",
)


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def crcmod_backend() -> str:
    """Whether ``crcmod`` (used by both SDKs) runs its C extension or pure Python."""
    try:
        import crcmod._crcfunext  # noqa: F401
    except ImportError:
        return "pure Python"
    return "C extension"


def describe() -> list[str]:
    """Markdown lines: CPUs, CPU model, OS, Python, library versions, CRC backends."""
    from airflow_provider_oss.core import crc64

    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    backend = getattr(crc64, "BACKEND", None) or getattr(crc64, "backend", None) or "?"
    return [
        f"- CPUs: {os.cpu_count()} ({cpu_model()}), {platform.system()} {platform.release()} {platform.machine()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- libraries: {', '.join(versions)}",
        f"- CRC-64: this project uses {backend}; crcmod (the SDKs') runs its {crcmod_backend()}",
    ]
