"""The fenced code blocks of the project's Markdown documents, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_snippets(path: Path) -> list[str]:
    """The fenced ``python`` blocks of a Markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def snippet_naming(path: Path, name: str) -> str:
    """
    The one fenced ``python`` block of a Markdown file that names ``name``: a test finds its snippet by
    what it defines, not by its position, so a snippet added above it elsewhere in the page cannot
    hand the test another one.
    """
    found = [snippet for snippet in python_snippets(path) if re.search(rf"\b{re.escape(name)}\b", snippet)]
    if len(found) != 1:
        raise AssertionError(
            f"{path.name}: {len(found)} python snippets name {name!r}; expected exactly one."
        )
    return found[0]
