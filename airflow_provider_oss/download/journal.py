"""
A download's range journal (:mod:`airflow_provider_oss.core.journal`): beside the temporary file,
one line per range as soon as its bytes are in the file, so a SIGKILL at any moment loses only the
ranges in flight, whatever the checkpoint store and however long since its last save.

The journal is bound to the download's record (bucket, key, destination, range size, the object's
ETag, size, CRC-64 and Last-Modified) and to the temporary file's identity (device and inode): a
journal of another object version, another plan or another temporary file yields nothing. Its
entries are claims, read back and CRC-checked by :func:`~airflow_provider_oss.download.resume.resume_state`
before any range is reused.
"""

from __future__ import annotations

import os

from airflow_provider_oss.core.journal import Journal, binding_digest, read_journal, remove_journal
from airflow_provider_oss.download.partfile import SUFFIX, PartFile
from airflow_provider_oss.download.record import DownloadCheckpoint

__all__ = ["JOURNAL_SUFFIX", "journal_claims", "journal_path_for", "remove_download_journal", "start_journal"]

#: The suffix of a download's journal (in place of the temporary file's, so the name is no longer).
JOURNAL_SUFFIX = ".ossjournal"


def journal_path_for(temp_path: str) -> str:
    """
    The journal of the temporary file ``temp_path``: the same name with :data:`JOURNAL_SUFFIX`.

    :param temp_path: the temporary file's path.
    """
    stem = temp_path.removesuffix(SUFFIX) if temp_path.endswith(SUFFIX) else temp_path
    return stem + JOURNAL_SUFFIX


def _binding(record: DownloadCheckpoint, partfile: PartFile) -> str:
    info = os.fstat(partfile.fd)
    identity = record.object
    return binding_digest(
        "oss-download",
        record.bucket,
        record.key,
        record.destination,
        record.part_size,
        (identity.size, identity.etag, identity.crc64, identity.last_modified),
        (info.st_dev, info.st_ino),
    )


def journal_claims(record: DownloadCheckpoint, partfile: PartFile) -> dict[int, int]:
    """
    What the journal beside ``partfile`` claims was written for the download ``record`` describes:
    range number -> CRC-64, only ranges of its plan (to be verified against the file's bytes).

    :param record: the earlier try's record, already matched to this download and object version.
    :param partfile: the opened temporary file.
    """
    claims = read_journal(journal_path_for(partfile.path), _binding(record, partfile))
    return {number: crc for number, crc in claims.items() if 1 <= number <= record.part_count}


def start_journal(record: DownloadCheckpoint, partfile: PartFile) -> Journal:
    """
    A new journal beside ``partfile`` for the download ``record`` describes, listing ``record.done``
    (the ranges verified in the file), replacing any earlier journal.

    :param record: this try's record.
    :param partfile: the opened temporary file.
    """
    return Journal.start(journal_path_for(partfile.path), _binding(record, partfile), record.done)


def remove_download_journal(partfile: PartFile) -> None:
    """Delete the journal beside ``partfile``, if any."""
    remove_journal(journal_path_for(partfile.path))
