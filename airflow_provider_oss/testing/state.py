"""The shared state of a running local server: configuration, clock, storage, faults, request log."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_oss.testing.auth import Authenticator
from airflow_provider_oss.testing.callback_targets import DEFAULT_CALLBACK_HOSTS
from airflow_provider_oss.testing.faults import FaultSet
from airflow_provider_oss.testing.store import Store

ETAG_MODES = ("md5", "crc")


@dataclass(frozen=True)
class ServerConfig:
    """
    Settings of a running server that the request handlers need.

    :param access_key_id: the main access key id.
    :param region: the region of the server (V4 scopes must name it).
    :param virtual_host_domain: ``Host: <bucket>.<this>`` selects virtual-hosted addressing.
    :param default_bucket: the bucket of CNAME-style requests (a path without a bucket), if any.
    :param etag_mode: ``md5`` (OSS's ETags) or ``crc`` (cheaper, for benchmarks).
    :param allow_v1: accept V1 signatures.
    :param max_skew_seconds: the allowed request clock skew.
    :param callback_hosts: where upload callbacks may go (see
        :mod:`~airflow_provider_oss.testing.callback_targets`).
    """

    access_key_id: str
    region: str
    virtual_host_domain: str
    default_bucket: str | None
    etag_mode: str
    allow_v1: bool
    max_skew_seconds: int
    callback_hosts: tuple[str, ...] = DEFAULT_CALLBACK_HOSTS


class ServerState:
    """
    Everything the request handlers share.

    :param config: the server settings.
    :param secrets: access key id -> secret.
    :param tokens: access key id -> required STS token.
    :param root: the storage root directory.
    """

    def __init__(
        self, config: ServerConfig, secrets: Mapping[str, str], tokens: Mapping[str, str], root: str
    ) -> None:
        if config.etag_mode not in ETAG_MODES:
            raise ValueError(f"etag_mode must be one of {ETAG_MODES}, not {config.etag_mode!r}.")
        self.config = config
        self._offset = 0.0
        self.store = Store(root, self.now)
        self.auth = Authenticator(
            secrets, tokens, config.region, config.allow_v1, config.max_skew_seconds, self.now
        )
        self.faults = FaultSet()
        self.stopping = threading.Event()
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._seq = 0

    def now(self) -> float:
        """The server clock: real time plus the test clock offset."""
        return time.time() + self._offset

    @property
    def clock_offset(self) -> float:
        """How many seconds the server clock runs ahead of real time."""
        return self._offset

    @clock_offset.setter
    def clock_offset(self, seconds: float) -> None:
        self._offset = float(seconds)

    def record(self, entry: dict[str, Any]) -> None:
        """Append a finished request to the log, numbering it."""
        with self._log_lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._log.append(entry)

    def request_log(self) -> list[dict[str, Any]]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_request_log(self) -> None:
        """Forget the logged requests (numbering continues)."""
        with self._log_lock:
            self._log.clear()
