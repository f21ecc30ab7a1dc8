"""
Opening a scanned file of a folder upload so that nothing outside the folder can be read.

:func:`open_in_folder` starts from the folder itself (checked to be the directory the scan listed:
same device and inode) and opens each component of the file's path relative to the directory
before it (``dir_fd``), with ``O_NOFOLLOW``: a directory or a file swapped for a symbolic link
after the scan fails to open (``ELOOP``/``ENOTDIR``) instead of being followed, whatever the link
points to. What is opened must be a regular file. The kernel resolves each step inside the
directory already opened, so no rename or link elsewhere can redirect the walk.

A file reached through a link that the scan followed (``follow_symlinks=True``, a target inside
the folder) is opened by its target's own path inside the folder, the same way; the link is read
again first and must still lead to that target.

A hard link inside the folder is a file of the folder (its inode is in the folder whatever other
names it has), so it is uploaded.

Where ``os.open`` takes no ``dir_fd`` (Windows), the file is opened by its full path with
``O_NOFOLLOW`` where available, and its device and inode are checked against an ``lstat`` of each
component before and after the open.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from airflow_provider_oss.upload.errors import SourceFileError

if TYPE_CHECKING:
    from airflow_provider_oss.upload.folder_scan import FolderFile, FolderScan

__all__ = ["FolderFileOpener", "open_in_folder"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
#: A FIFO swapped in since the scan must fail the type check, not block the open.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_WALKS_BY_FD = os.open in os.supports_dir_fd and bool(_NOFOLLOW and _DIRECTORY)


def _not_followed(relpath: str, where: str) -> SourceFileError:
    return SourceFileError(
        f"{relpath}: {where} became a symbolic link (or something other than a directory) after the scan; "
        "links are never followed out of the folder, so this file was not sent"
    )


def _open_root(scan: FolderScan) -> int:
    fd = os.open(scan.root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    info = os.fstat(fd)
    if scan.root_identity is not None and (info.st_dev, info.st_ino) != scan.root_identity:
        os.close(fd)
        raise SourceFileError(
            f"the folder {scan.root} is no longer the directory that was scanned (it was replaced); nothing "
            "more is sent from it"
        )
    return fd


def open_in_folder(scan: FolderScan, file: FolderFile) -> int:
    """
    Open ``file`` read-only, component by component from the folder, following no link.

    :param scan: the scan that found the file (its folder and the folder's identity).
    :param file: the file.
    :return: a descriptor of the regular file (the caller closes it).
    :raises SourceFileError: a component is now a link or not a directory, the file is now a link
        or not a regular file, or the folder was replaced (naming the file).
    :raises OSError: the file cannot be opened (missing, no permission).
    """
    if file.via_link:
        _check_link_target(scan, file)
    parts = file.source_relpath.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise SourceFileError(f"{file.relpath}: {file.source_relpath!r} is not a path inside the folder")
    if not _WALKS_BY_FD:
        return _open_by_path(scan, file, parts)
    fd = _open_root(scan)
    try:
        for depth, name in enumerate(parts):
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | (_NONBLOCK if last else _DIRECTORY)
            try:
                child = os.open(name, flags, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    where = "the file" if last else f"the directory {'/'.join(parts[: depth + 1])}"
                    raise _not_followed(file.relpath, where) from None
                raise
            os.close(fd)
            fd = child
        _check_regular(fd, file)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_regular(fd: int, file: FolderFile) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise SourceFileError(f"{file.relpath} is no longer a regular file; it was not sent")


def _check_link_target(scan: FolderScan, file: FolderFile) -> None:
    """A followed link must still lead to the target the scan found (else it is not followed)."""
    real_root = os.path.realpath(scan.root)
    target = os.path.realpath(file.path)
    if os.path.relpath(target, real_root).replace(os.sep, "/") != file.source_relpath:
        raise SourceFileError(
            f"{file.relpath}: the symbolic link now leads to {target}, not to what the scan found inside the "
            "folder; it is not followed, so this file was not sent"
        )


def _open_by_path(scan: FolderScan, file: FolderFile, parts: list[str]) -> int:
    """Without ``dir_fd``: ``lstat`` every component, open, and check the file is the one ``lstat`` saw."""
    path = scan.root
    for depth, name in enumerate(parts):
        path = os.path.join(path, name)
        info = os.lstat(path)
        last = depth == len(parts) - 1
        if stat.S_ISLNK(info.st_mode) or not (last or stat.S_ISDIR(info.st_mode)):
            raise _not_followed(
                file.relpath, "the file" if last else f"the directory {'/'.join(parts[: depth + 1])}"
            )
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        _check_regular(fd, file)
        opened = os.fstat(fd)
        again = os.lstat(path)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or not os.path.samestat(
            opened, again
        ):
            raise _not_followed(file.relpath, "the file")
    except BaseException:
        os.close(fd)
        raise
    return fd


class FolderFileOpener:
    """
    Opens one file of a folder upload, always the same one: the first open (:func:`open_in_folder`)
    fixes its device and inode, every later open (each read of the uploader) must give that same
    file, so all the bytes sent for it come from one file inside the folder.

    :param scan: the scan that found the file.
    :param file: the file.
    """

    def __init__(self, scan: FolderScan, file: FolderFile) -> None:
        self.scan = scan
        self.file = file
        self.identity: tuple[int, int] | None = None

    def __call__(self) -> int:
        """A new read-only descriptor of the file (the caller closes it)."""
        fd = open_in_folder(self.scan, self.file)
        info = os.fstat(fd)
        if self.identity is None:
            self.identity = (info.st_dev, info.st_ino)
        elif (info.st_dev, info.st_ino) != self.identity:
            os.close(fd)
            raise SourceFileError(
                f"{self.file.relpath} was replaced by another file while it was being uploaded; it was not "
                "completed"
            )
        return fd
