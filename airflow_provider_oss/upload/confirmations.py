"""
Recording, in the checkpoint, the parts OSS acknowledged with the local bytes' CRC-64.

A retry reuses a listed part whose CRC-64 equals its confirmed one without reading the file again,
so a resume after 90% of a big file costs the missing 10% plus a ListParts, not a re-read of the
90%. Saving happens in a background thread, at most once per ``interval`` seconds unless a batch
of new confirmations is waiting, so that a slow store (Airflow's metadata database behind the API
server) never holds up the parts. Confirmations made since the last save are lost when the process
is killed: the retry then reads and CRC-checks those parts instead, which is slower, not wrong.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_oss.upload.checkpoint import Checkpoint
from airflow_provider_oss.upload.config import DEFAULT_SAVE_INTERVAL

#: A save also happens once this share of the plan's parts has been confirmed since the last one.
BATCH_SHARE = 1 / 32


class ConfirmationRecorder:
    """
    Collects confirmed parts and saves ``checkpoint`` with them in a background thread.

    :param checkpoint: the run's checkpoint (its own ``confirmed_parts`` are kept).
    :param save: stores a checkpoint (the engine's checkpoint store).
    :param part_count: the plan's part count (sets the batch size).
    :param logger: where to log a failed save.
    :param interval: seconds between saves at most, unless a batch is waiting.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        save: Callable[[Checkpoint], None],
        *,
        part_count: int,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        interval: float = DEFAULT_SAVE_INTERVAL,
    ) -> None:
        self._base = checkpoint  # the record each save rewrites with every confirmation so far
        self._save = save
        self._logger = logger
        self._interval = interval
        self._batch = max(1, int(part_count * BATCH_SHARE))
        self._confirmed = dict(checkpoint.confirmed_parts)
        self._pending = 0
        self._saved_at = time.monotonic()
        self._closed = False
        self._failed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="oss-upload-checkpoint", daemon=True)
        self._thread.start()

    def confirm(self, part_number: int, crc64: int) -> None:
        """
        Record that OSS holds part ``part_number`` with the local bytes' CRC-64 ``crc64``.

        :param part_number: the part.
        :param crc64: its CRC-64 (equal on both sides).
        """
        with self._wake:
            if self._confirmed.get(part_number) == crc64:
                return
            self._confirmed[part_number] = crc64
            self._pending += 1
            if self._pending == 1 or self._pending >= self._batch:
                self._wake.notify()  # the first one starts the interval's clock; a batch is due now

    def close(self, *, flush: bool) -> None:
        """
        Stop the background thread (waiting for a save in progress); with ``flush``, save what is
        pending first. Call it before the checkpoint is deleted, so that no save can recreate it.
        Only the first call counts.

        :param flush: save pending confirmations (a failed run, so that the retry reads less).
        """
        with self._wake:
            if self._closed:
                return  # closed already: a later call (the failure path) must not save again
            self._closed = True
            self._wake.notify()
        self._thread.join()
        if flush:
            self._save_pending()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._due():
                    timeout = (
                        None if not self._pending else self._saved_at + self._interval - time.monotonic()
                    )
                    self._wake.wait(timeout)
                if self._closed:
                    return
            self._save_pending()

    def _due(self) -> bool:
        return self._pending > 0 and (
            self._pending >= self._batch or time.monotonic() - self._saved_at >= self._interval
        )

    def _save_pending(self) -> None:
        with self._wake:
            if not self._pending or self._failed:
                return
            record = self._base.with_confirmed(self._confirmed)
            self._pending = 0
            self._saved_at = time.monotonic()
        try:
            self._save(record)
        except Exception as err:
            # Parts still go up: a retry only re-reads what it could not find confirmed.
            with self._wake:
                self._failed = True
            self._logger.warning(
                "Could not update the checkpoint with confirmed parts (%s); the upload goes on, and a retry "
                "will read and CRC-check the parts it finds in OSS instead.",
                err,
            )
