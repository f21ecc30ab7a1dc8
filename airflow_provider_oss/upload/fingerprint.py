"""
A cheap fingerprint of a source file: its size, its mtime and a SHA-256 over a few sampled windows,
plus what no user can set back: its inode change time (``st_ctime_ns``), inode and device.

It tells a retried try whether the file is still the one the checkpointed upload was made from,
without reading a terabyte: three 64 KiB windows (start, middle, end) are hashed, whatever the size.
The upload itself checks every byte it sends with CRC-64; the fingerprint only guards the resume.

The content fields (size, mtime, sample) decide whether the upload can be continued at all. The
identity fields (ctime, inode, device) decide whether the parts an earlier try stored can be
reused unread: a file rewritten in place whose mtime was put back (``touch -r``, ``os.utime``,
``rsync --inplace --times``) keeps its size, mtime and maybe its sampled windows, but its ctime
moves, and a copy restored from a backup is another inode. When only the identity differs, every
reused part is read and CRC-checked against OSS's (see :meth:`SourceFingerprint.identity_differences`).
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
_CONTENT_FIELDS = ("size", "mtime_ns", "sample")
_IDENTITY_FIELDS = ("ctime_ns", "inode", "device")


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
    :param ctime_ns: the inode change time in nanoseconds (no user can set it back; it moves with any
        write, ``utime``, ``chmod`` or new link), or None in a record written before it was kept.
    :param inode: the inode number, or None in an older record.
    :param device: the device number, or None in an older record.
    """

    size: int
    mtime_ns: int
    sample: str
    ctime_ns: int | None = None
    inode: int | None = None
    device: int | None = None

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
        return cls(
            size=info.st_size,
            mtime_ns=info.st_mtime_ns,
            sample=sample,
            ctime_ns=info.st_ctime_ns,
            inode=info.st_ino,
            device=info.st_dev,
        )

    def differences(self, other: SourceFingerprint) -> list[str]:
        """
        How the content differs from ``other`` (the newer fingerprint): size, mtime or sampled
        bytes, for a log line; empty when they match. A difference means another version of the file.

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

    def identity_differences(self, other: SourceFingerprint, *, ctime_only: bool = False) -> list[str]:
        """
        How the identity differs from ``other`` (the newer fingerprint): ctime, inode or device, for
        a log line; empty when they match. The content may still be the same (a restored backup, a
        file seen from another worker) or not (an in-place rewrite with its mtime put back): a resume
        then reads every part it reuses. A fingerprint without identity (an older record) differs.

        :param other: the fingerprint to compare with.
        :param ctime_only: compare the ctime only (the same file seen from another machine through a
            shared volume has another device and maybe inode number, but the same ctime).
        """
        if self.ctime_ns is None or other.ctime_ns is None:
            return ["no ctime, inode and device recorded (a record from an older version)"]
        changes = []
        if self.ctime_ns != other.ctime_ns:
            changes.append(f"ctime {self.ctime_ns} -> {other.ctime_ns} ns")
        if not ctime_only and self.inode != other.inode:
            changes.append(f"inode {self.inode} -> {other.inode}")
        if not ctime_only and self.device != other.device:
            changes.append(f"device {self.device} -> {other.device}")
        return changes

    def describe_differences(self, other: SourceFingerprint) -> str:
        """:meth:`differences` joined for a message (``"unchanged"`` when none)."""
        return ", ".join(self.differences(other)) or "unchanged"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the identity fields when they are unknown, as older records)."""
        data: dict[str, Any] = {"size": self.size, "mtime_ns": self.mtime_ns, "sample": self.sample}
        if self.ctime_ns is not None:
            data.update(ctime_ns=self.ctime_ns, inode=self.inode, device=self.device)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> SourceFingerprint:
        """
        Rebuild from :meth:`to_dict`'s output, strictly.

        Records written before the identity fields were kept have exactly ``size``, ``mtime_ns`` and
        ``sample``; newer ones also ``ctime_ns``, ``inode`` and ``device``.

        :raises ValueError: for a missing, extra or mistyped field.
        """
        if not isinstance(data, dict):
            raise ValueError("fingerprint must be an object")
        if set(data) not in (set(_CONTENT_FIELDS), set(_CONTENT_FIELDS + _IDENTITY_FIELDS)):
            raise ValueError(
                "fingerprint must have exactly size, mtime_ns, sample (and ctime_ns, inode, device); "
                f"got {sorted(data)}"
            )
        identity = [data.get(name) for name in _IDENTITY_FIELDS]
        if "ctime_ns" in data and any(isinstance(v, bool) or not isinstance(v, int) for v in identity):
            raise ValueError("fingerprint.ctime_ns, inode and device must be ints")
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
        ctime_ns, inode, device = identity
        return cls(size=size, mtime_ns=mtime_ns, sample=sample, ctime_ns=ctime_ns, inode=inode, device=device)
