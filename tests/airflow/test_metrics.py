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

from airflow_provider_oss.copy import MemoryCopyCheckpointStore
from airflow_provider_oss.core.errors import OssServiceError
from airflow_provider_oss.download import DownloadCheckpointStore, RangeFetchError
from airflow_provider_oss.download.partfile import PartFile
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


def _tagged_values(lines: list[str]) -> dict[str, list[tuple[float, str, dict[str, str]]]]:
    """``name -> [(value, type, tags)]`` of the ``airflow.oss.*`` datagrams in InfluxDB form (``name,k=v:value|type``)."""
    found: dict[str, list[tuple[float, str, dict[str, str]]]] = {}
    for line in lines:
        stat, _, rest = line.partition(":")
        name, *pairs = stat.split(",")
        value, _, kind = rest.partition("|")
        tags = dict(pair.split("=", 1) for pair in pairs)
        if name.startswith("airflow.oss."):
            found.setdefault(name.removeprefix("airflow."), []).append(
                (float(value), kind.split("|")[0], tags)
            )
    return found


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """Airflow's Stats sending StatsD datagrams to a listener on 127.0.0.1; reset afterwards."""
    yield from _statsd_session(monkeypatch)


@pytest.fixture
def tagged_statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """As :func:`statsd`, with Airflow's InfluxDB tags on, so the ``bucket`` and ``error`` tags arrive too."""
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED", "True")
    yield from _statsd_session(monkeypatch)


def _statsd_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
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


def _without_duration(
    sent: dict[str, list[tuple[float, str, dict[str, str]]]], kind: str
) -> dict[str, float]:
    """The counters of one transfer (``name -> value``), after checking its timer and every tag."""
    timer = sent.pop(f"oss.{kind}.duration")
    assert [(unit, tags) for _, unit, tags in timer] == [("ms", {"bucket": "test-bucket"})]
    assert 0 <= timer[0][0] < 60_000
    counters: dict[str, float] = {}
    for name, values in sent.items():
        [(value, unit, tags)] = values
        assert (unit, tags) == ("c", {"bucket": "test-bucket"}), name
        counters[name] = value
    return counters


