"""
``OssKeyTrigger``: polls OSS in Airflow's triggerer for a deferred :class:`OssKeySensor`.

Each poll runs our blocking client in a worker thread (:func:`asyncio.to_thread`), so the
triggerer's event loop, shared by every trigger, is never blocked by HTTP. Only "not there yet"
keeps the trigger polling: any other error (a wrong secret, a missing bucket, an unreachable
endpoint after the client's retries) ends it with an ``error`` event that fails the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Nothing of this package is imported at module level: the triggerer imports this module on its
# event loop, and the client's imports (requests...) take most of a second on a busy machine.
# ``_poll`` imports them in its worker thread instead.


def error_event(err: Exception) -> dict[str, Any]:
    """The ``error`` event of a poll that failed: the error's type and message (never a secret: our errors carry none)."""
    return {"status": "error", "error_type": type(err).__name__, "message": str(err)}


class OssPollingTrigger(BaseTrigger):
    """
    The base of this provider's triggers: the connection's hook, made on the first poll in a worker
    thread and reused across polls, and its connection pool closed when the trigger ends.

    :param oss_conn_id: the OSS connection.
    """

    def __init__(self, *, oss_conn_id: str = "oss_default") -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ has no annotations
        self.oss_conn_id = oss_conn_id
        self._hook: Any = None

    def _client(self) -> Any:
        """The hook's client (blocking: call it from a worker thread, never on the event loop)."""
        if self._hook is None:
            from airflow_provider_oss.hooks.oss import OssHook

            self._hook = OssHook(self.oss_conn_id)
        return self._hook.get_client()

    async def cleanup(self) -> None:
        """Close the client's connection pool when the trigger ends or is cancelled."""
        if self._hook is not None:
            self._hook.get_client().close()


class OssKeyTrigger(OssPollingTrigger):
    """
    Fire when every key (or ``fnmatch`` pattern) exists; the event carries the matched objects.

    :param targets: ``[bucket, key]`` pairs (buckets already resolved).
    :param wildcard_match: treat each key as an ``fnmatch`` pattern.
    :param oss_conn_id: the ``oss`` connection.
    :param poke_interval: seconds between polls.
    :param wait_first: sleep one interval before the first poll (after ``check_fn`` said "not yet").
    """

    def __init__(
        self,
        targets: list[list[str]] | list[tuple[str, str]],
        *,
        wildcard_match: bool = False,
        oss_conn_id: str = "oss_default",
        poke_interval: float = 60.0,
        wait_first: bool = False,
    ) -> None:
        super().__init__(oss_conn_id=oss_conn_id)
        self.targets = [(str(bucket), str(key)) for bucket, key in targets]
        self.wildcard_match = wildcard_match
        self.poke_interval = float(poke_interval)
        self.wait_first = wait_first

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "targets": [list(target) for target in self.targets],
                "wildcard_match": self.wildcard_match,
                "oss_conn_id": self.oss_conn_id,
                "poke_interval": self.poke_interval,
                "wait_first": self.wait_first,
            },
        )

    def _poll(self) -> dict[str, Any] | None:
        """
        One blocking poll, in a worker thread: the event to fire, or None while a key is missing.
        The hook and its client are reused across polls.
        """
        from airflow_provider_oss.core.errors import OssError
        from airflow_provider_oss.core.keywatch import find_all

        try:
            found = find_all(self._client(), self.targets, wildcard=self.wildcard_match)
        except (OssError, ValueError) as err:
            return error_event(err)
        return None if found is None else {"status": "success", "files": found}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.wait_first:
            await asyncio.sleep(self.poke_interval)
        while True:
            event = await asyncio.to_thread(self._poll)
            if event is not None:
                yield TriggerEvent(event)
                return
            self.log.info("Waiting for %s", ", ".join(f"oss://{b}/{k}" for b, k in self.targets))
            await asyncio.sleep(self.poke_interval)
