"""
Airflow metrics (``Stats``: StatsD, Datadog or OpenTelemetry, as the deployment configures) of the
provider's transfers: one call per finished transfer, one per failed one.

Names are ``oss.<kind>.<what>`` with ``kind`` one of ``upload`` (``OssHook.upload_file``, one
object), ``download`` (``download_file``), ``copy`` (``resumable_copy``; no bytes pass through the
worker, so it sends parts, not bytes) and ``folder`` (``upload_folder``: one transfer per folder, not
per file, counted in files, so that a folder of 100,000 files does not send 100,000 timers and its
totals stay apart from those of single uploads). After Airflow's own prefix (``statsd_prefix``,
default ``airflow``):

==================================  =======  ==============================================================
name                                type     value
==================================  =======  ==============================================================
``oss.<kind>.transfers``            counter  1 per finished transfer
``oss.<kind>.bytes_sent``           counter  bytes this try sent (upload, folder)
``oss.<kind>.bytes_received``       counter  bytes this try received (download)
``oss.<kind>.bytes_reused``         counter  bytes an earlier try had transferred, reused (upload, download)
``oss.<kind>.bytes_skipped``        counter  bytes of files already in OSS, not sent (folder)
``oss.<kind>.parts_sent``           counter  parts (download: ranges) this try transferred (upload,
                                             download, copy: UploadPartCopy requests, 1 for a CopyObject)
``oss.<kind>.parts_reused``         counter  parts (ranges) an earlier try had transferred, reused
``oss.<kind>.files_uploaded``       counter  files this try uploaded (folder)
``oss.<kind>.files_skipped``        counter  files whose object already had their size and CRC-64 (folder)
``oss.<kind>.files_resumed``        counter  files this try uploaded reusing parts an earlier try stored (folder)
``oss.<kind>.resumes``              counter  1 when the result's ``resumed`` is true (docs/XCOM_RESULTS.md)
``oss.<kind>.already_complete``     counter  1 when an earlier try had finished it (upload, copy, download)
``oss.<kind>.duration``             timer    the transfer's duration
``oss.<kind>.failures``             counter  1 per failed try; tag ``error``: the exception's class name
                                             (a folder with a failed file: ``FolderUploadError``)
==================================  =======  ==============================================================

An upload's :class:`~airflow_provider_oss.upload.result.UploadResult` is read as it is; the other
results name things their own way and are first turned into a :class:`TransferMeasures`
(:func:`download_measures`, :func:`copy_measures`, :func:`folder_measures`).

Tags (sent by backends that take them: Datadog, OpenTelemetry, StatsD with InfluxDB tags): only
``bucket`` (and ``error`` on failures). A bucket count per account is small (OSS allows 100 per
region by default) and an error class name is from a short list; the key, the file name and the
upload ID are never tags, since each would create a new time series per object. A metric never
fails a transfer: a backend error is logged at debug level and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_oss.copy.result import CopyOutcome
    from airflow_provider_oss.download.result import DownloadResult
    from airflow_provider_oss.upload.folder_result import FolderUploadSummary

log = logging.getLogger(__name__)

#: The first segment of every metric name (after Airflow's ``statsd_prefix``).
PREFIX = "oss"

#: The counters read from a transfer result, by attribute name; one that a result lacks is not sent.
_COUNTERS = (
    "bytes_sent",
    "bytes_received",
    "bytes_reused",
    "bytes_skipped",
    "parts_sent",
    "parts_reused",
    "files_uploaded",
    "files_skipped",
    "files_resumed",
)


@dataclass(frozen=True)
class TransferMeasures:
    """
    A finished transfer in the metrics' names (what :func:`record_transfer` reads); a counter left
    None is not sent.

    :param bucket: the bucket (the ``bucket`` tag; a copy's destination bucket).
    :param seconds: the transfer's duration.
    :param resumed: this try continued a transfer an earlier try started.
    :param already_complete: an earlier try had finished it.
    """

    bucket: str
    seconds: float
    resumed: bool = False
    already_complete: bool = False
    bytes_sent: int | None = None
    bytes_received: int | None = None
    bytes_reused: int | None = None
    bytes_skipped: int | None = None
    parts_sent: int | None = None
    parts_reused: int | None = None
    files_uploaded: int | None = None
    files_skipped: int | None = None
    files_resumed: int | None = None


def download_measures(result: DownloadResult) -> TransferMeasures:
    """A download's measures: its fetched ranges and bytes are the parts and bytes received."""
    return TransferMeasures(
        bucket=result.bucket,
        seconds=result.elapsed,
        resumed=result.resumed,
        already_complete=result.already_complete,
        bytes_received=result.bytes_fetched,
        bytes_reused=result.bytes_reused,
        parts_sent=result.ranges_fetched,
        parts_reused=result.ranges_reused,
    )


def copy_measures(outcome: CopyOutcome, bucket: str) -> TransferMeasures:
    """
    A server-side copy's measures: parts copied and reused (no bytes pass through the worker).

    :param bucket: the destination bucket.
    """
    return TransferMeasures(
        bucket=bucket,
        seconds=outcome.seconds,
        resumed=outcome.resumed,
        already_complete=outcome.method == "already_complete",
        parts_sent=outcome.parts_copied,
        parts_reused=outcome.parts_reused,
    )


def folder_measures(summary: FolderUploadSummary) -> TransferMeasures:
    """A folder upload's measures: files uploaded, skipped and resumed, and the bytes sent and skipped."""
    outcomes = summary.outcomes
    return TransferMeasures(
        bucket=summary.bucket,
        seconds=summary.seconds,
        resumed=any(outcome.resumed for outcome in outcomes),
        bytes_sent=sum(outcome.bytes_sent for outcome in outcomes),
        bytes_skipped=sum(outcome.file.size for outcome in outcomes if outcome.status == "skipped"),
        files_uploaded=summary.count("uploaded"),
        files_skipped=summary.count("skipped"),
        files_resumed=sum(1 for outcome in outcomes if outcome.resumed),
    )


def _stats() -> Any:
    """Airflow's ``Stats`` (the Task SDK's since Airflow 3.2, the core's before)."""
    try:
        from airflow.sdk.observability import stats
    except ImportError:  # pragma: no cover - Airflow 3.0 and 3.1
        from airflow.stats import Stats

        return Stats
    return stats


def metric_name(kind: str, what: str) -> str:
    """``oss.<kind>.<what>``."""
    return f"{PREFIX}.{kind}.{what}"


def record_transfer(kind: str, result: Any) -> None:
    """
    Send the metrics of a finished transfer.

    :param kind: ``upload``, ``download``, ``copy`` or ``folder``.
    :param result: the transfer's result, read by attribute: ``bucket``, ``seconds``, ``resumed``,
        ``already_complete`` and whichever counters of :data:`_COUNTERS` it has (an
        :class:`~airflow_provider_oss.upload.result.UploadResult` or a :class:`TransferMeasures`).
    """
    tags = {"bucket": str(getattr(result, "bucket", ""))}
    try:
        stats = _stats()
        stats.incr(metric_name(kind, "transfers"), 1, tags=tags)
        for name in _COUNTERS:
            value = getattr(result, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                stats.incr(metric_name(kind, name), value, tags=tags)
        if getattr(result, "resumed", False):
            stats.incr(metric_name(kind, "resumes"), 1, tags=tags)
        if getattr(result, "already_complete", False):
            stats.incr(metric_name(kind, "already_complete"), 1, tags=tags)
        seconds = getattr(result, "seconds", None)
        if isinstance(seconds, (int, float)):
            stats.timing(metric_name(kind, "duration"), timedelta(seconds=seconds), tags=tags)
    except Exception as err:  # a metrics backend must never fail the transfer
        log.debug("Could not send the %s metrics: %s", kind, err)


def record_failure(kind: str, bucket: str, error: BaseException) -> None:
    """
    Count a failed transfer try.

    :param kind: ``upload``, ``download``, ``copy`` or ``folder``.
    :param bucket: the bucket.
    :param error: what ended it (its class name is the ``error`` tag).
    """
    try:
        _stats().incr(
            metric_name(kind, "failures"), 1, tags={"bucket": bucket, "error": type(error).__name__}
        )
    except Exception as err:  # a metrics backend must never fail the transfer
        log.debug("Could not send the %s failure metric: %s", kind, err)


@contextmanager
def failures_counted(kind: str, bucket: str) -> Iterator[None]:
    """
    Count an ``Exception`` that ends the block as a failed transfer try (see :func:`record_failure`),
    then let it propagate. An interruption (``KeyboardInterrupt``, ``SystemExit``) is no failure.

    :param kind: ``upload``, ``download``, ``copy`` or ``folder``.
    :param bucket: the bucket the ``bucket`` tag names.
    """
    try:
        yield
    except Exception as err:
        record_failure(kind, bucket, err)
        raise
