"""
An append-only journal of ``(number, CRC-64)`` entries bound to one piece of work: a transfer that
writes pieces of a local file records each piece as soon as it is written, so that a process killed
at any moment leaves a record of everything but the pieces in flight.

Not tied to downloads: any transfer that fills numbered pieces of a local file can keep one.

The file is text. Its first line is ``oss-journal 1 <binding>``, where ``<binding>`` is the
SHA-256 of what the journal is about (the caller's description of the work: the object version,
the file's identity, the plan); each later line is ``<number> <crc64> <check>``, ``<check>`` being
the CRC-64 of the binding and the entry, so a line copied from another journal, a torn line (a
crash while the kernel was writing it) or garbage never reads as an entry. A journal whose header is
not the binding the reader expects yields nothing.

What a journal proves is only a claim: the caller must check every entry against the bytes (read
the piece back and compare its CRC-64) before trusting it.

Durability: :meth:`Journal.append` is one ``write`` at the end of the file; once it returns, the entry
survives the death of the process (it is in the kernel), not necessarily a crash of the machine.
:meth:`Journal.sync` (``fdatasync``) makes the entries durable against that too; a caller syncs the
journal only after syncing the pieces it lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping

from airflow_provider_oss.core import crc64 as crc64_mod

__all__ = ["MAX_JOURNAL_BYTES", "Journal", "binding_digest", "read_journal", "remove_journal"]

_MAGIC = "oss-journal 1"
#: A journal larger than this is not read (10,000 entries take under 600 KiB).
MAX_JOURNAL_BYTES = 4 << 20
_CRC_MAX = (1 << 64) - 1


def binding_digest(*facts: object) -> str:
    """The SHA-256 (hex) of the ``repr()`` of each of ``facts``: what a journal is bound to."""
    return hashlib.sha256(
        "\x00".join(repr(fact) for fact in facts).encode("utf-8", "surrogatepass")
    ).hexdigest()


def _check(binding: str, number: int, crc: int) -> int:
    return crc64_mod.crc64(f"{binding} {number} {crc}".encode("ascii"))


def _entry(binding: str, number: int, crc: int) -> bytes:
    return f"{number} {crc} {_check(binding, number, crc)}\n".encode("ascii")


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


def _parse(binding: str, line: str) -> tuple[int, int] | None:
    fields = line.split(" ")
    if len(fields) != 3:
        return None
    number, crc, check = (_number(field) for field in fields)
    if number is None or crc is None or check is None or crc > _CRC_MAX:
        return None
    return (number, crc) if check == _check(binding, number, crc) else None


def _open_own_file(path: str) -> int | None:
    """
    A read-only descriptor of ``path`` when it is a regular file of this user (no link followed; a
    FIFO planted there does not block the open: ``O_NONBLOCK``).
    """
    flags = (
        os.O_RDONLY
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_NONBLOCK", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    info = os.fstat(fd)
    owner_ok = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    if stat.S_ISREG(info.st_mode) and owner_ok and info.st_size <= MAX_JOURNAL_BYTES:
        return fd
    os.close(fd)
    return None


def read_journal(path: str, binding: str) -> dict[int, int]:
    """
    The entries of the journal at ``path`` bound to ``binding``: number -> CRC-64 (the last entry of
    a number wins). Empty when there is no journal, when it is not a regular file of this user, when
    its header is another binding, or when it is too large; lines that do not check out are skipped.

    :param path: the journal file.
    :param binding: what the journal must be bound to (:func:`binding_digest`).
    """
    fd = _open_own_file(path)
    if fd is None:
        return {}
    try:
        raw = os.pread(fd, MAX_JOURNAL_BYTES + 1, 0)
    finally:
        os.close(fd)
    text = raw.decode("ascii", "replace")
    lines = text.split("\n")[:-1]  # the last piece has no newline: empty, or a torn line
    if not lines or lines[0] != f"{_MAGIC} {binding}":
        return {}
    entries: dict[int, int] = {}
    for line in lines[1:]:
        parsed = _parse(binding, line)
        if parsed is not None:
            entries[parsed[0]] = parsed[1]
    return entries


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def remove_journal(path: str) -> None:
    """Remove the journal at ``path``; no error when there is none."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class Journal:
    """
    A journal open for appending, created by :meth:`start`.

    :param path: the journal file.
    :param binding: what it is bound to.
    :param fd: its descriptor, open for writing and positioned at its end (one writer appends).
    """

    def __init__(self, path: str, binding: str, fd: int) -> None:
        self.path = path
        self.binding = binding
        self._fd: int | None = fd

    def __repr__(self) -> str:
        return f"Journal(path={self.path!r})"

    @classmethod
    def start(cls, path: str, binding: str, entries: Mapping[int, int]) -> Journal:
        """
        Replace whatever is at ``path`` with a new journal bound to ``binding`` holding ``entries``:
        written under a fresh name (``O_EXCL``, mode 0600), fsynced, then renamed onto ``path``, so
        a crash leaves either the old journal or the new one, and a file or link planted at
        ``path`` is replaced, never written through.

        :param path: the journal file.
        :param binding: what it is bound to (:func:`binding_digest`).
        :param entries: number -> CRC-64 to carry over (pieces already verified).
        """
        fd, temp = tempfile.mkstemp(prefix=".ossjournal-", dir=os.path.dirname(path) or ".")
        try:
            body = f"{_MAGIC} {binding}\n".encode("ascii")
            body += b"".join(_entry(binding, number, crc) for number, crc in sorted(entries.items()))
            _write_all(fd, body)
            os.fsync(fd)
            os.replace(temp, path)
        except BaseException:
            os.close(fd)
            remove_journal(temp)
            raise
        return cls(path, binding, fd)  # the descriptor written, positioned at its end: no second open

    def append(self, number: int, crc: int) -> None:
        """Record piece ``number`` with CRC-64 ``crc`` (call only once its bytes are written)."""
        if self._fd is not None:
            _write_all(self._fd, _entry(self.binding, number, crc))

    def sync(self) -> None:
        """Make the entries durable against a crash of the machine (``fdatasync``)."""
        if self._fd is not None:
            getattr(os, "fdatasync", os.fsync)(self._fd)

    def close(self) -> None:
        """Close the journal (it stays on disk)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and delete the journal."""
        self.close()
        remove_journal(self.path)
