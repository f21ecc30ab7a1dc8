"""
A small in-memory implementation of :class:`~airflow_provider_oss.upload.api.UploadAPI`, to test the
engine's decisions call by call (the real-server tests prove the bytes on the wire).

It keeps objects and in-progress uploads, checks CRC-64s as OSS does, records every call, and lets a
test inject a failure before any call (``fail``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.client_config import ClientConfig
from airflow_provider_oss.core.errors import (
    CrcMismatchError,
    OssNotFoundError,
    OssPreconditionError,
)
from airflow_provider_oss.core.models import (
    CompletedUpload,
    MultipartUploadInfo,
    ObjectInfo,
    ObjectOptions,
    PartInfo,
    PutObjectResult,
    UploadedPart,
)
from airflow_provider_oss.upload.api import Body


def no_such_upload() -> OssNotFoundError:
    return OssNotFoundError(status=404, code="NoSuchUpload", message="The upload does not exist.")


def file_already_exists() -> OssPreconditionError:
    return OssPreconditionError(
        status=409, code="FileAlreadyExists", message="The object exists.", request_id="R1"
    )


@dataclass
class FakeUpload:
    key: str
    options: ObjectOptions | None
    parts: dict[int, tuple[bytes, str]] = field(default_factory=dict)  # number -> (bytes, etag)


@dataclass
class FakeObject:
    data: bytes
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


class FakeUploadAPI:
    """
    In-memory OSS for one bucket's uploads.

    :param pool_size: the ``config.pool_size`` the engine sees.
    """

    def __init__(self, pool_size: int = 16) -> None:
        self.config = ClientConfig(region="cn-hangzhou", pool_size=pool_size)
        self.objects: dict[tuple[str, str], FakeObject] = {}
        self.uploads: dict[str, FakeUpload] = {}
        self.calls: list[tuple[str, ...]] = []
        #: Called with (operation, *arguments) before each call; may raise to inject a failure.
        self.fail: Callable[..., None] = lambda op, *args: None
        #: Part number -> CRC-64 that "OSS" reports instead of the real one (damage on the way).
        self.damage: dict[int, int] = {}
        #: When False, CompleteMultipartUpload answers without a CRC-64 (as some compatible servers do).
        self.complete_reports_crc = True
        self._ids = (f"UPLOAD{n:04d}" for n in itertools.count(1))

    # -- helpers for tests ------------------------------------------------------------------------

    def ops(self, name: str) -> list[tuple[str, ...]]:
        """The recorded calls of one operation."""
        return [c for c in self.calls if c[0] == name]

    def _record(self, op: str, *args: str) -> None:
        self.calls.append((op, *args))
        self.fail(op, *args)

    # -- UploadAPI ----------------------------------------------------------------------------------

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
        self._record("PutObject", key)
        if forbid_overwrite and (bucket, key) in self.objects:
            raise file_already_exists()
        payload = bytes(data)
        self.objects[(bucket, key)] = FakeObject(payload, *self._headers(options))
        return PutObjectResult(etag=f"etag-{key}", crc64=crc.crc64(payload), request_id="R")

    def initiate_multipart_upload(
        self, bucket: str, key: str, *, options: ObjectOptions | None = None
    ) -> str:
        self._record("InitiateMultipartUpload", key)
        upload_id = next(self._ids)
        self.uploads[upload_id] = FakeUpload(key, options)
        return upload_id

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
        self._record("UploadPart", key, upload_id, str(part_number))
        upload = self._upload(upload_id)
        payload = bytes(data)
        server = self.damage.pop(part_number, crc.crc64(payload))
        etag = f"etag-{upload_id}-{part_number}-{server}"
        upload.parts[part_number] = (payload, etag)
        local = crc64 if crc64 is not None else crc.crc64(payload)
        if server != local:
            raise CrcMismatchError(
                "damaged", local_crc=local, server_crc=server, key=key, part_number=part_number
            )
        return UploadedPart(part_number=part_number, etag=etag, size=len(payload), crc64=local)

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
        self._record("CompleteMultipartUpload", key, upload_id)
        upload = self._upload(upload_id)
        if forbid_overwrite and (bucket, key) in self.objects:
            raise file_already_exists()
        data = b"".join(upload.parts[number][0] for number, _ in sorted(parts))
        del self.uploads[upload_id]
        self.objects[(bucket, key)] = FakeObject(data, *self._headers(upload.options))
        value = crc.crc64(data)
        if expected_crc64 is not None and value != expected_crc64:
            raise CrcMismatchError("damaged", local_crc=expected_crc64, server_crc=value, key=key)
        return CompletedUpload(
            bucket=bucket,
            key=key,
            etag=f"etag-{key}",
            crc64=value if self.complete_reports_crc else None,
            request_id="R",
        )

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._record("AbortMultipartUpload", key, upload_id)
        self._upload(upload_id)
        del self.uploads[upload_id]

    def list_parts(self, bucket: str, key: str, upload_id: str) -> Iterator[PartInfo]:
        self._record("ListParts", key, upload_id)
        upload = self._upload(upload_id)
        for number in sorted(upload.parts):
            payload, etag = upload.parts[number]
            yield PartInfo(number, etag, len(payload), crc.crc64(payload), None)

    def list_multipart_uploads(self, bucket: str, *, prefix: str = "") -> list[MultipartUploadInfo]:
        self._record("ListMultipartUploads", prefix)
        now = datetime.now(timezone.utc)
        return [
            MultipartUploadInfo(u.key, uid, now)
            for uid, u in self.uploads.items()
            if u.key.startswith(prefix)
        ]

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        self._record("HeadObject", key)
        found = self.objects.get((bucket, key))
        if found is None:
            raise OssNotFoundError(status=404, code="NoSuchKey", message="no such key")
        return ObjectInfo(
            key=key,
            size=len(found.data),
            etag=f"etag-{key}",
            crc64=crc.crc64(found.data),
            last_modified=None,
            content_type=found.content_type,
            storage_class="Standard",
            metadata=dict(found.metadata),
        )

    def _upload(self, upload_id: str) -> FakeUpload:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise no_such_upload()
        return upload

    @staticmethod
    def _headers(options: ObjectOptions | None) -> tuple[str, dict[str, str]]:
        if options is None:
            return "application/octet-stream", {}
        meta = {k.lower(): v for k, v in options.metadata.items()}
        return options.content_type or "application/octet-stream", meta
