"""
:class:`SourceGuard`: the checks that the source file did not change while it was being uploaded.

A quick check (``stat``: same inode, size, modification time and inode change time) runs after
every part that was read; a full one (the fingerprint, with sampled bytes and identity) runs before
completing. A change raises :class:`SourceChangedError`, so no object mixes old and new bytes: a
writer who rewrites the file in place and puts its mtime back still moves its ctime.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from airflow_provider_oss.upload.errors import SourceChangedError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.reader import PartReader


class SourceGuard:
    """
    Checks one source file against the fingerprint taken when the run started.

    :param filename: the absolute path of the source file.
    :param fingerprint: its fingerprint when the run started, on this machine (its ctime is compared
        when it has one).
    :param target: ``oss://bucket/key``, for messages.
    :param kept: what happens to the upload when the file changed, for messages.
    :param opener: opens the file and returns a read-only descriptor (None: open ``filename``).
    """

    def __init__(
        self,
        filename: str,
        fingerprint: SourceFingerprint,
        target: str,
        kept: str,
        opener: Callable[[], int] | None = None,
    ) -> None:
        self.filename = filename
        self.fingerprint = fingerprint
        self.target = target
        self.kept = kept
        self.opener = opener

    def open(self) -> PartReader:
        """The reader of the file, the one thing the upload reads the bytes it sends through."""
        return PartReader(self.filename, None if self.opener is None else self.opener())

    def changed(self, changes: list[str], upload_id: str | None) -> SourceChangedError:
        """The error for ``changes`` found during upload ``upload_id``."""
        return SourceChangedError(
            f"{self.filename} changed while it was being uploaded to {self.target} ({', '.join(changes)}); "
            f"upload ID {upload_id} was not completed, so no object mixes old and new bytes ({self.kept}). "
            "Make sure nothing writes to the file during the upload.",
            upload_id=upload_id,
            changes=changes,
        )

    def check_quick(self, reader: PartReader, upload_id: str | None, extra: Iterable[str] = ()) -> None:
        """
        ``stat`` the path: same file (inode, device), size, modification time and inode change time
        as at the start.

        :param reader: the open file (its ``fstat`` tells whether the path now names another file).
        :param upload_id: the upload, for the message.
        :param extra: changes already found (a short read).
        :raises SourceChangedError: anything differs.
        """
        changes = list(extra)
        try:
            now = os.stat(self.filename)
        except OSError as err:
            changes.append(f"the path cannot be read any more ({err.strerror or err})")
        else:
            opened = reader.stat()
            if (now.st_ino, now.st_dev) != (opened.st_ino, opened.st_dev):
                changes.append("the path now names another file")
            if now.st_size != self.fingerprint.size:
                changes.append(f"size {self.fingerprint.size} -> {now.st_size} bytes")
            if now.st_mtime_ns != self.fingerprint.mtime_ns:
                changes.append(f"mtime {self.fingerprint.mtime_ns} -> {now.st_mtime_ns} ns")
            if self.fingerprint.ctime_ns is not None and now.st_ctime_ns != self.fingerprint.ctime_ns:
                changes.append(f"ctime {self.fingerprint.ctime_ns} -> {now.st_ctime_ns} ns")
        if changes:
            raise self.changed(changes, upload_id)

    def check_full(self, reader: PartReader, upload_id: str | None) -> None:
        """:meth:`check_quick`, then the whole fingerprint (sampled bytes and identity included)."""
        self.check_quick(reader, upload_id)
        now = SourceFingerprint.of_file(self.filename)
        changes = self.fingerprint.differences(now)
        if self.fingerprint.ctime_ns is not None:
            changes += self.fingerprint.identity_differences(now)
        if changes:
            raise self.changed(changes, upload_id)
