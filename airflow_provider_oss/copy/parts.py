"""
Copying the missing parts of a multipart copy in parallel (UploadPartCopy), recording each part OSS
confirmed in the checkpoint now and then, and proving the whole: the parts' CRC-64s (from the
answers, or ListParts when an answer had none) must combine to the source's before completing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.copy.calls import CopiedPart, SourceObject, upload_part_copy
from airflow_provider_oss.copy.errors import CopySourceChangedError
from airflow_provider_oss.core.errors import OssPreconditionError

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import PartInfo
    from airflow_provider_oss.upload.plan import Part, PartPlan

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]


def usable_parts(listed: list[PartInfo], plan: PartPlan) -> dict[int, PartInfo]:
    """The listed parts that are parts of ``plan`` with their planned size."""
    return {
        p.part_number: p for p in listed if p.part_number in plan and plan.size_of(p.part_number) == p.size
    }


class PartCopier:
    """
    Copy parts of ``source`` into upload ``upload_id`` of ``oss://bucket/key``, ``parallelism`` at once.

    :param client: the OSS client (thread-safe, pool of at least ``parallelism`` connections).
    :param source: the source version (every request is pinned to its ETag).
    :param bucket: the destination bucket.
    :param key: the destination key.
    :param upload_id: the upload.
    :param parallelism: parts in flight at once.
    :param traffic_limit: per-request bandwidth cap (bit/s) or None.
    :param on_confirmed: called (under a lock, from any thread) with each copied part.
    :param logger: where to log.
    """

    def __init__(
        self,
        client: OssClient,
        source: SourceObject,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        parallelism: int,
        traffic_limit: int | None,
        on_confirmed: Callable[[CopiedPart], None],
        logger: LoggerLike,
    ) -> None:
        self.client = client
        self.source = source
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.parallelism = parallelism
        self.traffic_limit = traffic_limit
        self.on_confirmed = on_confirmed
        self.logger = logger
        self._lock = threading.Lock()
        #: The part numbers this copier copied, and how many UploadPartCopy requests succeeded.
        self.numbers: set[int] = set()
        self.requests = 0

    def _one(self, part: Part) -> CopiedPart:
        try:
            copied = upload_part_copy(
                self.client,
                self.source,
                self.bucket,
                self.key,
                self.upload_id,
                part.number,
                part.offset,
                part.size,
                traffic_limit=self.traffic_limit,
            )
        except OssPreconditionError as err:
            raise CopySourceChangedError(
                f"The copy source {self.source.url} changed during the copy: part {part.number} was refused "
                f"because the source is no longer the version with ETag {self.source.etag} "
                f"({err.code or 'PreconditionFailed'}). Nothing was completed; upload ID {self.upload_id} is kept "
                "and the next try, seeing the new version, aborts it and copies the new version.",
                source=self.source.url,
                etag=self.source.etag,
                upload_id=self.upload_id,
            ) from None
        with self._lock:
            self.numbers.add(copied.number)
            self.requests += 1
            self.on_confirmed(copied)
        return copied

    def run(self, parts: list[Part]) -> dict[int, CopiedPart]:
        """
        Copy ``parts``; the first failure cancels the parts not started yet and is raised.

        :return: part number -> the copied part.
        """
        done: dict[int, CopiedPart] = {}
        if not parts:
            return done
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(parts))) as pool:
            futures = [pool.submit(self._one, part) for part in parts]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in finished if f.exception() is not None), None)
            if failed is not None:
                for future in futures:
                    future.cancel()
                wait(futures)
                error = failed.exception()
                assert error is not None
                raise error
        for future in futures:
            copied = future.result()
            done[copied.number] = copied
        return done


class ConfirmationSaver:
    """
    Keep the confirmed parts and save them to the checkpoint at most every ``interval`` seconds or
    every ``1/32`` of the parts, whichever comes first (and on :meth:`flush`).

    :param save: writes the confirmed parts (part number -> CRC-64) to the checkpoint.
    :param part_count: the plan's parts.
    :param interval: seconds between saves at most.
    :param confirmed: parts already confirmed.
    """

    def __init__(
        self,
        save: Callable[[dict[int, int]], None],
        *,
        part_count: int,
        interval: float,
        confirmed: dict[int, int],
    ) -> None:
        self._save = save
        self.confirmed = dict(confirmed)
        self._every = max(1, part_count // 32)
        self._interval = interval
        self._pending = 0
        self._last = time.monotonic()

    def confirm(self, number: int, crc64: int | None) -> None:
        """Record a part OSS confirmed (a part without a CRC-64 is not recorded)."""
        if crc64 is None:
            return
        self.confirmed[number] = crc64
        self._pending += 1
        if self._pending >= self._every or time.monotonic() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Save now when anything is new."""
        if self._pending:
            self._save(dict(self.confirmed))
            self._pending = 0
            self._last = time.monotonic()
