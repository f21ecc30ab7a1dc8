"""
The Airflow-free resumable multipart upload engine.

:class:`ResumableUploader` uploads a file in parallel parts and keeps a :class:`Checkpoint` so that
a new process (an Airflow retry, possibly on another worker) continues the same multipart upload
and sends only the parts OSS does not already hold.
"""

from __future__ import annotations

from airflow_provider_oss.upload.api import UploadAPI
from airflow_provider_oss.upload.checkpoint import Checkpoint, CompletedMark
from airflow_provider_oss.upload.config import (
    TransferConfig,
    TransferConfigError,
    client_config_for_upload,
    recommended_pool_size,
)
from airflow_provider_oss.upload.engine import ResumableUploader
from airflow_provider_oss.upload.errors import (
    CheckpointCorruptError,
    ObjectExistsError,
    PartUploadError,
    SourceChangedError,
    SourceFileError,
    UploadError,
    UploadGoneError,
)
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.plan import (
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    Part,
    PartPlan,
    PartPlanError,
    plan_parts,
)
from airflow_provider_oss.upload.progress import ProgressEvent
from airflow_provider_oss.upload.result import UploadResult
from airflow_provider_oss.upload.stores import (
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
    MemoryCheckpointStore,
)

__all__ = [
    "DEFAULT_PART_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointStore",
    "CompletedMark",
    "FileCheckpointStore",
    "KeyValueCheckpointStore",
    "MemoryCheckpointStore",
    "ObjectExistsError",
    "Part",
    "PartPlan",
    "PartPlanError",
    "PartUploadError",
    "ProgressEvent",
    "ResumableUploader",
    "SourceChangedError",
    "SourceFileError",
    "SourceFingerprint",
    "TransferConfig",
    "TransferConfigError",
    "UploadAPI",
    "UploadError",
    "UploadGoneError",
    "UploadResult",
    "client_config_for_upload",
    "plan_parts",
    "recommended_pool_size",
]
