"""
``OssPath``: the universal_pathlib class for ``oss://`` (a bucket is the anchor, as in ``s3://``).

universal_pathlib parses paths with a "flavour" taken from the protocol's fsspec class when that
class is imported, else from a table generated from ossfs (whose paths read ``/bucket/key``); and
it decides per protocol name whether the netloc (the bucket) anchors a path, from a table naming
s3, gs, az... but not oss. Importing this module (universal_pathlib does, through the
``universal_pathlib.implementations`` entry point, before it builds any ``oss://`` path) registers
our filesystem class with fsspec and adds ``oss`` to that table.
"""

from __future__ import annotations

import logging

import fsspec
from upath.implementations.cloud import CloudPath

from airflow_provider_oss.fs.filesystem import OssFileSystem

log = logging.getLogger(__name__)

fsspec.register_implementation("oss", OssFileSystem, clobber=True)
try:  # a private table of universal_pathlib (0.2-0.3): say so if a release moves it
    from upath._flavour import WrappedFileSystemFlavour

    WrappedFileSystemFlavour.protocol_config["netloc_is_anchor"].add("oss")
    WrappedFileSystemFlavour.from_protocol.cache_clear()
except (ImportError, AttributeError, KeyError) as err:  # pragma: no cover - depends on the release
    log.warning("oss:// paths may parse as /bucket/key: universal_pathlib's flavour table moved (%s).", err)


class OssPath(CloudPath):
    """A path in an OSS bucket: ``oss://bucket/key``; registered for the ``oss`` protocol."""

    __slots__ = ()
