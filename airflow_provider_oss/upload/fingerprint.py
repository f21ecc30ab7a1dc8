"""
A cheap fingerprint of a source file: its size, its mtime and a SHA-256 over a few sampled windows.

It tells a retried try whether the file is still the one the checkpointed upload was made from,
without reading a terabyte: three 64 KiB windows (start, middle, end) are hashed, whatever the size.
The upload itself checks every byte it sends with CRC-64; the fingerprint only guards the resume.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Any

from airflow_provider_oss.upload.errors import SourceFileError

#: Bytes hashed in each sampled window.
SAMPLE_WINDOW = 64 * 1024
_SAMPLE_VERSION = b"oss-fingerprint-v1"


def sample_windows(size: int, window: int = SAMPLE_WINDOW) -> list[tuple[int, int]]:
    """
    The ``(offset, length)`` windows sampled from a file of ``size`` bytes: its start, middle and end
    (fewer, without overlap, for a small file; a file up to three windows long is hashed whole).

    :param size: the file size.
    :param window: the window length.
    """
    if size <= 3 * window:
        return [(0, size)] if size else []
    middle = size // 2 - window // 2
    return [(0, window), (middle, window), (size - window, window)]


def _read_exact(fd: int, offset: int, length: int) -> bytes:
    chunks = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(chunks)


def _sample_hash(fd: int, size: int) -> str:
    digest = hashlib.sha256(_SAMPLE_VERSION)
    digest.update(size.to_bytes(8, "big"))
    for offset, length in sample_windows(size):
        data = _read_exact(fd, offset, length)
        digest.update(offset.to_bytes(8, "big") + len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _not_regular(path: str | os.PathLike[str], mode: int) -> SourceFileError:
    return SourceFileError(
        f"The source {os.fspath(path)!r} is not a regular file ({_file_kind(mode)}): give the path of a "
        "file whose size is known (copy a stream to a file first)."
    )


def _file_kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


@dataclass(frozen=True)
class SourceFingerprint:
    """
    What identifies the content of a source file, cheaply.

    :param size: the size in bytes.
    :param mtime_ns: the modification time in nanoseconds since the epoch.
    :param sample: hex SHA-256 over the size and the sampled windows (see :func:`sample_windows`).
    """

    size: int
    mtime_ns: int
    sample: str

    @classmethod
    def of_file(cls, path: str | os.PathLike[str]) -> SourceFingerprint:
        """
        Fingerprint a file.

        :param path: the file.
        :raises SourceFileError: when it is missing, not a regular file, or unreadable.
        """
        try:
            # The type first: opening a FIFO would wait for a writer forever, a socket cannot be
            # opened at all. O_NONBLOCK covers a path swapped meanwhile (fstat below checks again).
            kind = os.stat(path).st_mode
            if not stat.S_ISREG(kind):
                raise _not_regular(path, kind)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise SourceFileError(f"The source file {os.fspath(path)!r} does not exist.") from None
        except OSError as err:
            raise SourceFileError(
                f"The source file {os.fspath(path)!r} cannot be opened: {err.strerror or err}."
            ) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(path, info.st_mode)
            sample = _sample_hash(fd, info.st_size)
        finally:
            os.close(fd)
        return cls(size=info.st_size, mtime_ns=info.st_mtime_ns, sample=sample)

    def differences(self, other: SourceFingerprint) -> list[str]:
        """
        What differs from ``other`` (the newer fingerprint), for a log line; empty when they match.

        :param other: the fingerprint to compare with.
        """
        changes = []
        if self.size != other.size:
            changes.append(f"size {self.size} -> {other.size} bytes")
        if self.mtime_ns != other.mtime_ns:
            changes.append(f"mtime {self.mtime_ns} -> {other.mtime_ns} ns")
        if self.sample != other.sample:
            changes.append("sampled content differs")
        return changes

    def describe_differences(self, other: SourceFingerprint) -> str:
        """:meth:`differences` joined for a message (``"unchanged"`` when none)."""
        return ", ".join(self.differences(other)) or "unchanged"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"size": self.size, "mtime_ns": self.mtime_ns, "sample": self.sample}

    @classmethod
    def from_dict(cls, data: Any) -> SourceFingerprint:
        """
        Rebuild from :meth:`to_dict`'s output, strictly.

        :raises ValueError: for a missing, extra or mistyped field.
        """
        if not isinstance(data, dict):
            raise ValueError("fingerprint must be an object")
        if set(data) != {"size", "mtime_ns", "sample"}:
            raise ValueError(f"fingerprint must have exactly size, mtime_ns, sample; got {sorted(data)}")
        size, mtime_ns, sample = data["size"], data["mtime_ns"], data["sample"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("fingerprint.size must be a non-negative int")
        if isinstance(mtime_ns, bool) or not isinstance(mtime_ns, int):
            raise ValueError("fingerprint.mtime_ns must be an int")
        if (
            not isinstance(sample, str)
            or len(sample) != 64
            or any(c not in "0123456789abcdef" for c in sample)
        ):
            raise ValueError("fingerprint.sample must be 64 lower-case hex digits")
        return cls(size=size, mtime_ns=mtime_ns, sample=sample)
