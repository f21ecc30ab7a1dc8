"""
``OssKeysUnchangedTrigger``: the quiet-period watch of a deferred :class:`OssKeysUnchangedSensor`,
polled in Airflow's triggerer.

The watch's state (every object's size and ETag at the last poll, and the wall-clock time of the
last change) lives in the trigger and is kept across polls; :meth:`serialize` returns the current
state, so a trigger rebuilt from it continues the same quiet period. Each poll lists the prefix with
the blocking client in a worker thread (:func:`asyncio.to_thread`): the triggerer's event loop is
never blocked. Any error (a wrong secret, a missing bucket, a deletion with ``allow_delete=False``)
ends the trigger with an ``error`` event that fails the task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_oss.triggers.oss import OssPollingTrigger, error_event

# As in triggers/oss.py: the client and the watch are imported in the poll's worker thread, not
# on the triggerer's event loop.


class OssKeysUnchangedTrigger(OssPollingTrigger):
    """
    Fire once the objects under ``prefix`` have not changed for ``inactivity_period`` seconds and
    there are at least ``min_objects`` of them.

    :param bucket_name: the bucket (already resolved).
    :param prefix: the prefix watched.
    :param inactivity_period: seconds without change that mean "complete".
    :param min_objects: the fewest objects that may count as complete.
    :param allow_delete: when False, an object deleted while waiting ends the trigger with an error.
    :param previous_objects: key -> ``[size, etag]`` at the last poll; None before the first one.
    :param last_activity: the wall-clock time (epoch seconds) of the last change seen, if any.
    :param poke_interval: seconds between polls.
    :param oss_conn_id: the OSS connection.
    """

    def __init__(
        self,
        *,
        bucket_name: str,
        prefix: str,
        inactivity_period: float,
        min_objects: int = 1,
        allow_delete: bool = True,
        previous_objects: Mapping[str, Sequence[Any]] | None = None,
        last_activity: float | None = None,
        poke_interval: float = 60.0,
        oss_conn_id: str = "oss_default",
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id)
        self.bucket_name = bucket_name
        self.prefix = prefix
        self.inactivity_period = float(inactivity_period)
        self.min_objects = int(min_objects)
        self.allow_delete = bool(allow_delete)
        self.poke_interval = float(poke_interval)
        self.previous_objects: dict[str, tuple[int, str]] | None = None
        if previous_objects is not None:
            self.previous_objects = {
                str(key): (int(size), str(etag)) for key, (size, etag) in previous_objects.items()
            }
        self.last_activity = last_activity
        self._tracker: Any = None  # an InactivityTracker, made by the first poll

    def serialize(self) -> tuple[str, dict[str, Any]]:
        previous = self.previous_objects
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "bucket_name": self.bucket_name,
                "prefix": self.prefix,
                "inactivity_period": self.inactivity_period,
                "min_objects": self.min_objects,
                "allow_delete": self.allow_delete,
                "previous_objects": None if previous is None else {k: list(v) for k, v in previous.items()},
                "last_activity": self.last_activity,
                "poke_interval": self.poke_interval,
                "oss_conn_id": self.oss_conn_id,
            },
        )

    def _poll(self) -> tuple[dict[str, Any] | None, str]:
        """One blocking poll, in a worker thread: ``(the event to fire or None, what was seen)``."""
        from airflow_provider_oss.core.errors import OssError
        from airflow_provider_oss.core.keywatch import InactivityTracker, prefix_state

        if self._tracker is None:
            self._tracker = InactivityTracker(
                self.inactivity_period,
                self.min_objects,
                self.allow_delete,
                previous=self.previous_objects,
                clock=time.time,  # wall clock: the state may be carried to another process
            )
            self._tracker.last_activity = self.last_activity
        try:
            complete, why = self._tracker.observe(prefix_state(self._client(), self.bucket_name, self.prefix))
        except (OssError, ValueError, RuntimeError) as err:
            return error_event(err), str(err)
        # The state kept across polls, and what serialize() hands on.
        self.previous_objects, self.last_activity = self._tracker.previous, self._tracker.last_activity
        return ({"status": "success", "message": why} if complete else None), why

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            event, why = await asyncio.to_thread(self._poll)
            self.log.info("oss://%s/%s: %s", self.bucket_name, self.prefix, why)
            if event is not None:
                yield TriggerEvent(event)
                return
            await asyncio.sleep(self.poke_interval)
