"""
Constraints for installing this provider into the official Airflow image.

The image already holds Airflow and its dependencies at the versions Airflow was released with;
the repository's ``constraints.txt`` pins what the project's CI resolved, which may differ. Used as
is, it would make pip reinstall many of the image's packages. This script writes one constraints
file where every package the image already has keeps its installed version, and the project's pins
apply only to the packages the image lacks (such as ``fastcrc``)::

    pip freeze --all > /tmp/image-packages.txt
    python constraints_for_image.py /tmp/image-packages.txt constraints.txt > /tmp/constraints-image.txt
    pip install "apache-airflow==${AIRFLOW_VERSION}" -c /tmp/constraints-image.txt .

Standard library only: it runs in the image before the provider is installed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """
    The canonical form of a distribution name (PEP 503): lower case, runs of ``-_.`` as ``-``.

    :param name: a distribution name as written in a requirements or freeze file.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_lines(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(normalized name, line) of each requirement line; comments, options and blanks are skipped."""
    result = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _NAME.match(line)
        if match:
            result.append((normalize(match.group(1)), line))
    return result


def merge(installed: Iterable[str], project: Iterable[str]) -> list[str]:
    """
    The constraint lines: the image's ``name==version`` pins, then the project's pins of the
    packages the image does not have.

    :param installed: the lines of ``pip freeze --all`` run in the image.
    :param project: the lines of the repository's ``constraints.txt``.
    """
    image = _requirement_lines(installed)
    image_names = {name for name, _ in image}
    # A package installed from a URL or a local path has no "==" pin: it stays unconstrained
    # (pip keeps what is installed) and the project's pin of it is not used either.
    lines = [line for _, line in image if "==" in line and "@" not in line]
    seen = set(image_names)
    for name, line in _requirement_lines(project):
        if name not in seen:
            lines.append(line)
            seen.add(name)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the merged constraints of ``INSTALLED_FREEZE PROJECT_CONSTRAINTS`` to stdout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: constraints_for_image.py INSTALLED_FREEZE PROJECT_CONSTRAINTS", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as installed, open(args[1], encoding="utf-8") as project:
        lines = merge(installed, project)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
