"""
A pytest plugin loaded (``-p airflow_provider_oss.testing.conformance_plugin``) into an official
SDK's integration suite when ``scripts/conformance.py`` runs it against the local server. It changes
nothing in the suite's code; from environment variables it:

- ``CONFORMANCE_RESOLVE_SUFFIX`` (e.g. ``.localhost``): resolves every host name ending with it to
  127.0.0.1 inside the test process, so virtual-hosted addressing (``<bucket>.oss-local.localhost``)
  reaches the local server without editing ``/etc/hosts``;
- ``CONFORMANCE_V2`` (set for the alibabacloud-oss-v2 suite): its default configuration gets
  ``disable_ssl`` (an endpoint without a scheme is ``http://``, as the buckets' listed endpoints
  are) and, from ``CONFORMANCE_V2_SIGNATURE`` (``v1``/``v4``), its signature version (the suite
  reads no variable for it; oss2's reads ``OSS_TEST_AUTH_VERSION``);
- ``CONFORMANCE_TIMES``: a file where each test's start and end times are written (JSON lines), to
  match the server's request log to the test that sent each request, and, for a failing test, the
  causes of its failure: every exception of the chain (``__cause__``, ``__context__``, the SDKs'
  wrapped errors) with its type, and where it has them its HTTP status, OSS error code, request id
  and the host it tried to reach (:func:`exception_causes`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any
from urllib.parse import urlsplit

_real_getaddrinfo = socket.getaddrinfo


def _install_resolver(suffix: str) -> None:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            name = host.decode("ascii", "replace")
        else:
            name = str(host) if host is not None else ""
        if name.lower().rstrip(".").endswith(suffix.lower()):
            return _real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def _configure_v2(version: str | None) -> None:
    try:
        import alibabacloud_oss_v2.config as v2_config
        from alibabacloud_oss_v2 import defaults
    except ImportError:
        return
    if version:
        defaults.DEFAULT_SIGNATURE_VERSION = version
    real_load_default = v2_config.load_default

    def load_default() -> Any:
        config = real_load_default()
        config.disable_ssl = True  # the local server speaks HTTP: an endpoint without a scheme is http://
        return config

    v2_config.load_default = load_default


def pytest_configure(config: Any) -> None:
    """Apply the settings before the suite imports its clients."""
    suffix = os.environ.get("CONFORMANCE_RESOLVE_SUFFIX")
    if suffix:
        _install_resolver(suffix)
    if os.environ.get("CONFORMANCE_V2"):
        _configure_v2(os.environ.get("CONFORMANCE_V2_SIGNATURE"))


def _record(nodeid: str, event: str, **extra: Any) -> None:
    path = os.environ.get("CONFORMANCE_TIMES")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"nodeid": nodeid, "event": event, "time": time.time(), **extra}) + "\n")


def _linked(exc: BaseException) -> list[BaseException]:
    """The exceptions ``exc`` wraps: its cause and context, and the SDKs' own wrapped errors."""
    linked: list[Any] = [exc.__cause__, exc.__context__]
    unwrap = getattr(exc, "unwrap", None)  # alibabacloud-oss-v2's OperationError and friends
    if callable(unwrap):
        try:
            linked.append(unwrap())
        except Exception:  # a wrapper without a wrapped error
            linked.append(None)
    linked.append(getattr(exc, "exception", None))  # oss2's RequestError keeps the requests error
    linked.append(getattr(exc, "reason", None))  # urllib3's MaxRetryError
    return [item for item in linked if isinstance(item, BaseException)]


def _host_of(exc: BaseException) -> str | None:
    """The host a connection error was trying to reach, from the attributes requests/urllib3 set."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if isinstance(url, str) and url:
        return urlsplit(url).hostname
    for name in ("conn", "pool", None):  # urllib3 2 deprecates .pool where it has .conn: ask .conn first
        holder = getattr(exc, name, None) if name else exc
        host = getattr(holder, "host", None)
        if isinstance(host, str) and host:
            return host
    return None


def exception_causes(exc: BaseException, limit: int = 20) -> list[dict[str, Any]]:
    """
    Every exception of the chain that ``exc`` heads, as JSON-able records: ``type``
    (``module.QualName``), and when the exception carries them ``status``, ``code``,
    ``request_id`` (an OSS error of either SDK; ``code`` also an aliyunsdkcore error code) and
    ``host`` (a connection error).
    """
    causes: list[dict[str, Any]] = []
    seen: set[int] = set()
    pending = [exc]
    while pending and len(causes) < limit:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        kind = type(current)
        cause: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}"}
        status = getattr(current, "status_code", None) or getattr(current, "status", None)
        if isinstance(status, int):
            cause["status"] = status
        # ``code``: an OSS error code (either SDK) or an aliyunsdkcore ``error_code`` (SDK.HttpError...)
        for name, attribute in (("code", "code"), ("code", "error_code"), ("request_id", "request_id")):
            value = getattr(current, attribute, None)
            if isinstance(value, str) and value and name not in cause:
                cause[name] = value
        host = _host_of(current)
        if host:
            cause["host"] = host
        causes.append(cause)
        pending.extend(_linked(current))
    return causes


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    """Note when a test starts (setup included)."""
    _record(nodeid, "start")


def pytest_runtest_makereport(item: Any, call: Any) -> None:
    """Note the causes of a test's failure (setup, call or teardown; never a skip)."""
    excinfo = call.excinfo
    if excinfo is None or excinfo.typename in ("Skipped", "SkipTest", "XFailed"):
        return
    _record(item.nodeid, "failure", phase=call.when, causes=exception_causes(excinfo.value))


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    """Note when a test ends (teardown included)."""
    _record(nodeid, "finish")
