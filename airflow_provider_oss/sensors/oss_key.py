"""``OssKeySensor``: wait until objects exist in OSS, in a worker or deferred to the triggerer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.errors import OssError
from airflow_provider_oss.core.keymatch import split_key
from airflow_provider_oss.core.keywatch import ObjectRecord, find_all
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.version_compat import BaseSensorOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class OssSensorError(OssError):
    """A deferred OSS sensor's trigger met an error other than "not there yet"."""


def check_trigger_event(sensor: str, task_id: str, event: dict[str, Any]) -> None:
    """
    Fail a resumed sensor whose trigger fired an error event, naming the sensor and the error.

    :raises OssSensorError: unless the event's status is ``success``.
    """
    if event.get("status") != "success":
        raise OssSensorError(
            f"{sensor}(task_id={task_id!r}) stopped waiting: "
            f"{event.get('error_type', 'error')}: {event.get('message', event)}"
        )


#: ``check_fn`` receives the matched objects' records and says whether they are ready.
CheckFn = Callable[[list[ObjectRecord]], bool]


class OssKeySensor(BaseSensorOperator):
    """
    Wait for one or more keys to exist in a bucket.

    Only OSS's ``NoSuchKey`` means "not there yet": a wrong secret, a denied access, a missing
    bucket or an unreachable endpoint fails the task with OSS's error code instead of poking until
    the timeout, in a worker and in the triggerer alike.

    :param bucket_key: the key, or a list of keys, to wait for (templated); each may be a full
        ``oss://bucket/key`` URL.
    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra. A URL's
        bucket must agree with it.
    :param wildcard_match: treat each key as an ``fnmatch`` pattern (``*`` also matches ``/``)
        matched against a listing of the pattern's literal prefix; every pattern needs a match.
    :param check_fn: called with the matched objects (a list of dicts: ``bucket``, ``key``, ``size``,
        ``etag``, ``last_modified`` (ISO 8601), ``storage_class``; for exact keys also ``crc64``,
        ``content_type`` and ``metadata``); the sensor succeeds only when it returns True.
    :param deferrable: wait in the triggerer (:class:`~airflow_provider_oss.triggers.oss.OssKeyTrigger`)
        instead of holding a worker slot between pokes.
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    """

    template_fields: Sequence[str] = ("bucket_key", "bucket_name")

    def __init__(
        self,
        *,
        bucket_key: str | list[str],
        bucket_name: str | None = None,
        wildcard_match: bool = False,
        check_fn: CheckFn | None = None,
        deferrable: bool = False,
        oss_conn_id: str = OssHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket_key = bucket_key
        self.bucket_name = bucket_name
        self.wildcard_match = wildcard_match
        self.check_fn = check_fn
        self.deferrable = deferrable
        self.oss_conn_id = oss_conn_id
        if check_fn is not None and not callable(check_fn):
            raise ValueError(f"OssKeySensor(task_id={self.task_id!r}): check_fn must be callable.")

    def _keys(self) -> list[str]:
        keys = [self.bucket_key] if isinstance(self.bucket_key, str) else list(self.bucket_key)
        if not keys or any(not isinstance(k, str) or not k for k in keys):
            raise ValueError(
                f"OssKeySensor(task_id={self.task_id!r}): bucket_key must name at least one key."
            )
        return keys

    def _targets(self, hook: OssHook) -> list[tuple[str, str]]:
        targets = []
        for key in self._keys():
            bucket, plain = split_key(key, self.bucket_name)
            if not plain:
                raise ValueError(
                    f"OssKeySensor(task_id={self.task_id!r}): {key!r} names a bucket but no key."
                )
            targets.append((hook.resolve_bucket(bucket), plain))
        return targets

    def _accepts(self, files: list[ObjectRecord]) -> bool:
        if self.check_fn is None:
            return True
        accepted = bool(self.check_fn(files))
        if not accepted:
            self.log.info("check_fn did not accept the %d matched object(s) yet.", len(files))
        return accepted

    def poke(self, context: Context) -> bool:
        hook = OssHook(self.oss_conn_id)
        targets = self._targets(hook)
        files = find_all(hook.get_client(), targets, wildcard=self.wildcard_match)
        if files is None:
            self.log.info("Waiting for %s", ", ".join(f"oss://{b}/{k}" for b, k in targets))
            return False
        return self._accepts(files)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self._defer(wait_first=False)
        return None

    def _defer(self, *, wait_first: bool) -> None:
        from airflow_provider_oss.triggers.oss import OssKeyTrigger

        trigger = OssKeyTrigger(
            self._targets(OssHook(self.oss_conn_id)),
            wildcard_match=self.wildcard_match,
            oss_conn_id=self.oss_conn_id,
            poke_interval=self.poke_interval,
            wait_first=wait_first,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Resume after the trigger fired: fail on its error, else apply ``check_fn`` (re-defer if False)."""
        check_trigger_event(type(self).__name__, self.task_id, event)
        if not self._accepts(event["files"]):
            self._defer(wait_first=True)
