"""Airflow-free OSS client core: nothing in this package imports Airflow."""

from __future__ import annotations

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.core.models import (
    CompletedUpload,
    CopyResult,
    MultipartUploadInfo,
    ObjectInfo,
    ObjectOptions,
    ObjectSummary,
    PartInfo,
    PutObjectResult,
    UploadedPart,
)
from airflow_provider_oss.core.transport import RetryEvent

__all__ = [
    "ClientConfig",
    "CompletedUpload",
    "CopyResult",
    "Credentials",
    "MultipartUploadInfo",
    "ObjectInfo",
    "ObjectOptions",
    "ObjectSummary",
    "OssClient",
    "PartInfo",
    "PutObjectResult",
    "RetryEvent",
    "UploadedPart",
]
