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
  match the server's request log to the test that sent each request.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

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


def _record(nodeid: str, event: str) -> None:
    path = os.environ.get("CONFORMANCE_TIMES")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"nodeid": nodeid, "event": event, "time": time.time()}) + "\n")


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    """Note when a test starts (setup included)."""
    _record(nodeid, "start")


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    """Note when a test ends (teardown included)."""
    _record(nodeid, "finish")
