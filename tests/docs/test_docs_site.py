"""The documentation site: ``make docs`` builds it with no warning, and its API reference covers
every hook, operator, sensor, trigger and filesystem class of the package (the site's pages are
generated from the modules, so a new module appears without an edit; this test proves it did)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_oss
from airflow_provider_oss.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]


def _package_modules() -> Iterator[Any]:
    """Every public module of the package but the local test server."""
    for info in pkgutil.walk_packages(airflow_provider_oss.__path__, prefix="airflow_provider_oss."):
        parts = info.name.split(".")
        if parts[1] != "testing" and not any(part.startswith("_") for part in parts):
            yield importlib.import_module(info.name)


def _airflow_facing_classes() -> set[str]:
    """Hooks, operators (sensors included), triggers and filesystems defined in the package."""
    from airflow.sdk import BaseHook, BaseOperator
    from airflow.triggers.base import BaseTrigger
    from fsspec import AbstractFileSystem

    bases = (BaseHook, BaseOperator, BaseTrigger, AbstractFileSystem)
    found = set()
    for module in _package_modules():
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and not name.startswith("_")
                and issubclass(value, bases)
            ):
                found.add(f"{module.__name__}.{name}")
    return found


def _provider_info_modules(value: Any) -> Iterator[str]:
    """Every module ``get_provider_info()`` names as a ``python-modules`` entry or a filesystem."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in {"python-modules", "filesystems"}:
                yield from item
            else:
                yield from _provider_info_modules(item)
    elif isinstance(value, list):
        for item in value:
            yield from _provider_info_modules(item)


def _inventory(objects_inv: Path) -> dict[str, set[str]]:
    """The site's ``objects.inv``: role (``py:class``) to the names it documents."""
    header_end = 4  # four text lines, then the zlib-compressed entries "name role priority uri dispname"
    body = zlib.decompress(objects_inv.read_bytes().split(b"\n", header_end)[header_end]).decode()
    roles: dict[str, set[str]] = {}
    for line in body.splitlines():
        name, role = line.split(" ", 2)[:2]
        roles.setdefault(role, set()).add(name)
    return roles


@pytest.mark.slow
def test_make_docs_builds_without_a_warning_and_documents_every_public_class(tmp_path: Path) -> None:
    out = tmp_path / "html"
    # STAMP= : the running environment already has the docs extra (make test installs it).
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "docs", f"BIN={Path(sys.executable).parent}",
         "STAMP=", f"DOCS_OUT={out}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, result.stderr

    inventory = _inventory(out / "objects.inv")
    classes = _airflow_facing_classes()
    assert {
        "airflow_provider_oss.hooks.oss.OssHook",
        "airflow_provider_oss.fs.filesystem.OssFileSystem",
    } <= classes
    assert classes - inventory["py:class"] == set()
    assert set(_provider_info_modules(get_provider_info())) - inventory["py:module"] == set()
    # The guides are on the site, and the README's links into docs/ lead to their pages.
    guides = {path.stem for path in (REPO / "docs").glob("*.md") if path.stem != "index"}
    assert guides
    assert {guide for guide in guides if not (out / "docs" / f"{guide}.html").is_file()} == set()
    assert 'href="docs/XCOM_RESULTS.html"' in (out / "README.html").read_text(encoding="utf-8")
    assert "docs/index.html" in (out / "index.html").read_text(encoding="utf-8")
