"""
Airflow metrics (``Stats``: StatsD, Datadog or OpenTelemetry, as the deployment configures) of the
provider's transfers: one call per finished transfer, one per failed one.

Names are ``oss.<kind>.<what>`` with ``kind`` ``upload`` (and, for the transfers built next to it,
``download`` or ``copy``). After Airflow's own prefix (``statsd_prefix``, default ``airflow``):

==============================  =======  ==============================================================
name                            type     value
==============================  =======  ==============================================================
``oss.<kind>.transfers``        counter  1 per finished transfer
``oss.<kind>.bytes_sent``       counter  bytes this try sent (uploads)
``oss.<kind>.bytes_received``   counter  bytes this try received (downloads)
``oss.<kind>.bytes_reused``     counter  bytes an earlier try had transferred, reused
``oss.<kind>.parts_sent``       counter  parts this try transferred
``oss.<kind>.parts_reused``     counter  parts an earlier try had transferred, reused
``oss.<kind>.resumes``          counter  1 when this try continued a transfer an earlier try started
``oss.<kind>.already_complete`` counter  1 when an earlier try had finished it (nothing transferred)
``oss.<kind>.duration``         timer    the transfer's duration
``oss.<kind>.failures``         counter  1 per failed try; tag ``error``: the exception's class name
==============================  =======  ==============================================================

Tags (sent by backends that take them: Datadog, OpenTelemetry, StatsD with InfluxDB tags): only
``bucket`` (and ``error`` on failures). A bucket count per account is small (OSS allows 100 per
region by default) and an error class name is from a short list; the key, the file name and the
upload ID are never tags, since each would create a new time series per object. A metric never
fails a transfer: a backend error is logged at debug level and dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

#: The first segment of every metric name (after Airflow's ``statsd_prefix``).
PREFIX = "oss"

#: The counters read from a transfer result, by attribute name; one that a result lacks is not sent.
_COUNTERS = ("bytes_sent", "bytes_received", "bytes_reused", "parts_sent", "parts_reused")


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

    :param kind: ``upload``, ``download`` or ``copy``.
    :param result: the transfer's result, read by attribute: ``bucket``, ``seconds``, ``resumed``,
        ``already_complete`` and whichever of ``bytes_sent``, ``bytes_received``, ``bytes_reused``,
        ``parts_sent``, ``parts_reused`` it has (an :class:`~airflow_provider_oss.upload.result.UploadResult`,
        or a download or copy result of the same shape).
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

    :param kind: ``upload``, ``download`` or ``copy``.
    :param bucket: the bucket.
    :param error: what ended it (its class name is the ``error`` tag).
    """
    try:
        _stats().incr(
            metric_name(kind, "failures"), 1, tags={"bucket": bucket, "error": type(error).__name__}
        )
    except Exception as err:  # a metrics backend must never fail the transfer
        log.debug("Could not send the %s failure metric: %s", kind, err)
