"""
Whether an earlier try already finished the download: it renamed its verified temporary file onto
the destination, then was killed before deleting its checkpoint.

The destination is taken as the finished download only when all of these hold, else the download
starts over (nothing is trusted on a name or a size alone):

- the checkpoint is a valid record of this very download (bucket, key, destination) and lists every
  range of its plan, their CRC-64s combining to the object's CRC-64 it recorded;
- HeadObject now reports that same object version (size, ETag, CRC-64, Last-Modified);
- the destination is a regular file of the object's size whose bytes, read back, have that CRC-64.

Reading the destination back costs a local read and no transfer. An object without a CRC-64
(``require_crc64=false``) cannot be proven this way and is downloaded again.
"""

from __future__ import annotations

import logging
import os
import stat
from typing import Any

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.download.record import DownloadCheckpoint, ObjectIdentity
from airflow_provider_oss.download.store import DownloadCheckpointStore
from airflow_provider_oss.upload.errors import CheckpointCorruptError
from airflow_provider_oss.upload.plan import plan_parts

__all__ = ["file_crc64", "finished_earlier"]


def file_crc64(path: str, size: int) -> int | None:
    """
    The CRC-64 of the regular file at ``path`` when it has exactly ``size`` bytes (None otherwise:
    missing, not a regular file, a symbolic link, or another size).

    :param path: the file.
    :param size: the size it must have.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return None
        crc = crc64_mod.crc64_of_fd(fd, 0, size)
        return crc if crc is not None and not os.pread(fd, 1, size) else None
    finally:
        os.close(fd)


def _complete_record(
    store: DownloadCheckpointStore | None, names: tuple[str, str, str], identity: ObjectIdentity
) -> DownloadCheckpoint | None:
    """The record of this download of ``identity`` listing every range, their CRC-64s combining to its."""
    if store is None or identity.crc64 is None:
        return None
    try:
        record = store.load()
    except CheckpointCorruptError:
        return None  # resume_state reports it
    if (
        record is None
        or (record.bucket, record.key, record.destination) != names
        or record.object != identity
    ):
        return None
    plan = plan_parts(identity.size, record.part_size)
    if set(record.done) != set(range(1, plan.part_count + 1)):
        return None
    combined = crc64_mod.combine_all([(record.done[part.number], part.size) for part in plan])
    return record if combined == identity.crc64 else None


def finished_earlier(
    store: DownloadCheckpointStore | None,
    *,
    bucket: str,
    key: str,
    destination: str,
    identity: ObjectIdentity,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> DownloadCheckpoint | None:
    """
    The earlier try's record when the destination already is its verified download of the object
    version ``identity`` (see the module's rules); None otherwise (nothing is changed).

    :param store: the checkpoint store (None: no earlier try can be recognised).
    :param bucket: the bucket.
    :param key: the object key.
    :param destination: the absolute destination path.
    :param identity: the object version HeadObject reports now.
    :param logger: where to say why a complete record's destination is not accepted.
    """
    record = _complete_record(store, (bucket, key, destination), identity)
    if record is None:
        return None
    on_disk = file_crc64(destination, identity.size)
    if on_disk != identity.crc64:
        logger.warning(
            "The checkpoint says the download of oss://%s/%s to %s was complete, but %s: downloading again.",
            bucket,
            key,
            destination,
            "the destination is missing or not of the object's size"
            if on_disk is None
            else f"the destination's CRC-64 is {on_disk}, not the object's {identity.crc64}",
        )
        return None
    return record
