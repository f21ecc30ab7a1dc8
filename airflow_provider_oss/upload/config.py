"""
:class:`TransferConfig`: every tunable of a transfer in one frozen, validated value.

In the spirit of s3transfer's ``TransferConfig`` and alibabacloud-oss-v2's ``UploaderOptions``: the
operator builds it in its ``__init__`` (so that a bad value fails when the DAG is parsed), the hook
and the engine receive it whole, and nothing re-checks its fields. Download and copy transfers are
meant to take the same value (a part size and a parallelism mean the same for ranged GETs and
UploadPartCopy).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.models import (
    MAX_PUT_OBJECT_SIZE,
    MAX_TRAFFIC_LIMIT,
    MIN_TRAFFIC_LIMIT,
    validate_traffic_limit,
)
from airflow_provider_oss.upload.plan import DEFAULT_PART_SIZE, validate_part_size

if TYPE_CHECKING:
    from airflow_provider_oss.core.client_config import ClientConfig

#: The most parts in flight at once: each holds one ``part_size`` buffer and one connection.
MAX_PARALLELISM = 64
#: The default parts in flight at once.
DEFAULT_PARALLELISM = 4
#: Seconds between progress log lines at most, by default.
DEFAULT_PROGRESS_INTERVAL = 10.0
#: Seconds between checkpoint updates with newly confirmed parts at most, by default.
DEFAULT_SAVE_INTERVAL = 2.0
#: Seconds a completed upload's mark stays in its checkpoint store, by default (7 days).
DEFAULT_COMPLETED_RETENTION = 7 * 24 * 3600.0


def recommended_pool_size(parallelism: int) -> int:
    """
    The HTTP connection pool size a client used with ``parallelism`` parts in flight should have:
    one connection per part plus one for the listing, completion and HEAD calls of the run.

    :param parallelism: parts in flight at once.
    """
    return parallelism + 1


def client_config_for_upload(config: ClientConfig, parallelism: int) -> ClientConfig:
    """
    ``config`` with a connection pool big enough for ``parallelism`` parts in flight (unchanged when
    it already is).

    :param config: the client settings.
    :param parallelism: parts in flight at once.
    """
    needed = recommended_pool_size(parallelism)
    return config if config.pool_size >= needed else dataclasses.replace(config, pool_size=needed)


class TransferConfigError(OssClientError):
    """A transfer setting out of range; the message names the argument and the allowed values."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise TransferConfigError(f"{name} must be a number of seconds, 0 or more; got {value!r}.")


@dataclass(frozen=True)
class TransferConfig:
    """
    How a file is transferred: part size, parallelism, threshold, bandwidth and checkpoint cadence.

    :param part_size: bytes per part, 100 KiB to 5 GiB (grown to a multiple of 1 MiB when the file
        would need more than 10,000 parts). Memory use is about ``parallelism * part_size``.
    :param parallelism: parts in flight at once, 1 to 64.
    :param multipart_threshold: files smaller than this go up in one PutObject (None: ``part_size``;
        at most 5 GiB, the largest PutObject); an empty file always does. Such a file is read into
        memory whole, so keep it modest.
    :param traffic_limit: per-request bandwidth cap in bit/s (``x-oss-traffic-limit``), from 819200
        (100 KB/s) to 838860800 (100 MB/s), or None. It shapes the transfer, not the object, so a
        retry may change it and still resume.
    :param verify_reused_parts: when True, a resumed upload reads and CRC-checks every part an
        earlier try stored, even those the checkpoint confirmed (for files rewritten in place
        without a change of size or modification time). By default a listed part whose CRC-64 is
        the confirmed one is reused without reading it.
    :param progress_interval: seconds between progress log lines at most.
    :param checkpoint_save_interval: seconds between checkpoint updates (the confirmed parts) at
        most; an update also happens after every 1/32 of the parts.
    :param completed_retention: seconds that a completed upload's mark (object CRC-64 and ETag) stays
        in the checkpoint store, so that a retry of a try killed right after completing, or a re-run
        of the task, sends nothing and reads nothing when the object is still this file (default 7
        days; 0 deletes the checkpoint at completion instead, and such a run reads the file once to
        recognise the object).
    :raises TransferConfigError: (a ``ValueError``) for any value out of range, naming it.
    """

    part_size: int = DEFAULT_PART_SIZE
    parallelism: int = DEFAULT_PARALLELISM
    multipart_threshold: int | None = None
    traffic_limit: int | None = None
    verify_reused_parts: bool = False
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    checkpoint_save_interval: float = DEFAULT_SAVE_INTERVAL
    completed_retention: float = DEFAULT_COMPLETED_RETENTION

    def __post_init__(self) -> None:
        validate_part_size(self.part_size)
        if not _is_int(self.parallelism) or not 1 <= self.parallelism <= MAX_PARALLELISM:
            raise TransferConfigError(
                f"parallelism must be an int from 1 to {MAX_PARALLELISM}; got {self.parallelism!r}."
            )
        threshold = self.multipart_threshold
        if threshold is not None and (not _is_int(threshold) or not 0 <= threshold <= MAX_PUT_OBJECT_SIZE):
            raise TransferConfigError(
                f"multipart_threshold must be a non-negative int of at most {MAX_PUT_OBJECT_SIZE} bytes (5 GiB, "
                f"the largest PutObject), or None for part_size; got {threshold!r}."
            )
        try:
            validate_traffic_limit(self.traffic_limit)
        except OssClientError as err:
            raise TransferConfigError(
                f"{err} Give None for no limit (OSS accepts {MIN_TRAFFIC_LIMIT}..{MAX_TRAFFIC_LIMIT})."
            ) from None
        if not isinstance(self.verify_reused_parts, bool):
            raise TransferConfigError(
                f"verify_reused_parts must be True or False; got {self.verify_reused_parts!r}."
            )
        _check_seconds("progress_interval", self.progress_interval)
        _check_seconds("checkpoint_save_interval", self.checkpoint_save_interval)
        _check_seconds("completed_retention", self.completed_retention)

    @property
    def threshold(self) -> int:
        """The effective multipart threshold: ``multipart_threshold``, or ``part_size`` when None."""
        return self.part_size if self.multipart_threshold is None else self.multipart_threshold

    def check_pool_size(self, pool_size: int, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        """
        Warn when a client's connection pool is smaller than :attr:`parallelism` (connections would
        be closed and reopened for every part).

        :param pool_size: the client's ``pool_size``.
        :param logger: where to warn.
        """
        if pool_size < self.parallelism:
            logger.warning(
                "The OSS client's pool_size (%d) is below the upload parallelism (%d): connections will be "
                "closed and reopened for every part. Build the client with pool_size >= %d.",
                pool_size,
                self.parallelism,
                self.pool_size,
            )

    @property
    def pool_size(self) -> int:
        """The HTTP connection pool size a client needs for this transfer (:func:`recommended_pool_size`)."""
        return recommended_pool_size(self.parallelism)
