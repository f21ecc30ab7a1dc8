"""``oss://`` asset URIs (Airflow's sanitiser from our provider info) and hook lineage from OssHook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer


def test_asset_uris_are_checked_and_normalised() -> None:
    from airflow.sdk import Asset

    assert Asset("oss://my-bucket/data/2026/part-0.csv").uri == "oss://my-bucket/data/2026/part-0.csv"
    assert Asset("OSS://my-bucket").uri == "oss://my-bucket/"
    assert Asset("oss://my-bucket").uri == Asset("oss://my-bucket/").uri
    for bad, message in [
        ("oss:///key", "needs a bucket"),
        ("oss://My_Bucket/key", "Invalid bucket name 'My_Bucket'"),
        ("oss://oss_default@bucket/key", "no connection id, credentials or port"),
        ("oss://bucket/key?versionId=1", "no query or fragment"),
    ]:
        with pytest.raises(ValueError, match=message):
            Asset(bad)


def test_asset_factory() -> None:
    from airflow_provider_oss.assets.oss import create_asset

    asset = create_asset(bucket="b-1", key="a/b.csv", extra={"k": "v"})
    assert (asset.uri, asset.extra) == ("oss://b-1/a/b.csv", {"k": "v"})


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real HookLineageCollector (Airflow gives a no-op one unless a lineage reader is installed)."""
    from airflow.sdk import lineage

    real = lineage.HookLineageCollector()
    monkeypatch.setattr(lineage, "get_hook_lineage_collector", lambda: real)
    yield real


def test_hook_reports_what_it_reads_writes_and_copies(
    oss_server: LocalOssServer, oss_connection_env: str, collector: Any
) -> None:
    oss_server.create_bucket("other-bucket")
    hook = OssHook()
    hook.load_string("v", "in/a.txt")
    hook.read_key("in/a.txt")
    hook.copy_object("in/a.txt", "oss://other-bucket/out/a.txt")
    with pytest.raises(Exception, match="NoSuchKey"):
        hook.read_bytes("in/missing")  # a failed read reports nothing
    collected = collector.collected_assets
    inputs = [entry.asset.uri for entry in collected.inputs]
    outputs = [entry.asset.uri for entry in collected.outputs]
    assert inputs == ["oss://test-bucket/in/a.txt"]  # read and copy source: one asset, counted twice
    assert [entry.count for entry in collected.inputs] == [2]
    assert sorted(outputs) == ["oss://other-bucket/out/a.txt", "oss://test-bucket/in/a.txt"]
    assert all(entry.context is hook for entry in collected.inputs + collected.outputs)
