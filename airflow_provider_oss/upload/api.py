"""
:class:`UploadAPI`: the OSS calls the upload engine makes, and nothing else.

The engine, its recovery and its part sender depend on this protocol rather than on
:class:`~airflow_provider_oss.core.client.OssClient` (as alibabacloud-oss-v2's uploader depends on
its ``UploadAPIClient``), so that their decisions can be tested with a small fake as well as against
the local server. ``OssClient`` satisfies it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from airflow_provider_oss.core.callback import UploadCallback
    from airflow_provider_oss.core.client_config import ClientConfig
    from airflow_provider_oss.core.models import (
        CompletedUpload,
        MultipartUploadInfo,
        ObjectInfo,
        ObjectOptions,
        PartInfo,
        PutObjectResult,
        UploadedPart,
    )

Body = bytes | bytearray | memoryview


class UploadAPI(Protocol):
    """
    The client calls of an upload. Each raises the client's errors (``OssNotFoundError`` with code
    ``NoSuchUpload`` or ``NoSuchKey``, ``OssPreconditionError`` with code ``FileAlreadyExists``,
    ``CrcMismatchError`` when OSS's CRC-64 differs from the one given, ``CallbackFailedError`` when
    the object was stored but its upload callback failed) and retries transient failures itself.
    """

    #: The client's settings (the engine reads ``pool_size`` to warn about a pool too small).
    config: ClientConfig

    def put_object(
        self,
        bucket: str,
        key: str,
        data: Body,
        *,
        options: ObjectOptions | None = None,
        crc64: int | None = None,
        forbid_overwrite: bool = False,
        callback: UploadCallback | None = None,
    ) -> PutObjectResult:
        """PutObject, checked against ``crc64``."""
        ...

    def initiate_multipart_upload(
        self, bucket: str, key: str, *, options: ObjectOptions | None = None
    ) -> str:
        """InitiateMultipartUpload; returns the upload ID."""
        ...

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        data: Body,
        *,
        crc64: int | None = None,
        traffic_limit: int | None = None,
    ) -> UploadedPart:
        """UploadPart, checked against ``crc64`` (``CrcMismatchError`` carries OSS's value)."""
        ...

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]],
        *,
        expected_crc64: int | None = None,
        expected_size: int | None = None,
        forbid_overwrite: bool = False,
        callback: UploadCallback | None = None,
    ) -> CompletedUpload:
        """CompleteMultipartUpload from ``(part number, ETag)`` pairs, checked against ``expected_crc64``."""
        ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """AbortMultipartUpload."""
        ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> Iterable[PartInfo]:
        """ListParts, every page."""
        ...

    def list_multipart_uploads(self, bucket: str, *, prefix: str = "") -> Iterable[MultipartUploadInfo]:
        """ListMultipartUploads under ``prefix``, every page."""
        ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """HeadObject."""
        ...
