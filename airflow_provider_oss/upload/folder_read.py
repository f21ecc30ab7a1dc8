"""
Reading a small file of a folder upload whole, once, with proof that it did not change meanwhile:
the buffer read is the buffer CRC-64'd and sent, so the object is exactly one state of the file.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from airflow_provider_oss.upload.errors import SourceChangedError

if TYPE_CHECKING:
    from airflow_provider_oss.upload.folder_scan import FolderFile

__all__ = ["read_small_file"]


def read_small_file(file: FolderFile, threshold: int) -> bytearray | None:
    """
    Read a small file whole, proving it did not change during the read (``fstat`` before and after:
    same size and modification time, and exactly that many bytes read).

    :return: the bytes, or None when the file is now at or above ``threshold`` (upload it in parts).
    :raises SourceChangedError: the file changed while it was read.
    :raises OSError: the file cannot be opened or read (named in the message).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not file.via_link:
        flags |= getattr(os, "O_NOFOLLOW", 0)  # a file swapped for a link since the scan is not followed
    try:
        fd = os.open(file.path, flags)  # O_NONBLOCK: a FIFO swapped in since the scan must not block
    except OSError:
        if os.path.islink(file.path) and not file.via_link:
            raise OSError(f"{file.path} became a symbolic link after the scan; it is not followed") from None
        raise
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise OSError(f"{file.path} is no longer a regular file")
        if before.st_size >= threshold:
            return None
        buffer = bytearray(before.st_size + 1)  # one byte more, to see a file that grew
        read = _read_into(fd, buffer)
        after = os.fstat(fd)
    finally:
        os.close(fd)
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
