"""docs/FSSPEC.md's snippets, as written there, against the local OSS server."""

from __future__ import annotations

from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "FSSPEC.md"


def _snippet(name: str) -> str:
    text = DOC.read_text()
    marker = f"<!-- snippet: {name} "
    assert text.count(marker) == 1, f"docs/FSSPEC.md has no single snippet {name!r}"
    return text.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("name", ["ossfs-style", "python-errors"])
def test_the_documented_snippet_runs(name: str) -> None:
    exec(compile(_snippet(name), f"FSSPEC.md:{name}", "exec"), {})  # noqa: S102  # the project's own doc
