"""
fsspec's own abstract test suite (copy, get, put, open, pipe) against ``OssFileSystem`` on the
local OSS server, as s3fs runs it against moto.
"""

from __future__ import annotations

from fsspec.tests import abstract

from tests.fs.oss_fixtures import OssFixtures


class TestOssCopy(abstract.AbstractCopyTests, OssFixtures):  # type: ignore[misc]
    pass


class TestOssGet(abstract.AbstractGetTests, OssFixtures):  # type: ignore[misc]
    pass


class TestOssPut(abstract.AbstractPutTests, OssFixtures):  # type: ignore[misc]
    pass


class TestOssPipe(abstract.AbstractPipeTests, OssFixtures):  # type: ignore[misc]
    pass


class TestOssOpen(abstract.AbstractOpenTests, OssFixtures):  # type: ignore[misc]
    pass
