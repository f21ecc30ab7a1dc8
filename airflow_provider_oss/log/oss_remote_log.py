"""
:class:`OssRemoteLogIO`: Airflow's ``RemoteLogIO`` for task logs in OSS (docs/REMOTE_LOGS.md).

Each try's log is one object, ``<prefix>/<Airflow's relative log path>`` (``.../attempt=N.log``),
appended to when the try ends (a deferred task's second half goes after its first, never over it)
and read back by the api-server for the UI. A store or read that OSS does not finish within
``upload_timeout`` seconds is given up: the task's outcome is not delayed, the local log is kept,
and one warning names where it is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.log.location import LogLocation

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a store or a read of one log may take before it is given up (the local log is kept).
DEFAULT_UPLOAD_TIMEOUT = 30.0
#: The connection used when ``[logging] remote_log_conn_id`` is empty.
DEFAULT_CONN_ID = "oss_default"
#: The keys of ``[logging] remote_task_handler_kwargs`` this class reads (others belong to Airflow).
OWN_KWARGS = ("upload_timeout",)


@dataclass
class OssRemoteLogIO:
    """
    Task logs in OSS: :meth:`upload` when a try ends (on the worker), :meth:`read` for the UI (on
    the api-server). Airflow builds it with :meth:`from_config`.

    :param remote_base: ``oss://bucket[/prefix]`` (``[logging] remote_base_log_folder``).
    :param base_log_folder: the local log folder (``[logging] base_log_folder``).
    :param conn_id: the OSS connection (``[logging] remote_log_conn_id``; ``oss_default`` when empty).
    :param delete_local_copy: remove the local file once OSS holds it (``[logging] delete_local_logs``).
    :param upload_timeout: seconds one store or read may take; after that it is given up, the task
        goes on, and the local log is kept.
    :param client_factory: builds the client (tests); by default :class:`~airflow_provider_oss.hooks.oss.OssHook`
        on ``conn_id`` with timeouts and retries that fit in ``upload_timeout``.
    """

    remote_base: str
    base_log_folder: Path | str
    conn_id: str = DEFAULT_CONN_ID
    delete_local_copy: bool = False
    upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT
    client_factory: Callable[[], OssClient] | None = field(default=None, repr=False)
    location: LogLocation = field(init=False)
    _client: OssClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.location = LogLocation.parse(self.remote_base)
        self.base_log_folder = Path(self.base_log_folder)
        if isinstance(self.upload_timeout, bool) or not (
            isinstance(self.upload_timeout, (int, float)) and self.upload_timeout > 0
        ):
            raise ValueError(
                "upload_timeout ([logging] remote_task_handler_kwargs) must be a positive number of "
                f"seconds; got {self.upload_timeout!r}."
            )

    @classmethod
    def from_config(cls) -> OssRemoteLogIO:
        """Build from Airflow's ``[logging]`` settings (what Airflow 3.3+ calls for ``oss://``)."""
        from airflow.configuration import conf

        kwargs = conf.getjson("logging", "remote_task_handler_kwargs", fallback={}) or {}
        if not isinstance(kwargs, dict):
            raise ValueError(f"[logging] remote_task_handler_kwargs must be a JSON object; got {kwargs!r}.")
        return cls(
            remote_base=conf.get_mandatory_value("logging", "remote_base_log_folder"),
            base_log_folder=conf.get("logging", "base_log_folder"),
            conn_id=conf.get("logging", "remote_log_conn_id", fallback="") or DEFAULT_CONN_ID,
            delete_local_copy=conf.getboolean("logging", "delete_local_logs", fallback=False),
            **{name: kwargs[name] for name in OWN_KWARGS if name in kwargs},
        )

    @property
    def processors(self) -> tuple[Any, ...]:
        """No structlog processor: the log is stored from its file when the try ends."""
        return ()

    # -- the worker ------------------------------------------------------------------------------

    def upload(self, path: os.PathLike[str] | str, ti: Any = None) -> None:
        """
        Append the try's local log to its object in OSS (Airflow calls this when a try ends or defers).

        Never raises: when OSS fails or is slower than ``upload_timeout``, one warning names the
        object and the kept local file, and the task goes on.

        :param path: the log file, relative to ``base_log_folder`` (Airflow 3.3) or absolute.
        :param ti: the task instance (unused).
        """
        local, relative = self._local_and_relative(Path(path))
        if not local.is_file():
            log.warning("No task log to store in OSS: %s does not exist.", local)
            return
        uri = self.location.uri_of(relative)
        try:
            self._bounded(
                lambda: self.client.append_file(self.location.bucket, self.location.key_of(relative), local)
            )
        except Exception as err:
            log.warning("Task log not stored in %s (%s); the local log is kept at %s.", uri, err, local)
            return
        if self.delete_local_copy:
            local.unlink(missing_ok=True)

    def _local_and_relative(self, path: Path) -> tuple[Path, str]:
        base = Path(self.base_log_folder)
        if path.is_absolute():
            return path, path.relative_to(base).as_posix()
        return base / path, path.as_posix()

    # -- the api-server --------------------------------------------------------------------------

    def read(self, relative_path: str, ti: Any = None) -> tuple[list[str], list[str] | None]:
        """
        The try's log from OSS, as Airflow's ``(sources, logs)``: ``logs`` is None when OSS has no
        such object or could not be read (Airflow then shows the local or the worker's log).

        :param relative_path: Airflow's relative log path of the try.
        :param ti: the task instance (unused).
        """
        uri = self.location.uri_of(relative_path)
        try:
            text = self._bounded(
                lambda: self.client.read_text(self.location.bucket, self.location.key_of(relative_path))
            )
        except Exception as err:
            return [f"Could not read {uri}: {err}"], None
        if text is None:
            return [f"No log in OSS at {uri}"], None
        return [uri], [text]

    # -- shared ----------------------------------------------------------------------------------

    @property
    def client(self) -> OssClient:
        """The OSS client (built on first use)."""
        if self._client is None:
            self._client = self.client_factory() if self.client_factory is not None else self._hook_client()
        return self._client

    def _hook_client(self) -> OssClient:
        from airflow_provider_oss.hooks.oss import OssHook

        connect = min(10.0, self.upload_timeout / 3)
        hook = OssHook(self.conn_id, connect_timeout=connect, read_timeout=self.upload_timeout, max_retries=1)
        return hook.get_client()

    def _bounded(self, call: Callable[[], T]) -> T:
        """``call()`` in a daemon thread, given up after ``upload_timeout`` seconds."""
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = call()
            except BaseException as err:  # handed to the caller's thread
                outcome["error"] = err

        worker = threading.Thread(target=run, name="oss-task-log", daemon=True)
        worker.start()
        worker.join(self.upload_timeout)
        if worker.is_alive():
            raise TimeoutError(f"OSS did not answer within {self.upload_timeout:g} s")
        if "error" in outcome:
            raise outcome["error"]
        value: T = outcome["value"]
        return value
