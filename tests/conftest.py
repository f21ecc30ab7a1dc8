"""Shared fixtures: the local OSS server (real HTTP on 127.0.0.1, a free port) and a client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.testing import LocalOssServer
from tests.upload_support import make_client


@pytest.fixture
def oss_server() -> Iterator[LocalOssServer]:
    """A fresh local OSS server with the bucket ``test-bucket``, for one test."""
    with LocalOssServer(buckets=("test-bucket",)) as server:
        yield server


@pytest.fixture(scope="module")
def oss_server_module() -> Iterator[LocalOssServer]:
    """A local OSS server with the bucket ``test-bucket``, shared by the tests of a module."""
    with LocalOssServer(buckets=("test-bucket",)) as server:
        yield server


@pytest.fixture
def oss_client(oss_server: LocalOssServer) -> Iterator[OssClient]:
    """A client of :func:`oss_server` (``tests.upload_support.make_client``), closed after the test."""
    with make_client(oss_server) as client:
        yield client
