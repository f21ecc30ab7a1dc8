"""
Finding a discovering copy's own in-progress upload (``checkpoint="discover"``: nothing kept; a retry
asks OSS's ListMultipartUploads) without reading the source's bytes.

Other writers' uploads of the destination key are in that list too, so an upload is adopted only
when it proves to hold this source's bytes:

- every part it lists is a part of this copy's plan, of the planned size, with a CRC-64;
- a *whole* upload (every planned part listed): the parts' CRC-64s combine to the source's;
- a *partial* upload (a try killed mid-copy): a probe. The source range of its highest listed part is
  copied server-side (UploadPartCopy pinned to the source's ETag) into a scratch upload of the same
  key, which is aborted at once; the listed part is proven when OSS reports the same CRC-64 for both.
  Cost: InitiateMultipartUpload + one UploadPartCopy + AbortMultipartUpload, no bytes through the
  worker. The adopted upload then gets only its missing parts, and before Complete the parts' CRC-64s
  must combine to the source's (:func:`~airflow_provider_oss.copy.verify.prove_parts`).

Anything else (no part yet, a part outside the plan or of another size, another writer's bytes, an
earlier version of the source) is left alone: never adopted, never aborted, never written to.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_provider_oss.copy.calls import upload_part_copy
from airflow_provider_oss.copy.parts import usable_parts
from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import OssError

if TYPE_CHECKING:
    from airflow_provider_oss.copy.calls import SourceObject
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import PartInfo
    from airflow_provider_oss.upload.plan import PartPlan

__all__ = ["find_own_copy_upload"]

log = logging.getLogger(__name__)


def find_own_copy_upload(
    client: OssClient,
    source: SourceObject,
    bucket: str,
    key: str,
    plan: PartPlan,
    *,
    traffic_limit: int | None = None,
) -> tuple[str, dict[int, PartInfo]] | None:
    """
    The in-progress upload of exactly ``oss://bucket/key`` proven to hold this source's parts (its ID
    and usable parts), or None. Whole uploads are looked at first (no probe needed), then partial
    ones, newest first.

    :param client: the OSS client.
    :param source: the source version (HeadObject of this try).
    :param bucket: the destination bucket.
    :param key: the destination key.
    :param plan: this copy's part plan.
    :param traffic_limit: the probe copy's bandwidth cap (bit/s), as the copy's parts have.
    """
    if source.crc64 is None:
        return None
    uploads = [u for u in client.list_multipart_uploads(bucket, prefix=key) if u.key == key]
    uploads.sort(key=lambda u: (u.initiated.timestamp() if u.initiated else 0.0, u.upload_id), reverse=True)
    candidates: list[tuple[str, dict[int, PartInfo]]] = []
    for upload in uploads:
        listed, why = _listed_in_plan(client, bucket, key, upload.upload_id, plan)
        if listed is None:
            _leave(upload.upload_id, bucket, key, why)
        elif len(listed) == plan.part_count:
            combined = crc.combine_all([(listed[p.number].crc64 or 0, p.size) for p in plan])
            if combined == source.crc64:
                log.info(
                    "Discovered upload ID %s holding every part of this copy: completing it.",
                    upload.upload_id,
                )
                return upload.upload_id, listed
            _leave(upload.upload_id, bucket, key, "its parts do not combine to the source's CRC-64")
        else:
            candidates.append((upload.upload_id, listed))
    for upload_id, listed in candidates:
        why = _probe(client, source, (bucket, key), plan, listed[max(listed)], traffic_limit)
        if not why:
            log.info(
                "Adopting in-progress upload ID %s of oss://%s/%s: %d of %d parts, of the planned sizes, part %d "
                "proven to be the source's bytes by a probe copy; copying the missing parts.",
                upload_id,
                bucket,
                key,
                len(listed),
                plan.part_count,
                max(listed),
            )
            return upload_id, listed
        _leave(upload_id, bucket, key, why)
    return None


def _leave(upload_id: str, bucket: str, key: str, why: str) -> None:
    log.info(
        "Leaving in-progress upload ID %s of oss://%s/%s alone: %s (not proven to be this copy's; never aborted).",
        upload_id,
        bucket,
        key,
        why,
    )


def _listed_in_plan(
    client: OssClient, bucket: str, key: str, upload_id: str, plan: PartPlan
) -> tuple[dict[int, PartInfo] | None, str]:
    """``(part number -> part, "")`` when the upload lists parts, each in ``plan`` with its size and a CRC-64."""
    try:
        listed = list(client.list_parts(bucket, key, upload_id))
    except OssError as err:
        return None, f"its parts could not be listed ({type(err).__name__})"
    if not listed:
        return None, "it has no part yet, so nothing proves whose it is"
    usable = usable_parts(listed, plan)
    if len(usable) != len(listed):
        return None, f"some of its parts are not parts of this copy's plan ({plan.describe()})"
    if any(p.crc64 is None for p in listed):
        return None, "OSS lists no CRC-64 for some of its parts"
    return usable, ""


def _probe(
    client: OssClient,
    source: SourceObject,
    target: tuple[str, str],
    plan: PartPlan,
    part: PartInfo,
    traffic_limit: int | None,
) -> str:
    """Copy the source range of ``part`` into a scratch upload; "" when OSS reports ``part``'s CRC-64 for it."""
    bucket, key = target
    planned = plan.part(part.part_number)
    try:
        scratch = client.initiate_multipart_upload(bucket, key)
    except OssError as err:
        return f"the probe could not start ({type(err).__name__})"
    try:
        probe = upload_part_copy(
            client, source, bucket, key, scratch, 1, planned.offset, planned.size, traffic_limit=traffic_limit
        )
        probed = probe.crc64
        if probed is None:
            probed = next(iter(client.list_parts(bucket, key, scratch))).crc64
    except (OssError, StopIteration) as err:
        return f"the probe copy of part {part.part_number} failed ({type(err).__name__})"
    finally:
        try:
            client.abort_multipart_upload(bucket, key, scratch)
        except OssError as err:
            log.warning(
                "Could not abort the probe's scratch upload ID %s of oss://%s/%s (%s): abort it with "
                "oss-uploads abort oss://%s/%s %s; until then its part is billed as storage.",
                scratch,
                bucket,
                key,
                err,
                bucket,
                key,
                scratch,
            )
    if probed != part.crc64:
        return f"its part {part.part_number} holds other bytes than the source's (CRC-64 {part.crc64}, the source's {probed})"
    return ""
