"""The fenced code blocks of the project's Markdown documents, for the tests that run them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = DOCS.parent / "README.md"


@dataclass(frozen=True)
class Snippet:
    """One fenced block: its language tag (``""`` when it has none), its text and its first line's number."""

    language: str
    text: str
    line: int

    @property
    def first_line(self) -> str:
        """The block's first non-empty line, stripped: how a test names the block."""
        return next(line.strip() for line in self.text.splitlines() if line.strip())


def fenced_blocks(path: Path) -> list[Snippet]:
    """Every fenced block of a Markdown file (indented ones too), in order."""
    source = path.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", source, flags=re.S | re.M):
        indent = len(match.group(1))
        text = "".join(line[indent:] for line in match.group(3).splitlines(keepends=True))
        blocks.append(Snippet(match.group(2), text, source.count("\n", 0, match.start()) + 2))
    return blocks


def python_snippets(path: Path) -> list[str]:
    """The fenced ``python`` blocks of a Markdown file, in order."""
    return [block.text for block in fenced_blocks(path) if block.language == "python"]


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
