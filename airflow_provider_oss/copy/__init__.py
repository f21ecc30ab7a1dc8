"""
Server-side copy within and across buckets (Airflow-free): one CopyObject for a small source,
parallel UploadPartCopy for a big one, resumable across retries through a checkpoint, pinned to the
source's version and CRC-64 checked. See :class:`~airflow_provider_oss.copy.engine.ServerSideCopier`.
"""

from __future__ import annotations

from airflow_provider_oss.copy.calls import MAX_SINGLE_COPY, SourceObject
from airflow_provider_oss.copy.checkpoint import CopyCheckpoint
from airflow_provider_oss.copy.engine import ServerSideCopier
from airflow_provider_oss.copy.errors import (
    CopyDestinationError,
    CopyError,
    CopySourceChangedError,
    CopySourceMissingError,
)
from airflow_provider_oss.copy.result import CopyOutcome
from airflow_provider_oss.copy.stores import (
    COPY_STATE_KEY,
    CopyCheckpointStore,
    CopyDiscoveryStore,
    FileCopyCheckpointStore,
    KeyValueCopyCheckpointStore,
    MemoryCopyCheckpointStore,
)

__all__ = [
    "COPY_STATE_KEY",
    "MAX_SINGLE_COPY",
    "CopyCheckpoint",
    "CopyCheckpointStore",
    "CopyDestinationError",
    "CopyDiscoveryStore",
    "CopyError",
    "CopyOutcome",
    "CopySourceChangedError",
    "CopySourceMissingError",
    "FileCopyCheckpointStore",
    "KeyValueCopyCheckpointStore",
    "MemoryCopyCheckpointStore",
    "ServerSideCopier",
    "SourceObject",
]
