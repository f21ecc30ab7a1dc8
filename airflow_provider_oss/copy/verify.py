"""
Proving a copy: the parts' CRC-64s (from the answers, ListParts filling the gaps) must combine to the
source's before completing, and the copy's CRC-64 must be the source's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.copy.calls import CopiedPart, SourceObject
from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import CrcMismatchError

if TYPE_CHECKING:
    from airflow_provider_oss.copy.parts import PartCopier
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.upload.plan import PartPlan

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


def check_object_crc(source: SourceObject, copied: int | None, target: str, logger: LoggerLike) -> None:
    """
    The copy's CRC-64 must be the source's (a warning, UNVERIFIED, when OSS reported none).

    :raises CrcMismatchError: they differ.
    """
    if source.crc64 is None or copied is None:
        logger.warning(
            "The copy %s is UNVERIFIED: OSS reported no CRC-64 for %s.",
            target,
            "the source" if source.crc64 is None else "the copy",
        )
        return
    if copied != source.crc64:
        raise CrcMismatchError(
            f"CRC-64 mismatch copying {source.url} to {target}: the source has {source.crc64}, the copy {copied}.",
            local_crc=source.crc64,
            server_crc=copied,
            key=target,
        )


def prove_parts(
    client: OssClient,
    source: SourceObject,
    plan: PartPlan,
    copier: PartCopier,
    parts: dict[int, CopiedPart],
    reused: set[int],
) -> dict[int, CopiedPart]:
    """
    Every part's CRC-64 known and combining to the source's. When they do not and some parts were
    reused from an earlier try, those are copied once more before giving up.

    :return: the parts (with the CRC-64s ListParts filled in).
    :raises CrcMismatchError: the parts do not make the source (nothing was completed).
    """
    target = f"oss://{copier.bucket}/{copier.key}"
    if any(p.crc64 is None for p in parts.values()):
        listed = {
            p.part_number: p.crc64 for p in client.list_parts(copier.bucket, copier.key, copier.upload_id)
        }
        parts = {
            n: CopiedPart(n, p.etag, p.size, p.crc64 if p.crc64 is not None else listed.get(n))
            for n, p in parts.items()
        }
    if source.crc64 is None or any(p.crc64 is None for p in parts.values()):
        copier.logger.warning("The parts of %s are UNVERIFIED: OSS reported no CRC-64 for some.", target)
        return parts
    combined = crc.combine_all([(parts[n].crc64 or 0, parts[n].size) for n in sorted(parts)])
    if combined == source.crc64:
        return parts
    if reused:
        copier.logger.warning(
            "The parts of %s combine to CRC-64 %d, not the source's %d: copying the %d reused part(s) again.",
            target,
            combined,
            source.crc64,
            len(reused),
        )
        parts.update(copier.run([p for p in plan if p.number in reused]))
        return prove_parts(client, source, plan, copier, parts, set())
    raise CrcMismatchError(
        f"CRC-64 mismatch copying {source.url} to {target}: the parts OSS copied combine to {combined}, "
        f"the source has {source.crc64}. Nothing was completed.",
        local_crc=source.crc64,
        server_crc=combined,
        key=copier.key,
    )
