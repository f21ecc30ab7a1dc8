"""Every Python snippet of docs/FSSPEC.md, as written there, against the local OSS server."""

from __future__ import annotations

import pytest

from tests.doc_snippets import DOCS, python_snippets

SNIPPETS = python_snippets(DOCS / "FSSPEC.md")


def test_the_guide_has_its_snippets() -> None:
    assert len(SNIPPETS) == 2  # the ossfs-style code and the Python errors


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_the_documented_snippet_runs(index: int) -> None:
    exec(compile(SNIPPETS[index], f"FSSPEC.md snippet {index + 1}", "exec"), {})  # noqa: S102  # our own doc
