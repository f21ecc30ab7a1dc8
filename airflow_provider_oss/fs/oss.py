"""
Airflow's ``filesystems`` entry for the ``oss`` scheme: ``ObjectStoragePath("oss://bucket/key",
conn_id="oss_default")`` gets an :class:`~airflow_provider_oss.fs.filesystem.OssFileSystem` on the
connection's client.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_oss.fs.filesystem import OssFileSystem
from airflow_provider_oss.hooks.oss import OssHook

#: The URL schemes this module serves (read by Airflow's filesystem registry).
schemes = ["oss"]


def get_fs(conn_id: str | None, storage_options: dict[str, Any] | None = None) -> OssFileSystem:
    """
    Return the filesystem for ``conn_id`` (``oss_default`` when None).

    :param conn_id: the ``oss`` connection.
    :param storage_options: ``block_size`` (bytes per ranged read and uploaded part, >= 100 KiB).
    """
    options = dict(storage_options or {})
    block_size = options.pop("block_size", None)
    if options:
        raise ValueError(f"Unknown storage option(s) {sorted(options)} for oss://; known: ['block_size'].")
    client = OssHook(conn_id or OssHook.default_conn_name).get_client()
    return OssFileSystem(client) if block_size is None else OssFileSystem(client, block_size=block_size)
