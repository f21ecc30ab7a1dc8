"""
fsspec's abstract-test fixtures for :class:`~airflow_provider_oss.fs.filesystem.OssFileSystem`, wired
the way s3fs wires its own: a fresh local OSS server per test, the bucket as the test path, and
no empty directories (OSS has none).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fsspec.tests.abstract import AbstractFixtures

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.fs.filesystem import OssFileSystem

BUCKET = "test-bucket"


class OssFixtures(AbstractFixtures):  # type: ignore[misc]  # fsspec ships no type hints
    """The ``fs`` and ``fs_path`` fixtures that fsspec's abstract tests ask a filesystem for."""

    @pytest.fixture
    def fs(self, oss_client: OssClient) -> Iterator[OssFileSystem]:
        yield OssFileSystem(oss_client)

    @pytest.fixture
    def fs_path(self) -> str:
        return BUCKET

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False
