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

import fsspec
from upath._flavour import WrappedFileSystemFlavour
from upath.implementations.cloud import CloudPath

from airflow_provider_oss.fs.filesystem import OssFileSystem

fsspec.register_implementation("oss", OssFileSystem, clobber=True)
WrappedFileSystemFlavour.protocol_config["netloc_is_anchor"].add("oss")
WrappedFileSystemFlavour.from_protocol.cache_clear()


class OssPath(CloudPath):
    """A path in an OSS bucket: ``oss://bucket/key``; registered for the ``oss`` protocol."""

    __slots__ = ()
