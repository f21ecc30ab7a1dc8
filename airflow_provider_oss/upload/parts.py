"""
Sending the parts of one multipart upload, ``parallelism`` at a time.

Parts are submitted lazily (never more than ``parallelism`` in flight, so a 10,000-part plan does
not make 10,000 futures), the ones OSS lacks first. A part an earlier try stored is reused without
reading it when the checkpoint confirms its CRC-64; else its local bytes are CRC-64'd in small
chunks and it is reused when they match. Any other part is read into one of ``parallelism``
reusable buffers, CRC-64'd and sent, with one more send when OSS reports another CRC-64. The
first failure stops the run: pending parts are cancelled, the ones in flight finish (so that the
next try can reuse them), and the error is raised with the part and upload it concerns.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import CrcMismatchError, OssError, OssNotFoundError
from airflow_provider_oss.upload.errors import PartUploadError, SourceChangedError
from airflow_provider_oss.upload.plan import Part, PartPlan
from airflow_provider_oss.upload.progress import ProgressTracker
from airflow_provider_oss.upload.reader import BufferPool, PartReader

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import PartInfo
    from airflow_provider_oss.upload.api import UploadAPI


@dataclass(frozen=True)
class PartOutcome:
    """
    A part that OSS holds for the upload.

    :param part: the planned part.
    :param crc64: the CRC-64 of its local bytes (equal to OSS's).
    :param etag: its ETag, for CompleteMultipartUpload.
    :param reused: True when an earlier try had stored it.
    :param sends: how many times this run sent it (0 when reused, 2 after a CRC-64 mismatch).
    :param confirmed: reused on the checkpoint's confirmation, without reading the local bytes.
    """

    part: Part
    crc64: int
    etag: str
    reused: bool
    sends: int
    confirmed: bool = False


class UploadGone(Exception):  # noqa: N818  # an internal signal, turned into a result or UploadGoneError
    """The upload ID vanished (NoSuchUpload) in the middle of the run."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class _Stopped(Exception):  # noqa: N818  # an internal signal
    """A part job that did not start because the run is stopping."""


def is_no_such_upload(err: BaseException) -> bool:
    """Whether ``err`` is OSS's ``NoSuchUpload``."""
    return isinstance(err, OssNotFoundError) and getattr(err, "code", "") == "NoSuchUpload"


def usable_listed_parts(listed: Iterable[PartInfo], plan: PartPlan) -> tuple[dict[int, PartInfo], int]:
    """
    The listed parts a run may reuse (in the plan, of the planned size, with a CRC-64), by number,
    and how many others were listed (they are sent again).
    """
    usable: dict[int, PartInfo] = {}
    odd = 0
    for part in listed:
        if (
            part.part_number in plan
            and part.size == plan.size_of(part.part_number)
            and part.crc64 is not None
        ):
            usable[part.part_number] = part
        else:
            odd += 1
    return usable, odd


def _confirmed_outcome(part: Part, listed: PartInfo | None, confirmed_crc: int | None) -> PartOutcome | None:
    """The outcome of a listed part that OSS holds with its confirmed CRC-64 (reused unread), or None."""
    if listed is None or confirmed_crc is None or listed.size != part.size or listed.crc64 != confirmed_crc:
        return None
    return PartOutcome(part, confirmed_crc, listed.etag, reused=True, sends=0, confirmed=True)


class PartSender:
    """
    Sends (or reuses) every part of a plan for one upload ID.

    :param client: the OSS client.
    :param bucket: the bucket.
    :param key: the object key.
    :param upload_id: the multipart upload.
    :param filename: the source file (for messages).
    :param parallelism: parts in flight at once.
    :param traffic_limit: per-request bandwidth cap in bit/s, or None.
    :param logger: where to log.
    """

    def __init__(
        self,
        client: UploadAPI,
        bucket: str,
        key: str,
        upload_id: str,
        filename: str,
        *,
        parallelism: int,
        traffic_limit: int | None,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.filename = filename
        self.parallelism = parallelism
        self.traffic_limit = traffic_limit
        self.logger = logger
        self.target = f"oss://{bucket}/{key}"
        self._stop = threading.Event()

    def run(  # noqa: C901, PLR0912, PLR0915  # the worker-pool loop: submit, collect, retry and cancel share the in-flight set
        self,
        plan: PartPlan,
        listed: dict[int, PartInfo],
        reader: PartReader,
        progress: ProgressTracker,
        after_part: Callable[[PartOutcome], None],
        confirmed: Mapping[int, int] | None = None,
        on_late_part: Callable[[PartOutcome], None] | None = None,
        *,
        first_part_alone: bool = False,
    ) -> list[PartOutcome]:
        """
        Make OSS hold every part of ``plan``; return the outcomes in part order.

        :param plan: the parts.
        :param listed: parts an earlier try stored (from ListParts), by number.
        :param reader: the open source file.
        :param progress: told about every finished part (from this thread).
        :param after_part: called with every finished part's outcome (the source-change check and
            the checkpoint's confirmations); may raise.
        :param confirmed: part number -> CRC-64 that an earlier try confirmed (the checkpoint's):
            a listed part with that CRC-64 and the planned size is reused without being read.
        :param on_late_part: told about each part that was in flight when the run failed and was
            stored all the same (so that its confirmation is kept for the next try).
        :param first_part_alone: when OSS holds no part yet, send one part alone before the others,
            so that the upload holds a part (which proves whose it is to a discovering retry) as
            soon as one part's transfer allows, not after ``parallelism`` parts shared the link.
        :raises UploadGone: OSS answered NoSuchUpload.
        :raises PartUploadError: a part failed (the original error is the ``__cause__``).
        :raises CrcMismatchError: OSS reported another CRC-64 for a part twice.
        :raises SourceChangedError: the file shrank or changed under a part.
        """
        pool = BufferPool(self.parallelism, plan.part_size)
        confirmed = confirmed or {}
        in_flight: dict[Future[PartOutcome], Part] = {}
        outcomes: dict[int, PartOutcome] = {}
        # The parts OSS lacks go first: their sends wait on the network, while checking the listed
        # parts against the local bytes is local work that fills the gaps between them. (The
        # confirmed parts are settled before either, below.)
        parts = itertools.chain(
            (p for p in plan if p.number not in listed),
            (p for p in plan if p.number in listed and p.number not in outcomes),
        )
        executor = ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="oss-upload-part")
        interrupted = False

        def settle(part: Part, outcome: PartOutcome, *, log: bool = True) -> None:
            outcomes[part.number] = outcome
            progress.part_done(part.number, part.size, reused=outcome.reused, log=log)
            after_part(outcome)

        alone = first_part_alone and not listed

        def fill() -> None:
            while len(in_flight) < (1 if alone and not outcomes else self.parallelism):
                part = next(parts, None)
                if part is None:
                    return
                future = executor.submit(self._part_job, part, listed.get(part.number), reader, pool)
                in_flight[future] = part

        try:
            # The parts the checkpoint confirmed need no thread and no read: settled first, so that
            # the first progress line of a resumed upload already counts them.
            for part in plan:
                known = _confirmed_outcome(part, listed.get(part.number), confirmed.get(part.number))
                if known is not None:
                    settle(part, known, log=False)
            if outcomes:
                progress.log_now()
            fill()
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: in_flight[f].number):
                    part = in_flight.pop(future)
                    error = future.exception()
                    if error is not None:
                        wrapped = self._wrap_error(part, plan, error)
                        if wrapped is error:
                            raise error
                        raise wrapped from error
                    settle(part, future.result())
                fill()
        except BaseException as err:
            interrupted = not isinstance(err, Exception)
            self._stop.set()
            for future in in_flight:
                future.cancel()
            if not interrupted:
                # Let the requests already on the wire finish: the parts they carry are what the next
                # try reuses. Their own errors are secondary to the one being raised.
                wait(in_flight)
                if on_late_part is not None:
                    for future in in_flight:
                        if not future.cancelled() and future.exception() is None:
                            on_late_part(future.result())
                failed = sum(1 for f in in_flight if not f.cancelled() and f.exception() is not None)
                if failed:
                    self.logger.info("%d other part(s) in flight failed as well.", failed)
            raise
        finally:
            executor.shutdown(wait=not interrupted, cancel_futures=True)
            if interrupted:
                reader.close_after(executor)
        return [outcomes[n] for n in sorted(outcomes)]

    def _wrap_error(self, part: Part, plan: PartPlan, error: BaseException) -> BaseException:
        if is_no_such_upload(error):
            return UploadGone(f"UploadPart {part.number}")
        if isinstance(error, (SourceChangedError, CrcMismatchError, UploadGone)) or not isinstance(
            error, Exception
        ):
            return error
        what = "reading" if isinstance(error, OSError) and not isinstance(error, OssError) else "uploading"
        return PartUploadError(
            f"{what.capitalize()} part {part.number} of {plan.part_count} ({part.size} bytes at offset "
            f"{part.offset}) of upload ID {self.upload_id} to {self.target} failed: {error}",
            part_number=part.number,
            upload_id=self.upload_id,
        )

    def _part_job(
        self, part: Part, listed: PartInfo | None, reader: PartReader, pool: BufferPool
    ) -> PartOutcome:
        if self._stop.is_set():
            raise _Stopped()
        if listed is not None:
            local_crc = self._crc_of(part, reader)  # no part buffer: most listed parts are reused
            if listed.size == part.size and listed.crc64 == local_crc:
                return PartOutcome(part, local_crc, listed.etag, reused=True, sends=0)
            self.logger.info(
                "Part %d in OSS has CRC-64 %s but the local bytes have %s: sending it again.",
                part.number,
                listed.crc64,
                local_crc,
            )
        buffer = pool.acquire()
        try:
            view = memoryview(buffer)[: part.size]
            return self._send(part, view, self._read(part, view, reader), reader)
        finally:
            pool.release(buffer)

    def _crc_of(self, part: Part, reader: PartReader) -> int:
        """The CRC-64 of the part's bytes in the file, read in small chunks."""
        value, read = reader.crc64_of(part.offset, part.size)
        if read != part.size:
            raise self._shrank(part, read, reader)
        return value

    def _shrank(self, part: Part, read: int, reader: PartReader) -> SourceChangedError:
        file_size = reader.stat().st_size
        return SourceChangedError(
            f"{self.filename} shrank while it was being uploaded to {self.target}: part {part.number} "
            f"read {read} of {part.size} bytes (the file now has {file_size}). Upload ID {self.upload_id} "
            "was not completed.",
            upload_id=self.upload_id,
            changes=[f"short read of part {part.number}"],
        )

    def _read(self, part: Part, view: memoryview, reader: PartReader) -> int:
        """Fill ``view`` with the part's bytes and return their CRC-64."""
        read = reader.read_into(view, part.offset)
        if read != part.size:
            raise self._shrank(part, read, reader)
        return crc.crc64(view)

    def _send(self, part: Part, view: memoryview, local_crc: int, reader: PartReader) -> PartOutcome:
        kwargs: dict[str, Any] = {"crc64": local_crc}
        if self.traffic_limit is not None:
            kwargs["traffic_limit"] = self.traffic_limit
        for attempt in (1, 2):
            if self._stop.is_set():
                raise _Stopped()
            try:
                # The part's one CRC-64 check: the client compares OSS's value with ``local_crc`` and
                # raises CrcMismatchError (carrying OSS's value) when they differ.
                uploaded = self.client.upload_part(
                    self.bucket, self.key, self.upload_id, part.number, view, **kwargs
                )
            except CrcMismatchError as err:
                server_crc = err.server_crc
            else:
                return PartOutcome(part, local_crc, uploaded.etag, reused=False, sends=attempt)
            if attempt == 2:
                raise CrcMismatchError(
                    f"Part {part.number} of upload ID {self.upload_id} to {self.target}: OSS computed CRC-64 "
                    f"{server_crc} but the local bytes have {local_crc}, twice. The bytes are being damaged on "
                    "the way (proxy, network card, memory); the upload was not completed.",
                    local_crc=local_crc,
                    server_crc=server_crc,
                    key=self.key,
                    part_number=part.number,
                )
            self.logger.warning(
                "Part %d of upload ID %s: OSS computed CRC-64 %s but the local bytes have %s; reading it again "
                "and sending it once more.",
                part.number,
                self.upload_id,
                server_crc,
                local_crc,
            )
            if self._read(part, view, reader) != local_crc:
                raise SourceChangedError(
                    f"{self.filename} changed while it was being uploaded to {self.target}: part {part.number} "
                    f"reads differently now. Upload ID {self.upload_id} was not completed.",
                    upload_id=self.upload_id,
                    changes=[f"part {part.number} content"],
                )
        raise AssertionError("unreachable")
