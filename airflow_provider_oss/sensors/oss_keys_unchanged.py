"""``OssKeysUnchangedSensor``: wait until a prefix that is still being written stops changing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.core.keywatch import InactivityTracker, prefix_state
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.sensors.oss_key import check_trigger_event
from airflow_provider_oss.version_compat import BaseSensorOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class OssKeysUnchangedSensor(BaseSensorOperator):
    """
    Succeed once the objects under ``prefix`` have not changed for ``inactivity_period`` seconds and
    there are at least ``min_objects`` of them (like the Amazon provider's S3KeysUnchangedSensor).

    A new object, a deleted one, or one rewritten in place (new size or ETag; S3's sensor only
    compares key names) restarts the quiet period. The observations live in the running task, so
    the sensor runs in ``poke`` mode only: ``reschedule`` would forget them between pokes.

    With ``deferrable=True`` the worker polls once (so a wrong secret or a missing bucket fails at
    once), then defers to :class:`~airflow_provider_oss.triggers.oss_keys_unchanged.OssKeysUnchangedTrigger`,
    which carries the observations (each object's size and ETag, the time of the last change) and
    keeps them across its polls in the triggerer: same semantics, no worker slot held while waiting.
    The trigger's state is stored by Airflow with the trigger, one entry per object under the prefix.

    :param prefix: the prefix to watch (templated); may be an ``oss://bucket/prefix`` URL.
    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param inactivity_period: seconds without change that mean "complete" (default 1 hour).
    :param min_objects: the fewest objects that may count as complete (default 1).
    :param previous_objects: keys known to exist before the sensor starts; the first poke compares
        against them (so a prefix already complete before the task started is not waited on twice).
    :param allow_delete: when False, an object deleted while waiting fails the task.
    :param deferrable: wait in the triggerer instead of holding a worker slot between pokes.
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    """

    template_fields: Sequence[str] = ("prefix", "bucket_name")

    def __init__(
        self,
        *,
        prefix: str,
        bucket_name: str | None = None,
        inactivity_period: float = 60 * 60,
        min_objects: int = 1,
        previous_objects: set[str] | None = None,
        allow_delete: bool = True,
        deferrable: bool = False,
        oss_conn_id: str = OssHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        label = f"OssKeysUnchangedSensor(task_id={self.task_id!r})"
        if (
            isinstance(inactivity_period, bool)
            or not isinstance(inactivity_period, (int, float))
            or inactivity_period < 0
        ):
            raise ValueError(f"{label}: inactivity_period must be a non-negative number of seconds.")
        if isinstance(min_objects, bool) or not isinstance(min_objects, int) or min_objects < 0:
            raise ValueError(f"{label}: min_objects must be a non-negative int; got {min_objects!r}.")
        if not isinstance(deferrable, bool):
            raise ValueError(f"{label}: deferrable must be True or False; got {deferrable!r}.")
        if self.mode == "reschedule":
            raise ValueError(
                f"{label}: mode='reschedule' would lose the observations between pokes; use mode='poke'."
            )
        if not isinstance(prefix, str):
            raise ValueError(f"{label}: prefix must be a string; got {prefix!r}.")
        self.prefix = prefix
        self.bucket_name = bucket_name
        self.inactivity_period = float(inactivity_period)
        self.min_objects = min_objects
        self.previous_objects = set(previous_objects) if previous_objects is not None else None
        self.allow_delete = allow_delete
        self.deferrable = deferrable
        self.oss_conn_id = oss_conn_id
        self._tracker: InactivityTracker | None = None
        self._watched: tuple[str, str] | None = None  # (bucket, prefix) of the last poke

    def _tracker_for(self) -> InactivityTracker:
        if self._tracker is None:
            previous = None
            if self.previous_objects is not None:
                # Only the names are known: any size or ETag seen on the first poke is "unchanged".
                previous = {key: (-1, "") for key in self.previous_objects}
            # A deferrable sensor hands its state to the triggerer: it needs wall-clock times.
            clock = time.time if self.deferrable else time.monotonic
            self._tracker = InactivityTracker(
                self.inactivity_period, self.min_objects, self.allow_delete, previous=previous, clock=clock
            )
        return self._tracker

    def poke(self, context: Context) -> bool:
        hook = OssHook(self.oss_conn_id)
        bucket_arg, prefix = split_key(self.prefix, self.bucket_name)
        bucket = hook.resolve_bucket(bucket_arg)
        self._watched = (bucket, prefix)
        current = prefix_state(hook.get_client(), bucket, prefix)
        tracker = self._tracker_for()
        if (
            tracker.previous is not None
            and self.previous_objects is not None
            and tracker.last_activity is None
        ):
            # previous_objects gave names only: adopt the sizes and ETags of the keys it named.
            tracker.previous = {k: current.get(k, v) for k, v in tracker.previous.items()}
        complete, why = tracker.observe(current)
        self.log.info("oss://%s/%s: %s", bucket, prefix, why)
        return complete

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from airflow_provider_oss.triggers.oss_keys_unchanged import OssKeysUnchangedTrigger

        tracker = self._tracker_for()
        assert self._watched is not None  # set by poke
        bucket, prefix = self._watched
        trigger = OssKeysUnchangedTrigger(
            bucket_name=bucket,
            prefix=prefix,
            inactivity_period=self.inactivity_period,
            min_objects=self.min_objects,
            allow_delete=self.allow_delete,
            previous_objects=tracker.previous,
            last_activity=tracker.last_activity,
            poke_interval=self.poke_interval,
            oss_conn_id=self.oss_conn_id,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger fired: succeed, or fail with the trigger's error."""
        check_trigger_event(type(self).__name__, self.task_id, event)
        self.log.info("%s", event.get("message", "the prefix is unchanged"))
