"""
The temporary file a download writes into: beside the destination (same filesystem, so the final
rename is atomic), named from the destination alone (so a retry finds it), pre-sized to the object
and locked (``flock``) by the one process writing it. Ranges are written at their offsets with
``pwrite``; the file is fsynced and renamed onto the destination only once its CRC-64 is verified.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.download.errors import DestinationError, DownloadInProgressError

__all__ = ["PartFile", "temp_path_for"]

#: The suffix of a download's temporary file.
SUFFIX = ".ossdownload"


def temp_path_for(destination: str) -> str:
    """
    The temporary file of a download to ``destination``: a hidden name in the same directory,
    derived from the absolute destination path only.

    :param destination: the destination file.
    """
    target = os.path.abspath(destination)
    directory, base = os.path.split(target)
    digest = hashlib.sha256(target.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return os.path.join(directory, f".{base[:100]}.{digest}{SUFFIX}")


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
    target = os.path.abspath(os.path.expanduser(destination))
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
        Open (or create) the temporary file and take its lock.

        :return: True when the file existed already (an earlier try's).
        :raises DownloadInProgressError: when another process holds the lock.
        :raises DestinationError: when the file cannot be created.
        """
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        for _ in range(10):
            existed = os.path.lexists(self.path)
            try:
                fd = os.open(self.path, flags, 0o600)
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise DestinationError(
                        f"{self.path} (the download's temporary file) is a symbolic link; remove it."
                    ) from None
                raise DestinationError(
                    f"Cannot create the temporary file {self.path}: {err.strerror}. Check that the destination "
                    "directory is writable."
                ) from None
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
                same = os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return existed
            os.close(fd)
        raise DownloadInProgressError(
            f"{self.path} keeps being replaced by another process; try again later."
        )

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
