"""
What an earlier try left that this one may reuse: the checkpoint is trusted only when it is a valid
record of this very download, of the same object version (ETag, size, CRC-64, Last-Modified), and the
temporary file still has the object's size; then every range it lists, and every range the journal
beside the temporary file lists (:mod:`~airflow_provider_oss.download.journal`: ranges written since
the record's last save), is read back from the temporary file and reused only when its CRC-64 is one
recorded for it. Anything else starts over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oss.download.journal import journal_claims
from airflow_provider_oss.download.partfile import PartFile
from airflow_provider_oss.download.record import DownloadCheckpoint, ObjectIdentity
from airflow_provider_oss.download.store import DownloadCheckpointStore
from airflow_provider_oss.upload.errors import CheckpointCorruptError

__all__ = ["ResumeState", "resume_state"]


@dataclass
class ResumeState:
    """
    :param record: the earlier try's record, when it can be continued (else None: start over).
    :param reused: range number -> CRC-64 of the ranges verified in the temporary file.
    :param dropped: ranges the record or the journal listed whose bytes in the file did not match.
    :param journaled: ranges reused on the journal's word alone (written after the record's last save).
    :param reason: why the record was not continued (empty when it was, or when there was none).
    """

    record: DownloadCheckpoint | None = None
    reused: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    journaled: int = 0
    reason: str = ""


def _load(
    store: DownloadCheckpointStore, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> tuple[DownloadCheckpoint | None, str]:
    try:
        return store.load(), ""
    except CheckpointCorruptError as err:
        logger.warning(
            "The download checkpoint in %s cannot be trusted (%s): starting over.", store.describe(), err
        )
        return None, f"the checkpoint is corrupt ({err})"


def _verified(claims: dict[int, set[int]], record: DownloadCheckpoint, partfile: PartFile) -> dict[int, int]:
    """The claimed ranges whose bytes in ``partfile`` read back with a CRC-64 claimed for them."""
    reused: dict[int, int] = {}
    for number, crcs in sorted(claims.items()):
        offset = (number - 1) * record.part_size
        length = min(record.part_size, record.object.size - offset)
        crc = partfile.crc_of(offset, length)
        if crc is not None and crc in crcs:
            reused[number] = crc
    return reused


def resume_state(
    store: DownloadCheckpointStore | None,
    partfile: PartFile,
    *,
    bucket: str,
    key: str,
    destination: str,
    identity: ObjectIdentity,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> ResumeState:
    """
    Decide what of an earlier try this one continues.

    :param store: the checkpoint store (None: nothing is continued).
    :param partfile: the opened, locked temporary file.
    :param bucket: the bucket.
    :param key: the object key.
    :param destination: the absolute destination path.
    :param identity: the object version HeadObject reports now.
    :param logger: where to say why an earlier try is not continued.
    """
    if store is None:
        return ResumeState()
    record, reason = _load(store, logger)
    if record is None:
        return ResumeState(reason=reason)
    if (record.bucket, record.key, record.destination) != (bucket, key, destination):
        reason = f"the checkpoint is of another download (oss://{record.bucket}/{record.key} to {record.destination})"
    elif differences := record.object.differences(identity):
        reason = f"the object changed since the earlier try ({'; '.join(differences)})"
    elif (size := partfile.size()) != identity.size:
        reason = (
            f"the temporary file {partfile.path} has {size} bytes instead of the object's {identity.size}"
        )
    if reason:
        logger.warning("Not continuing the earlier download: %s. Starting over.", reason)
        return ResumeState(reason=reason)
    claims: dict[int, set[int]] = {number: {crc} for number, crc in record.done.items()}
    for number, crc in journal_claims(record, partfile).items():
        claims.setdefault(number, set()).add(crc)
    reused = _verified(claims, record, partfile)
    dropped = len(claims) - len(reused)
    if dropped:
        logger.warning(
            "%d range(s) the checkpoint or its journal lists do not have their recorded CRC-64 in %s: "
            "downloading them again.",
            dropped,
            partfile.path,
        )
    journaled = len(set(reused) - set(record.done))
    return ResumeState(record=record, reused=reused, dropped=dropped, journaled=journaled)