def test_a_failed_download_and_its_resuming_retry_send_their_metrics(
    tagged_statsd: StatsdListener, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    data = os.urandom(5 * PART + 7)  # 6 ranges
    hook = OssHook(oss_connection_env, max_retries=0)
    hook.load_bytes(data, "m/d.bin")
    store = DownloadCheckpointStore(MemoryCheckpointStore())
    config = TransferConfig(part_size=PART, parallelism=1)
    destination = tmp_path / "d.bin"
    oss_server.add_fault("GetObject", "reset", nth=4)
    with pytest.raises(RangeFetchError):
        hook.download_file("m/d.bin", destination, config=config, checkpoint_store=store)
    oss_server.clear_faults()
    assert _tagged_values(tagged_statsd.drain()) == {
        "oss.download.failures": [(1.0, "c", {"bucket": "test-bucket", "error": "RangeFetchError"})]
    }

    result = hook.download_file("m/d.bin", destination, config=config, checkpoint_store=store)
    assert destination.read_bytes() == data
    assert result.resumed and (result.ranges_reused, result.ranges_fetched) == (3, 3)
    assert _without_duration(_tagged_values(tagged_statsd.drain()), "download") == {
        "oss.download.transfers": 1.0,
        "oss.download.bytes_received": float(2 * PART + 7),
        "oss.download.bytes_reused": float(3 * PART),
        "oss.download.parts_sent": 3.0,
        "oss.download.parts_reused": 3.0,
        "oss.download.resumes": 1.0,
    }


class _KilledAfterRename(BaseException):
    """A try that dies right after renaming its verified file onto the destination."""


def test_a_download_an_earlier_try_finished_counts_as_already_complete(
    tagged_statsd: StatsdListener,
    oss_server: LocalOssServer,
    oss_connection_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(3 * PART + 11)
    hook = OssHook(oss_connection_env, max_retries=0)
    hook.load_bytes(data, "m/done.bin")
    store = DownloadCheckpointStore(MemoryCheckpointStore())
    config = TransferConfig(part_size=PART, parallelism=1)
    destination = tmp_path / "done.bin"
    commit = PartFile.commit

    def commit_then_die(self: PartFile) -> None:
        commit(self)
        raise _KilledAfterRename

    with monkeypatch.context() as patch:
        patch.setattr(PartFile, "commit", commit_then_die)
        with pytest.raises(_KilledAfterRename):
            hook.download_file("m/done.bin", destination, config=config, checkpoint_store=store)
    tagged_statsd.drain()  # the killed try: a BaseException is no failure of the transfer

    result = hook.download_file("m/done.bin", destination, config=config, checkpoint_store=store)
    assert result.already_complete and destination.read_bytes() == data
    assert _without_duration(_tagged_values(tagged_statsd.drain()), "download") == {
        "oss.download.transfers": 1.0,
        "oss.download.already_complete": 1.0,
        "oss.download.resumes": 1.0,
        "oss.download.bytes_received": 0.0,  # nothing fetched: the renamed file was read back instead
        "oss.download.parts_sent": 0.0,
        "oss.download.bytes_reused": float(len(data)),
        "oss.download.parts_reused": 4.0,
    }


def test_a_failed_copy_and_its_resuming_retry_send_their_metrics(
    tagged_statsd: StatsdListener, oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    data = os.urandom(4 * PART + 5)  # 5 parts
    hook = OssHook(oss_connection_env, max_retries=0)
    hook.load_bytes(data, "m/src.bin")
    store = MemoryCopyCheckpointStore()
    config = TransferConfig(part_size=PART, parallelism=1, multipart_threshold=PART)
    oss_server.add_fault("UploadPartCopy", "status", status=500, nth=3, times=100)
    with pytest.raises(OssServiceError) as caught:
        hook.resumable_copy("m/src.bin", "m/dst.bin", config=config, checkpoint_store=store)
    oss_server.clear_faults()
    assert _tagged_values(tagged_statsd.drain()) == {
        "oss.copy.failures": [(1.0, "c", {"bucket": "test-bucket", "error": type(caught.value).__name__})]
    }

    outcome = hook.resumable_copy("m/src.bin", "m/dst.bin", config=config, checkpoint_store=store)
    assert oss_server.object_bytes("test-bucket", "m/dst.bin") == data
    assert outcome.resumed and (outcome.parts_reused, outcome.parts_copied) == (2, 3)
    assert _without_duration(_tagged_values(tagged_statsd.drain()), "copy") == {
        "oss.copy.transfers": 1.0,
        "oss.copy.parts_sent": 3.0,
        "oss.copy.parts_reused": 2.0,
        "oss.copy.resumes": 1.0,
    }

    # A small source: one CopyObject, one part, nothing resumed.
    hook.load_bytes(b"small", "m/small.bin")
    hook.resumable_copy("m/small.bin", "m/small-copy.bin", config=config)
    assert _without_duration(_tagged_values(tagged_statsd.drain()), "copy") == {
        "oss.copy.transfers": 1.0,
        "oss.copy.parts_sent": 1.0,
        "oss.copy.parts_reused": 0.0,
    }


def test_a_copy_an_earlier_try_completed_counts_as_already_complete(
    tagged_statsd: StatsdListener, oss_server: LocalOssServer, oss_connection_env: str
) -> None:
    hook = OssHook(oss_connection_env, max_retries=0)
    hook.load_bytes(os.urandom(3 * PART), "m/src.bin")
    store = MemoryCopyCheckpointStore()
    config = TransferConfig(part_size=PART, parallelism=1, multipart_threshold=PART)
    # The Complete is applied but its answer is lost: the try fails, its checkpoint stays.
    oss_server.add_fault("CompleteMultipartUpload", "drop_answer")
    with pytest.raises(Exception) as caught:
        hook.resumable_copy("m/src.bin", "m/dst.bin", config=config, checkpoint_store=store)
    oss_server.clear_faults()
    assert _tagged_values(tagged_statsd.drain())["oss.copy.failures"] == [
        (1.0, "c", {"bucket": "test-bucket", "error": type(caught.value).__name__})
    ]
    outcome = hook.resumable_copy("m/src.bin", "m/dst.bin", config=config, checkpoint_store=store)
    assert outcome.method == "already_complete"
    counters = _without_duration(_tagged_values(tagged_statsd.drain()), "copy")
    assert counters["oss.copy.already_complete"] == 1.0 and counters["oss.copy.parts_sent"] == 0.0


def test_a_folder_upload_sends_one_transfer_in_files_and_a_failed_file_fails_it(
    tagged_statsd: StatsdListener, oss_server: LocalOssServer, oss_connection_env: str, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"a" * 1000)
    (folder / "b.txt").write_bytes(b"b" * 2000)
    (folder / "sub" / "c.txt").write_bytes(b"c" * 3000)
    hook = OssHook(oss_connection_env, max_retries=0)

    first = hook.upload_folder(folder, "pre/")
    assert first.ok and oss_server.object_bytes("test-bucket", "pre/sub/c.txt") == b"c" * 3000
    assert _without_duration(_tagged_values(tagged_statsd.drain()), "folder") == {
        "oss.folder.transfers": 1.0,
        "oss.folder.bytes_sent": 6000.0,
        "oss.folder.bytes_skipped": 0.0,
        "oss.folder.files_uploaded": 3.0,
        "oss.folder.files_skipped": 0.0,
        "oss.folder.files_resumed": 0.0,
    }

    (folder / "d.txt").write_bytes(b"d" * 500)
    again = hook.upload_folder(folder, "pre/")
    assert again.ok
    assert _without_duration(_tagged_values(tagged_statsd.drain()), "folder") == {
        "oss.folder.transfers": 1.0,
        "oss.folder.bytes_sent": 500.0,
        "oss.folder.bytes_skipped": 6000.0,
        "oss.folder.files_uploaded": 1.0,
        "oss.folder.files_skipped": 3.0,
        "oss.folder.files_resumed": 0.0,
    }

    (folder / "e.txt").write_bytes(b"e" * 700)
    oss_server.add_fault("PutObject", "status", status=500, key="pre/e.txt", times=100)
    failed = hook.upload_folder(folder, "pre/")
    assert not failed.ok and failed.count("failed") == 1
    assert _tagged_values(tagged_statsd.drain()) == {
        "oss.folder.failures": [(1.0, "c", {"bucket": "test-bucket", "error": "FolderUploadError"})]
    }
