"""
Finding this task's own in-progress upload in OSS when no usable record names it: a discovering
retry (``checkpoint="discover"``), or a retry whose checkpoint record is damaged.

OSS lists every in-progress upload of a key (ListMultipartUploads), including other writers' ones.
An upload is adopted only when it *proves* to hold this file: it has at least one part, and every
part it lists is in this run's plan, of the planned size, with a CRC-64 equal to the local bytes at
that offset. Another writer's upload (another file, another part size) fails the proof and is left
alone: it is never adopted and never aborted, and it is named in the result (a try killed between
InitiateMultipartUpload and its first stored part leaves such an upload, with no part to prove whose
it is). The CRC-64s proven here are handed to the resume as confirmed, so the listed parts are not
read twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.errors import OssError
from airflow_provider_oss.upload.checkpoint import Checkpoint
from airflow_provider_oss.upload.reader import PartReader

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import MultipartUploadInfo, PartInfo
    from airflow_provider_oss.upload.api import UploadAPI
    from airflow_provider_oss.upload.fingerprint import SourceFingerprint
    from airflow_provider_oss.upload.plan import PartPlan

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


@dataclass(frozen=True)
class AdoptedUpload:
    """
    An in-progress upload proven to hold this file's bytes.

    :param upload_id: the upload ID.
    :param proven_parts: part number -> CRC-64 of every part it lists (each equal to the local bytes).
    :param initiated: when OSS says the upload began (ISO-8601), or None.
    """

    upload_id: str
    proven_parts: dict[int, int]
    initiated: str | None

    def checkpoint(
        self,
        bucket: str,
        key: str,
        filename: str,
        plan: PartPlan,
        fingerprint: SourceFingerprint,
        *,
        options_digest: str | None = None,
    ) -> Checkpoint:
        """The checkpoint of this upload for ``filename``, with the proven parts as confirmed."""
        return Checkpoint(
            bucket=bucket,
            key=key,
            upload_id=self.upload_id,
            part_size=plan.part_size,
            file_size=plan.file_size,
            fingerprint=fingerprint,
            source_path=filename,
            options_digest=options_digest,
            confirmed_parts=self.proven_parts,
        )


@dataclass(frozen=True)
class LeftUpload:
    """
    An in-progress upload of the key that this run did not adopt and left alone (never aborted).

    :param upload_id: the upload ID.
    :param why: why it was not adopted, for the log.
    """

    upload_id: str
    why: str


@dataclass(frozen=True)
class Discovery:
    """
    What a look at the key's in-progress uploads found.

    :param adopted: the upload proven to hold this file, or None.
    :param left: every other in-progress upload of the key, left alone.
    """

    adopted: AdoptedUpload | None
    left: tuple[LeftUpload, ...] = ()


def find_own_upload(
    client: UploadAPI,
    bucket: str,
    key: str,
    filename: str,
    plan: PartPlan,
    *,
    prefer: str | None = None,
    logger: LoggerLike,
) -> Discovery:
    """
    The in-progress upload of exactly ``key`` whose listed parts are all this file's bytes (if
    any), and the other uploads of the key, left alone.

    :param client: the OSS calls (ListMultipartUploads, ListParts).
    :param bucket: the bucket.
    :param key: the object key; uploads of other keys (even under it as a prefix) are never looked at.
    :param filename: the local file.
    :param plan: this run's part plan (part size and count).
    :param prefer: an upload ID to try first (the one a damaged record still names).
    :param logger: where to say what was adopted and what was left alone.
    """
    try:
        uploads = [u for u in client.list_multipart_uploads(bucket, prefix=key) if u.key == key]
    except OssError as err:
        logger.warning("Could not list the in-progress uploads of oss://%s/%s: %s", bucket, key, err)
        return Discovery(None)
    adopted: AdoptedUpload | None = None
    left: list[LeftUpload] = []
    with PartReader(filename) as reader:
        for upload in _candidates(uploads, prefer):
            if adopted is not None:
                left.append(LeftUpload(upload.upload_id, "another upload of the key was adopted"))
                continue
            proven, why = _prove(client, bucket, key, upload.upload_id, plan, reader)
            if proven is None:
                left.append(LeftUpload(upload.upload_id, why))
                continue
            initiated = upload.initiated.isoformat(timespec="seconds") if upload.initiated else None
            logger.info(
                "Adopting in-progress upload ID %s of oss://%s/%s: its %d part(s) are this file's bytes "
                "(size and CRC-64 of each checked).",
                upload.upload_id,
                bucket,
                key,
                len(proven),
            )
            adopted = AdoptedUpload(upload.upload_id, proven, initiated)
    return Discovery(adopted, tuple(left))


def _candidates(uploads: list[MultipartUploadInfo], prefer: str | None) -> list[MultipartUploadInfo]:
    """The preferred upload first, then the newest first."""
    ordered = sorted(
        uploads, key=lambda u: (u.initiated.timestamp() if u.initiated else 0.0, u.upload_id), reverse=True
    )
    return sorted(ordered, key=lambda u: u.upload_id != prefer)


def _prove(  # noqa: PLR0911  # each early return is one reason the upload is not proven to hold this file
    client: UploadAPI, bucket: str, key: str, upload_id: str, plan: PartPlan, reader: PartReader
) -> tuple[dict[int, int] | None, str]:
    """``(part -> CRC-64, "")`` when every listed part is the local bytes, else ``(None, why not)``."""
    try:
        listed: list[PartInfo] = list(client.list_parts(bucket, key, upload_id))
    except OssError as err:
        return None, f"its parts could not be listed ({type(err).__name__})"
    if not listed:
        return None, "it has no part yet, so nothing proves whose it is"
    proven: dict[int, int] = {}
    for part in listed:
        number = part.part_number
        if number not in plan:
            return None, f"part {number} is beyond this file's {plan.part_count} parts"
        if part.size != plan.size_of(number):
            return None, f"part {number} has {part.size} bytes, this file's has {plan.size_of(number)}"
        if part.crc64 is None:
            return None, f"part {number} has no CRC-64 to compare"
        planned = plan.part(number)
        local, read = reader.crc64_of(planned.offset, planned.size)
        if read != planned.size or local != part.crc64:
            return None, f"part {number} holds other bytes (CRC-64 {part.crc64}, the file's is {local})"
        proven[number] = local
    return proven, ""
