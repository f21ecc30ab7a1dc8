"""Sphinx configuration of the documentation site (``make docs``).

The source directory is the repository root, so a Markdown link that works on GitHub
(``docs/COPY.md``, ``../BENCHMARKS.md``, ``#airflow-versions``) works on the site too; only the
README, the two root reports and ``docs/`` are read. The API reference is generated at every build
(into ``docs/_api/``, not committed) from the modules that ``get_provider_info()`` names: every
module of each package it points into (hooks, operators, sensors, triggers, the filesystem,
assets, and whatever a later entry adds), so a new module needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_oss import __version__
from airflow_provider_oss.get_provider_info import get_provider_info

DOCS = Path(__file__).resolve().parent
API_DIR = DOCS / "_api"
PACKAGE = "airflow_provider_oss"

project = "airflow-provider-oss"
author = "airflow-provider-oss contributors"
copyright = "airflow-provider-oss contributors"  # Sphinx's configuration name
version = release = __version__

root_doc = "docs/index"
include_patterns = ["README.md", "BENCHMARKS.md", "CONFORMANCE.md", "docs/**"]
exclude_patterns = [".venv", "**/.venv", "docs/_build", "docs/conf.py", "build", "dist"]

# No sphinx.ext.viewcode: its highlighted copy of every module added a fifth to the build time.
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

# GitHub's anchors for headings (#airflow-versions), so the README's and the guides' links resolve.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# A package's __init__ re-exports its modules' names: each is documented once, where it is defined.
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
napoleon_google_docstring = False

# Every reference must resolve (-n). Without network at build time there are no intersphinx
# inventories, so names from outside this package (Airflow, requests, fsspec, the standard
# library) cannot be linked; those alone are exempt. A name of this package that does not resolve
# still fails the build.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", rf"(?!{PACKAGE}\b).*")]

html_theme = "furo"
html_title = f"airflow-provider-oss {__version__}"


def _dotted_names(value: Any) -> Iterator[str]:
    """Every ``airflow_provider_oss.…`` string anywhere in the provider description."""
    if isinstance(value, str):
        if value.startswith(PACKAGE + "."):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _dotted_names(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _dotted_names(item)


def _containing_package(dotted: str) -> str:
    """The package holding the module that ``dotted`` (a module or an attribute of one) names."""
    parts = dotted.split(".")
    while parts:
        try:
            module = importlib.import_module(".".join(parts))
        except ImportError:
            parts.pop()
            continue
        return module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
    raise ValueError(f"get_provider_info() names {dotted!r}, which does not import")


def provider_packages() -> list[str]:
    """The packages that ``get_provider_info()`` points into (hooks, operators, sensors, ...), sorted."""
    return sorted({_containing_package(name) for name in _dotted_names(get_provider_info())})


def documented_modules() -> list[str]:
    """Every public module of the package but the local test server (``testing``, see the README)."""
    modules = {PACKAGE}
    for info in pkgutil.walk_packages(importlib.import_module(PACKAGE).__path__, prefix=PACKAGE + "."):
        parts = info.name.split(".")
        if parts[1] != "testing" and not any(part.startswith("_") for part in parts):
            modules.add(info.name)
    return sorted(modules)


def _title(text: str) -> str:
    return f"{text}\n{'=' * len(text)}\n"


def write_api_pages() -> None:
    """``docs/_api/index.rst`` and one page per module (autodoc reads the docstrings)."""
    shutil.rmtree(API_DIR, ignore_errors=True)
    API_DIR.mkdir()
    modules = documented_modules()
    for module in modules:
        (API_DIR / f"{module}.rst").write_text(
            _title(f"``{module}``") + f"\n.. automodule:: {module}\n", encoding="utf-8"
        )
    entries = "\n".join(f"   {module}" for module in modules)
    (API_DIR / "index.rst").write_text(
        _title("API reference")
        + "\nGenerated from the docstrings of every module in the packages that the provider's\n"
        "``get_provider_info()`` names (hooks, operators, sensors, triggers, the filesystem,\n"
        "assets).\n\n.. toctree::\n   :maxdepth: 1\n\n" + entries + "\n",
        encoding="utf-8",
    )


def _redirect_site_root(app: Any, exception: BaseException | None) -> None:
    """The site's root ``index.html`` opens ``docs/index.html`` (the root document)."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "index.html"
        target.write_text('<meta http-equiv="refresh" content="0; url=docs/index.html">\n', encoding="utf-8")


def setup(app: Any) -> None:
    app.connect("build-finished", _redirect_site_root)


write_api_pages()
