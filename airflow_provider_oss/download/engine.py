"""
:class:`ResumableDownloader`: an object to a local file in parallel ranged GETs, verified by its
CRC-64, resumable across processes through a checkpoint of the ranges already written.

Sequence: HeadObject records the object's identity (ETag, size, CRC-64, Last-Modified); the
temporary file beside the destination is opened and locked; an earlier try's checkpoint is continued
when it is of this object version and its ranges still read back with their CRC-64
(:mod:`~airflow_provider_oss.download.resume`); the missing ranges are fetched ``parallelism`` at a
time with ``If-Match`` on the ETag, each recorded in the journal beside the temporary file as soon
as it is written (:mod:`~airflow_provider_oss.download.journal`: a SIGKILL loses only the ranges in
flight); every so often the file and the journal are fsynced and the checkpoint saved;
the ranges' CRC-64s are combined and compared with the object's; only then is the file fsynced
and renamed onto the destination, and the journal and the checkpoint deleted. A try killed between that rename and
the delete is finished by the retry without a GET once the destination reads back with the object's
CRC-64 and HeadObject shows the same version (:mod:`~airflow_provider_oss.download.finished`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.errors import CrcMismatchError, OssResponseError, OssServiceError
from airflow_provider_oss.core.journal import Journal
from airflow_provider_oss.core.read_answers import ReadContext
from airflow_provider_oss.download.errors import ObjectChangedError, RangeFetchError
from airflow_provider_oss.download.fetch import RangeRequest, fetch_range
from airflow_provider_oss.download.finished import finished_earlier
from airflow_provider_oss.download.journal import remove_download_journal, start_journal
from airflow_provider_oss.download.partfile import PartFile, check_destination
from airflow_provider_oss.download.record import DownloadCheckpoint, ObjectIdentity
from airflow_provider_oss.download.result import DownloadResult
from airflow_provider_oss.download.resume import ResumeState, resume_state
from airflow_provider_oss.download.store import DownloadCheckpointStore
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.upload.plan import PartPlan, plan_parts

log = logging.getLogger(__name__)

__all__ = ["ResumableDownloader"]


class ResumableDownloader:
    """
    Download ``oss://bucket/key`` to ``destination``.

    :param client: the OSS client (its pool should hold ``config.parallelism`` connections).
    :param bucket: the bucket.
    :param key: the object key.
    :param destination: the local file; its directory must exist. Replaced atomically when verified.
    :param config: part (range) size, parallelism, threshold (objects smaller than it go in one
        GET), traffic limit, progress and checkpoint cadence: the upload's :class:`TransferConfig`.
    :param checkpoint_store: where the ranges written are recorded, or None: not resumable (the
        temporary file is then removed when the download fails).
    :param logger: where to log.
    :param journal: keep the range journal beside the temporary file (default; only with a
        checkpoint store). False falls back to the checkpoint alone, which a SIGKILL can leave up to
        ``checkpoint_save_interval`` behind; it exists to measure the journal's cost.
    :param version_id: download this version of the object (a bucket with versioning); None: the
        current version.
    """

    def __init__(
        self,
        client: OssClient,
        bucket: str,
        key: str,
        destination: str | os.PathLike[str],
        *,
        config: TransferConfig | None = None,
        checkpoint_store: DownloadCheckpointStore | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        journal: bool = True,
        version_id: str | None = None,
    ) -> None:
        self.client = client
        self.version_id = version_id
        self.bucket = bucket
        self.key = key
        self.destination = os.fspath(destination)
        self.config = config if config is not None else TransferConfig()
        self.store = checkpoint_store
        self.log = logger if logger is not None else log
        self.journal = journal

    def run(self) -> DownloadResult:
        """
        Download, verify and rename.

        :raises DestinationError: the destination cannot be written.
        :raises DownloadInProgressError: another process is downloading to the same destination.
        :raises OssNotFoundError: the object (or bucket) does not exist.
        :raises OssAuthError: the credentials are refused.
        :raises ObjectChangedError: the object changed during the download (nothing is kept).
        :raises CrcMismatchError: the file's CRC-64 is not the object's (nothing is kept).
        :raises RangeFetchError: a range failed after the retries (the checkpoint keeps what was written).
        """
        started = time.monotonic()
        target = check_destination(self.destination)
        info = self.client.head_object(self.bucket, self.key, version_id=self.version_id)
        identity = ObjectIdentity.from_info(info)
        self._check_crc_available(identity)
        small = identity.size < self.config.threshold
        partfile = PartFile(target)
        partfile.open()
        store = None if small else self.store
        done_before = self._finished_earlier(partfile, store, identity, target, started)
        if done_before is not None:
            return done_before
        journal: Journal | None = None
        try:
            state = resume_state(
                store,
                partfile,
                bucket=self.bucket,
                key=self.key,
                destination=target,
                identity=identity,
                logger=self.log,
            )
            record = self._record(state, store, partfile, identity, target, small)
            journal = self._journal(record, store, partfile)
            plan = plan_parts(identity.size, record.part_size)
            self.log.info(
                "Downloading oss://%s/%s (%d bytes, ETag %s) to %s: %s, %d already written (%d of them journaled "
                "after the checkpoint's last save), parallelism %d, checkpoint: %s",
                self.bucket,
                self.key,
                identity.size,
                identity.etag,
                target,
                plan.describe(),
                len(record.done),
                state.journaled,
                self.config.parallelism,
                store.describe() if store is not None else "none",
            )
            request = RangeRequest(
                self.client,
                self.bucket,
                self.key,
                identity,
                partfile,
                self.config.traffic_limit,
                version_id=self.version_id,
            )
            done = self._fetch_missing(request, plan, record, store, journal)
            crc = crc64_mod.combine_all([(done[part.number], part.size) for part in plan])
            self._verify(identity, crc)
            partfile.commit()
            remove_download_journal(partfile)
        except (ObjectChangedError, CrcMismatchError):
            remove_download_journal(partfile)
            partfile.discard()
            if self.store is not None:
                self.store.delete()
            raise
        except BaseException:
            if store is None:
                partfile.discard()
            else:
                partfile.close()
            raise
        finally:
            if journal is not None:
                journal.close()
        if self.store is not None:  # also a record of an earlier, larger version of a now-small object
            self.store.delete()
        reused = len(state.reused)
        bytes_reused = sum(plan.size_of(n) for n in state.reused)
        result = DownloadResult.of_object(
            self.bucket,
            self.key,
            target,
            identity,
            ranges_total=plan.part_count,
            ranges_reused=reused,
            bytes_reused=bytes_reused,
            elapsed=time.monotonic() - started,
        )
        self.log.info(
            "Downloaded oss://%s/%s to %s: %d bytes, CRC-64 %s verified, %d range(s) fetched, %d reused, %.2f s.",
            self.bucket,
            self.key,
            target,
            result.size,
            result.crc64,
            result.ranges_fetched,
            result.ranges_reused,
            result.elapsed,
        )
        return result

    # -- steps -----------------------------------------------------------------------------------

    def _record(
        self,
        state: ResumeState,
        store: DownloadCheckpointStore | None,
        partfile: PartFile,
        identity: ObjectIdentity,
        target: str,
        small: bool,
    ) -> DownloadCheckpoint:
        """This try's record: the earlier try's with its verified ranges, or a new one (file emptied)."""
        if state.record is not None:
            return state.record.with_done(state.reused)
        requested = max(identity.size, self.config.part_size) if small else self.config.part_size
        plan_size = plan_parts(identity.size, requested).part_size
        record = DownloadCheckpoint(self.bucket, self.key, target, plan_size, identity)
        partfile.reset(identity.size)
        if store is not None:
            store.save(record)
        return record

    def _journal(
        self, record: DownloadCheckpoint, store: DownloadCheckpointStore | None, partfile: PartFile
    ) -> Journal | None:
        """A new journal listing ``record.done``, when the download is resumable and keeps one."""
        if store is not None and self.journal:
            return start_journal(record, partfile)
        remove_download_journal(partfile)  # an earlier try's, which nothing would verify
        return None

    def _finished_earlier(
        self,
        partfile: PartFile,
        store: DownloadCheckpointStore | None,
        identity: ObjectIdentity,
        target: str,
        started: float,
    ) -> DownloadResult | None:
        """
        An earlier try renamed its verified file onto the destination and was killed before deleting
        its checkpoint: finish it (no GET) when the destination proves to be that download.
        """
        try:
            if store is None or partfile.size() == identity.size:
                return None  # a full temporary file: the resume re-reads it instead
            record = finished_earlier(
                store,
                bucket=self.bucket,
                key=self.key,
                destination=target,
                identity=identity,
                logger=self.log,
            )
            if record is None:
                return None
            remove_download_journal(partfile)
            partfile.discard()
            store.delete()
        except BaseException:
            partfile.close()
            raise
        self.log.info(
            "%s already is the verified download of oss://%s/%s (ETag %s, %d bytes, CRC-64 %s read back): an "
            "earlier try finished it; nothing downloaded.",
            target,
            self.bucket,
            self.key,
            identity.etag,
            identity.size,
            identity.crc64,
        )
        return DownloadResult.of_object(
            self.bucket,
            self.key,
            target,
            identity,
            ranges_total=record.part_count,
            ranges_reused=record.part_count,
            bytes_reused=identity.size,
            elapsed=time.monotonic() - started,
            already_complete=True,
        )

    def _read_context(self) -> ReadContext:
        config = self.client.config
        return ReadContext("GetObject", self.bucket, self.key, config.endpoint_url, config.require_crc64)

    def _check_crc_available(self, identity: ObjectIdentity) -> None:
        self._read_context().require_crc(identity.crc64, self.log)

    def _verify(self, identity: ObjectIdentity, crc: int) -> None:
        self._read_context().verify_crc(
            identity.crc64,
            crc,
            identity.size,
            "the partial file and its checkpoint were discarded, so the next try downloads the object again.",
        )

    def _fetch_missing(
        self,
        request: RangeRequest,
        plan: PartPlan,
        record: DownloadCheckpoint,
        store: DownloadCheckpointStore | None,
        journal: Journal | None,
    ) -> dict[int, int]:
        """Fetch every range not in ``record.done``; return range number -> CRC-64 for all ranges."""
        keeper = _RecordKeeper(request.sink, store, journal, record, plan.part_count, self.config, self.log)
        missing: Iterator[int] = (n for n in range(1, plan.part_count + 1) if n not in keeper.done)
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.config.parallelism, thread_name_prefix="oss-download") as pool:
            running: dict[Future[int], int] = {}

            def submit_next() -> None:
                number = next(missing, None)
                if number is not None:
                    part = plan.part(number)
                    running[pool.submit(fetch_range, request, number, part.offset, part.size)] = number

            for _ in range(self.config.parallelism):
                submit_next()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    number = running.pop(future)
                    try:
                        keeper.written(number, future.result())
                    except BaseException as err:  # the first failure is raised below
                        failure = failure or _range_error(err, number, request)
                    if failure is None:
                        submit_next()
                keeper.tick()
        keeper.save()
        if failure is not None:
            raise failure
        return keeper.done


class _RecordKeeper:
    """
    The ranges written so far: each appended to the journal as soon as it is written (one small
    ``write``, no fsync: it survives the death of the process, and the retry reads every range back
    anyway), saved to the checkpoint store (after an fsync of the temporary file and the journal)
    every ``checkpoint_save_interval`` seconds and when the download stops, and logged every
    ``progress_interval`` seconds. A SIGKILL thus costs the ranges in flight; a crash of the machine
    at most that interval of transfer (ranges not yet on disk fail their read-back and are fetched
    again).
    """

    def __init__(
        self,
        sink: PartFile,
        store: DownloadCheckpointStore | None,
        journal: Journal | None,
        record: DownloadCheckpoint,
        total: int,
        config: TransferConfig,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.sink = sink
        self.store = store
        self.journal = journal
        self.record = record
        self.done = dict(record.done)
        self.total = total
        self.config = config
        self.log = logger
        self.unsaved = 0
        self.last_save = self.last_log = time.monotonic()

    def written(self, number: int, crc: int) -> None:
        """Range ``number`` is in the temporary file with CRC-64 ``crc``."""
        self.done[number] = crc
        self.unsaved += 1
        if self.journal is not None:
            self.journal.append(number, crc)

    def tick(self) -> None:
        """Save and log when it is time."""
        now = time.monotonic()
        if now - self.last_save >= self.config.checkpoint_save_interval:
            self.save()
        if now - self.last_log >= self.config.progress_interval:
            self.log.info("Downloaded %d of %d ranges.", len(self.done), self.total)
            self.last_log = now

    def save(self) -> None:
        """Save what was written since the last save: the bytes first (fsync), then the record."""
        if self.store is None or not self.unsaved:
            return
        self.sink.flush()
        if self.journal is not None:
            self.journal.sync()
        self.store.save(self.record.with_done(self.done))
        self.unsaved, self.last_save = 0, time.monotonic()


def _range_error(err: BaseException, number: int, request: RangeRequest) -> BaseException:
    if isinstance(
        err, (ObjectChangedError, CrcMismatchError, OssServiceError, OssResponseError)
    ) or not isinstance(err, Exception):
        return err  # their own messages are clear; an auth or service error keeps its type
    wrapped = RangeFetchError(
        f"Range {number} of oss://{request.bucket}/{request.key} failed: {type(err).__name__}: {str(err).rstrip('.')}. The ranges "
        "already written are kept in the checkpoint; a retry continues from them.",
        part_number=number,
    )
    wrapped.__cause__ = err
    return wrapped
