"""
The temporary file a download writes into: beside the destination (same filesystem, so the final
rename is atomic), named from the destination alone (so a retry finds it), pre-sized to the object
and locked (``flock``) by the one process writing it. Ranges are written at their offsets with
``pwrite``; the file is fsynced and renamed onto the destination only once its CRC-64 is verified.

The temporary file is never someone else's. A new one is created with ``O_CREAT | O_EXCL |
O_NOFOLLOW`` (mode 0600), so it is this process's own new inode. One found at the name is resumed
only when it is a regular file owned by this process's user, with one link, not writable by group
or others; anything else that is a regular file (planted by another user who can write to the
directory, a hard link to another file) is left alone, logged, and the download uses the next
name of a fixed sequence (``.<name>.<hash>.1.ossdownload``, ``.2`` ...) that a retry walks the same
way. A symbolic link, a FIFO, a socket, a device or a directory at the name is a
:class:`DestinationError` naming it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import stat

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.download.errors import DestinationError, DownloadInProgressError

__all__ = ["PartFile", "temp_path_for"]

log = logging.getLogger(__name__)

#: The suffix of a download's temporary file.
SUFFIX = ".ossdownload"
#: The destination's name is cut to this many bytes (whole characters) in the temporary name, which
#: then stays far below the 255-byte NAME_MAX of common filesystems.
NAME_BYTES = 100
#: How many temporary names (the first, then fresh ones) a download tries before giving up.
TEMP_NAMES = 8
#: A file name's bytes at most where ``pathconf`` cannot tell.
DEFAULT_NAME_MAX = 255


def _cut(name: str, limit: int) -> str:
    """``name`` cut to whole characters whose file-system bytes fit in ``limit``."""
    size = 0
    for index, char in enumerate(name):
        size += len(os.fsencode(char))
        if size > limit:
            return name[:index]
    return name


def temp_path_for(destination: str, attempt: int = 0) -> str:
    """
    The temporary file of a download to ``destination``: a hidden name in the same directory,
    derived from the absolute destination path only (its name cut to ``NAME_BYTES`` bytes).

    :param destination: the destination file.
    :param attempt: 0 for the first name; 1, 2 ... for the fresh names used when a file that is not
        this process's own holds the earlier ones.
    """
    target = os.path.abspath(destination)
    directory, base = os.path.split(target)
    digest = hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    fresh = f".{attempt}" if attempt else ""
    return os.path.join(directory, f".{_cut(base, NAME_BYTES)}.{digest}{fresh}{SUFFIX}")


def _not_own(info: os.stat_result) -> str:
    """Why a file found at the temporary name may not be resumed ("" when it may)."""
    if info.st_uid != os.geteuid():
        return f"it is owned by uid {info.st_uid}, not by this process's uid {os.geteuid()}"
    if info.st_nlink != 1:
        return f"it has {info.st_nlink} hard links (writing it would change another file)"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return ""


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_destination(destination: str) -> str:
    """
    Check that ``destination`` can be written and return its absolute path.

    :raises DestinationError: naming the problem: an empty path, a directory, a missing or
        non-directory parent, or a parent this process cannot write.
    """
    if not destination:
        raise DestinationError("The download destination is an empty path: give the local file to write.")
    given = os.path.expanduser(destination)
    if given.endswith(tuple(s for s in (os.sep, os.altsep) if s)) or os.path.basename(given) in (".", ".."):
        raise DestinationError(
            f"Cannot download to {destination!r}: it ends with {given[-1]!r}, so it names a directory; give "
            f"the file's path (such as {os.path.join(given, 'data.bin')!r})."
        )
    target = os.path.abspath(given)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise DestinationError(f"Cannot download to {target!r}: it is a directory; give a file path.")
    if not os.path.isdir(directory):
        raise DestinationError(
            f"Cannot download to {target!r}: the directory {directory!r} does not exist (or is not a "
            "directory). Create it first."
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DestinationError(
            f"Cannot download to {target!r}: the directory {directory!r} is not writable by this process "
            f"(uid {os.geteuid()}). Fix its permissions or choose another destination."
        )
    name_bytes = len(os.fsencode(os.path.basename(target)))
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = DEFAULT_NAME_MAX
    if name_bytes > name_max:
        raise DestinationError(
            f"Cannot download to {target!r}: its file name is {name_bytes} bytes, over the {name_max} bytes "
            "a name may have in that directory. Choose a shorter name."
        )
    return target


class PartFile:
    """
    The locked temporary file of one download.

    :param destination: the absolute destination path (see :func:`check_destination`).
    """

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.path = temp_path_for(destination)
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"PartFile(path={self.path!r})"

    @property
    def fd(self) -> int:
        """The open file descriptor (after :meth:`open`)."""
        if self._fd is None:
            raise RuntimeError("PartFile is not open")
        return self._fd

    def open(self) -> bool:
        """
        Open this process's own temporary file (an earlier try's, or a new one) and take its lock;
        a file at a name that is not this process's own is left alone (logged) and the next name
        of the sequence is used (:attr:`path` is the one opened).

        :return: True when the file existed already (an earlier try's).
        :raises DownloadInProgressError: when another process holds the lock.
        :raises DestinationError: when the file cannot be created, or a link, FIFO, socket, device
            or directory is at its name, or every name of the sequence is taken.
        """
        for attempt in range(TEMP_NAMES):
            path = temp_path_for(self.destination, attempt)
            existed = self._open_own(path)
            if existed is not None:
                self.path = path
                return existed
        raise DestinationError(
            f"Cannot download to {self.destination}: the {TEMP_NAMES} temporary names beside it "
            f"({temp_path_for(self.destination)} and the numbered ones after it) all hold files this process "
            "may not use (see the warnings above). Remove them, or choose another destination."
        )

    def _create_or_open(self, path: str) -> tuple[int, bool] | None:
        """
        A new temporary file at ``path`` (``O_EXCL``), or the existing one when it is this process's
        own: ``(descriptor, existed)``; None when the file there is not (left alone, logged).
        """
        base = os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        for _ in range(10):
            try:
                return os.open(path, base | os.O_CREAT | os.O_EXCL, 0o600), False
            except FileExistsError:
                pass
            except OSError as err:
                raise DestinationError(
                    f"Cannot create the temporary file {path}: {err.strerror}. Check that the destination "
                    "directory is writable."
                ) from None
            try:
                found = os.lstat(path)
            except FileNotFoundError:
                continue  # removed meanwhile: create it
            self._check_kind(path, found)
            why = _not_own(found)
            if why:
                log.warning(
                    "%s is not this download's own temporary file (%s): left alone; using a fresh temporary name.",
                    path,
                    why,
                )
                return None
            try:
                fd = os.open(path, base | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO swapped in must not block
            except FileNotFoundError:
                continue
            except OSError as err:
                if err.errno == errno.ELOOP:
                    continue  # swapped for a link meanwhile: look again
                raise DestinationError(f"Cannot open the temporary file {path}: {err.strerror}.") from None
            now = os.fstat(fd)
            if os.path.samestat(now, found) and not _not_own(now):
                return fd, True
            os.close(fd)  # replaced or changed between the lstat and the open: look again
        raise DownloadInProgressError(f"{path} keeps being replaced by another process; try again later.")

    @staticmethod
    def _check_kind(path: str, info: os.stat_result) -> None:
        if stat.S_ISLNK(info.st_mode):
            raise DestinationError(f"{path} (the download's temporary file) is a symbolic link; remove it.")
        if not stat.S_ISREG(info.st_mode):
            raise DestinationError(
                f"{path} (the download's temporary file) is not a regular file (a FIFO, socket, device or "
                "directory); remove it."
            )

    def _open_own(self, path: str) -> bool | None:
        """Open and lock the temporary file at ``path``: whether it existed, or None (not ours)."""
        for _ in range(10):
            opened = self._create_or_open(path)
            if opened is None:
                return None
            fd, existed = opened
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    raise DownloadInProgressError(
                        f"Another process is downloading to {self.destination} (it holds the lock of {self.path}). "
                        "Wait for it to finish, or stop it, then try again."
                    ) from None
                raise
            # The holder we waited for may have renamed or removed the file: lock the file at the path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return existed
            os.close(fd)
        raise DownloadInProgressError(f"{path} keeps being replaced by another process; try again later.")

    def size(self) -> int:
        """The file's current size."""
        return os.fstat(self.fd).st_size

    def reset(self, size: int) -> None:
        """Empty the file and pre-size it to ``size`` bytes (sparse where the filesystem allows)."""
        os.ftruncate(self.fd, 0)
        os.ftruncate(self.fd, size)

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data`` at ``offset``."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, offset)
            view = view[written:]
            offset += written

    def crc_of(self, offset: int, length: int) -> int | None:
        """
        The CRC-64 of ``length`` bytes from ``offset`` as they are in the file (None when the file
        ends before them).
        """
        return crc64_mod.crc64_of_fd(self.fd, offset, length)

    def flush(self) -> None:
        """Make what was written durable (fsync)."""
        os.fsync(self.fd)

    def commit(self) -> None:
        """fsync the file, rename it onto the destination (atomically) and fsync the directory."""
        os.fsync(self.fd)
        os.replace(self.path, self.destination)
        _fsync_dir(os.path.dirname(self.destination))
        self.close()

    def discard(self) -> None:
        """Remove the temporary file (while still holding its lock) and close it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.close()

    def close(self) -> None:
        """Close the file, releasing the lock (the file stays for a retry)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
