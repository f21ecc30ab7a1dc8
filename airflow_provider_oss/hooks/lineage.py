"""
Hook lineage for OSS: the hook reports what it read and wrote to Airflow's hook lineage collector
(which OpenLineage and other readers consume), as the Amazon provider's S3Hook does.
"""

from __future__ import annotations

from typing import Any


def _collector() -> Any:
    try:
        from airflow.sdk import lineage
    except ImportError:  # pragma: no cover - Airflow 3.0 keeps it in the core package
        from airflow.lineage import hook as lineage  # type: ignore[attr-defined,no-redef,unused-ignore]
    return lineage.get_hook_lineage_collector()


def record_input(context: Any, bucket: str, key: str) -> None:
    """Report that ``context`` (a hook) read ``oss://bucket/key``."""
    _collector().add_input_asset(context=context, scheme="oss", asset_kwargs={"bucket": bucket, "key": key})


def record_output(context: Any, bucket: str, key: str) -> None:
    """Report that ``context`` (a hook) wrote ``oss://bucket/key``."""
    _collector().add_output_asset(context=context, scheme="oss", asset_kwargs={"bucket": bucket, "key": key})
