"""
The Airflow-free resumable download: an object to a local file in parallel ranged GETs, CRC-64
verified, written under a temporary name and renamed only when verified, resumable across processes
through a checkpoint kept in the upload's stores. See docs/DOWNLOADS.md.
"""

from __future__ import annotations

from airflow_provider_oss.download.engine import ResumableDownloader
from airflow_provider_oss.download.errors import (
    DestinationError,
    DownloadError,
    DownloadInProgressError,
    ObjectChangedError,
    RangeFetchError,
)
from airflow_provider_oss.download.partfile import temp_path_for
from airflow_provider_oss.download.record import DownloadCheckpoint, ObjectIdentity
from airflow_provider_oss.download.result import DownloadResult
from airflow_provider_oss.download.store import STATE_STORE_KEY, DownloadCheckpointStore, file_store

__all__ = [
    "STATE_STORE_KEY",
    "DestinationError",
    "DownloadCheckpoint",
    "DownloadCheckpointStore",
    "DownloadError",
    "DownloadInProgressError",
    "DownloadResult",
    "ObjectChangedError",
    "ObjectIdentity",
    "RangeFetchError",
    "ResumableDownloader",
    "file_store",
    "temp_path_for",
]
