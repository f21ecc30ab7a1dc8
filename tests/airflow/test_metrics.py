"""
Airflow metrics of the transfers, through Airflow's real StatsD path: ``[metrics] statsd_on`` with a
UDP listener on 127.0.0.1 (a free port) that the test starts, Airflow's own Stats factory building
its StatsD client, and the datagrams that arrive asserted by name, type and value.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_oss.hooks.metrics import record_transfer
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.upload import MemoryCheckpointStore, TransferConfig
from airflow_provider_oss.upload.errors import PartUploadError

KiB = 1024
PART = 100 * KiB


class StatsdListener:
    """A UDP socket on 127.0.0.1 collecting StatsD datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.3)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []

    def drain(self) -> list[str]:
        """Every datagram line received until the socket stays quiet for 0.3 s (at most 5 s)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                break
            self.lines += data.decode().splitlines()
        lines, self.lines = self.lines, []
        return lines


def _values(lines: list[str]) -> dict[str, list[tuple[float, str]]]:
    """``name -> [(value, type)]`` of the ``airflow.oss.*`` datagrams (``name:value|type``)."""
    found: dict[str, list[tuple[float, str]]] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        value, _, kind = rest.partition("|")
        if name.startswith("airflow.oss."):
            found.setdefault(name.removeprefix("airflow."), []).append((float(value), kind.split("|")[0]))
    return found


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """Airflow's Stats sending StatsD datagrams to a listener on 127.0.0.1; reset afterwards."""
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    listener = StatsdListener()
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    try:
        yield listener
    finally:
        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
        listener.sock.close()


def test_a_failed_try_and_its_resuming_retry_send_their_counters_and_timer(
    statsd: StatsdListener, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(5 * PART + 7))
    hook = OssHook(oss_connection_env, max_retries=0)
    store = MemoryCheckpointStore()
    config = TransferConfig(part_size=PART, parallelism=1)
    oss_server.add_fault("UploadPart", "reset", part_number=4, times=1)
    with pytest.raises(PartUploadError):
        hook.upload_file(path, "m/f.bin", config=config, checkpoint_store=store)
    failed = _values(statsd.drain())
    assert failed == {"oss.upload.failures": [(1.0, "c")]}

    result = hook.upload_file(path, "m/f.bin", config=config, checkpoint_store=store)
    assert result.resumed and result.parts_reused == 3 and result.parts_sent == 3
    sent = _values(statsd.drain())
    timer = sent.pop("oss.upload.duration")
    assert [kind for _, kind in timer] == ["ms"] and 0 < timer[0][0] < 60_000
    assert sent == {
        "oss.upload.transfers": [(1.0, "c")],
        "oss.upload.bytes_sent": [(float(result.bytes_sent), "c")],
        "oss.upload.bytes_reused": [(float(3 * PART), "c")],
        "oss.upload.parts_sent": [(3.0, "c")],
        "oss.upload.parts_reused": [(3.0, "c")],
        "oss.upload.resumes": [(1.0, "c")],
    }
    assert result.bytes_sent == 2 * PART + 7

    # A retry of the completed upload: nothing sent, counted as already complete.
    again = hook.upload_file(path, "m/f.bin", config=config, checkpoint_store=store)
    assert again.already_complete
    counters = _values(statsd.drain())
    assert counters["oss.upload.already_complete"] == [(1.0, "c")]
    assert counters["oss.upload.bytes_sent"] == [(0.0, "c")]


def test_a_download_or_copy_result_of_the_same_shape_reports_what_it_has(statsd: StatsdListener) -> None:
    class DownloadResult:
        bucket = "b"
        bytes_received = 4096
        parts_reused = 0
        resumed = False
        seconds = 0.25

    record_transfer("download", DownloadResult())
    sent = _values(statsd.drain())
    assert sent == {
        "oss.download.transfers": [(1.0, "c")],
        "oss.download.bytes_received": [(4096.0, "c")],
        "oss.download.parts_reused": [(0.0, "c")],
        "oss.download.duration": [(250.0, "ms")],
    }


def test_a_broken_metrics_backend_never_fails_the_transfer(
    monkeypatch: pytest.MonkeyPatch, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats

    def broken() -> NoStatsLogger:
        raise RuntimeError("statsd exploded")

    stats.initialize(factory=broken, export_legacy_names=False)
    try:
        path = tmp_path / "g.bin"
        path.write_bytes(b"x" * 1000)
        result = OssHook(oss_connection_env).upload_file(path, "m/g.bin")
    finally:
        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
    assert result.size == 1000 and oss_server.object_bytes("test-bucket", "m/g.bin") == b"x" * 1000
