"""``OssKeysUnchangedSensor``: wait until a prefix that is still being written stops changing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.core.keywatch import InactivityTracker
from airflow_provider_oss.hooks.oss import OssHook
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

    :param prefix: the prefix to watch (templated); may be an ``oss://bucket/prefix`` URL.
    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param inactivity_period: seconds without change that mean "complete" (default 1 hour).
    :param min_objects: the fewest objects that may count as complete (default 1).
    :param previous_objects: keys known to exist before the sensor starts; the first poke compares
        against them (so a prefix already complete before the task started is not waited on twice).
    :param allow_delete: when False, an object deleted while waiting fails the task.
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
        self.oss_conn_id = oss_conn_id
        self._tracker: InactivityTracker | None = None

    def _tracker_for(self) -> InactivityTracker:
        if self._tracker is None:
            previous = None
            if self.previous_objects is not None:
                # Only the names are known: any size or ETag seen on the first poke is "unchanged".
                previous = {key: (-1, "") for key in self.previous_objects}
            self._tracker = InactivityTracker(
                self.inactivity_period, self.min_objects, self.allow_delete, previous=previous
            )
        return self._tracker

    def poke(self, context: Context) -> bool:
        hook = OssHook(self.oss_conn_id)
        bucket_arg, prefix = split_key(self.prefix, self.bucket_name)
        bucket = hook.resolve_bucket(bucket_arg)
        current = {s.key: (s.size, s.etag) for s in hook.list_objects(prefix, bucket)}
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
