"""The ``[logging]`` snippet of docs/REMOTE_LOGS.md and the README, as the tests use it."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from tests.package_support import REPO

DOC_PAGE = REPO / "docs" / "REMOTE_LOGS.md"
README = REPO / "README.md"


def documented_logging_settings(path: Path) -> dict[str, str]:
    """The ``[logging]`` settings of the one ``ini`` block of ``path`` that has that section."""
    blocks = re.findall(r"```ini\n(.*?)```", path.read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if b.startswith("[logging]")]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(block)
    return dict(parser["logging"])


def as_airflow_env(settings: dict[str, str]) -> dict[str, str]:
    """``[logging]`` settings as ``AIRFLOW__LOGGING__...`` environment variables."""
    return {f"AIRFLOW__LOGGING__{name.upper()}": value for name, value in settings.items()}
