"""
Reading a small file of a folder upload whole, once, with proof that it did not change meanwhile:
the buffer read is the buffer CRC-64'd and sent, so the object is exactly one state of the file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow_provider_oss.upload.errors import SourceChangedError

if TYPE_CHECKING:
    from airflow_provider_oss.upload.folder_scan import FolderFile

__all__ = ["read_small_file"]


def read_small_file(file: FolderFile, fd: int, threshold: int) -> bytearray | None:
    """
    Read a small file whole from ``fd``, proving it did not change during the read (``fstat``
    before and after: same size and modification time, and exactly that many bytes read).

    :param file: the file (for messages).
    :param fd: its descriptor, opened inside the folder
        (:func:`~airflow_provider_oss.upload.folder_open.open_in_folder`); the caller closes it.
    :param threshold: the multipart threshold.
    :return: the bytes, or None when the file is now at or above ``threshold`` (upload it in parts).
    :raises SourceChangedError: the file changed while it was read.
    :raises OSError: the file cannot be read.
    """
    before = os.fstat(fd)
    if before.st_size >= threshold:
        return None
    buffer = bytearray(before.st_size + 1)  # one byte more, to see a file that grew
    read = _read_into(fd, buffer)
    after = os.fstat(fd)
    changes = []
    if read != before.st_size:
        changes.append(f"read {read} bytes of {before.st_size}")
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        changes.append(
            f"size {before.st_size} -> {after.st_size}, mtime {before.st_mtime_ns} -> {after.st_mtime_ns}"
        )
    if changes:
        raise SourceChangedError(
            f"{file.path} changed while it was read ({'; '.join(changes)}); nothing was sent for it. Make sure "
            "nothing writes to the folder during the upload, then retry.",
            upload_id=None,
            changes=changes,
        )
    del buffer[before.st_size :]
    return buffer


def _read_into(fd: int, buffer: bytearray) -> int:
    """Read from ``fd`` until ``buffer`` is full or the file ends; return the bytes read."""
    view = memoryview(buffer)
    read = 0
    try:
        while read < len(buffer):
            n = os.readv(fd, [view[read:]])
            if n == 0:
                break
            read += n
    finally:
        view.release()  # so that the buffer can shrink
    return read
