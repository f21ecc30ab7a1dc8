"""``OssKeySensor``: wait until an object exists in OSS."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.version_compat import BaseSensorOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class OssKeySensor(BaseSensorOperator):
    """
    Wait for one or more keys to exist in a bucket.

    Only OSS's 404 means "not there yet": a wrong secret, a denied access or an unreachable
    endpoint fails the task with OSS's error code instead of poking until the timeout.

    :param bucket_key: the key, or a list of keys, to wait for (templated).
    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param wildcard_match: treat each key as an ``fnmatch`` pattern matched against a listing of
        the pattern's literal prefix.
    :param oss_conn_id: the ``oss`` connection.
    """

    template_fields: Sequence[str] = ("bucket_key", "bucket_name")

    def __init__(
        self,
        *,
        bucket_key: str | list[str],
        bucket_name: str | None = None,
        wildcard_match: bool = False,
        oss_conn_id: str = OssHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket_key = bucket_key
        self.bucket_name = bucket_name
        self.wildcard_match = wildcard_match
        self.oss_conn_id = oss_conn_id

    def _keys(self) -> list[str]:
        keys = [self.bucket_key] if isinstance(self.bucket_key, str) else list(self.bucket_key)
        if not keys or any(not k for k in keys):
            raise ValueError(
                f"OssKeySensor(task_id={self.task_id!r}): bucket_key must name at least one key."
            )
        return keys

    def poke(self, context: Context) -> bool:
        hook = OssHook(self.oss_conn_id)
        for key in self._keys():
            if self.wildcard_match:
                prefix = key.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
                found = any(fnmatch.fnmatchcase(k, key) for k in hook.list_keys(prefix, self.bucket_name))
            else:
                found = hook.check_for_key(key, self.bucket_name)
            if not found:
                self.log.info("Waiting for oss://%s/%s", hook.resolve_bucket(self.bucket_name), key)
                return False
        return True
