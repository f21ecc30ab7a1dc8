"""
One PutObject for a file below the multipart threshold (and for an empty file): read whole into
memory, CRC-64'd, sent with ``x-oss-forbid-overwrite`` when the object must not be replaced.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import CrcMismatchError, OssPreconditionError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.upload.errors import ObjectExistsError
from airflow_provider_oss.upload.integrity import verify_object_crc

if TYPE_CHECKING:
    from airflow_provider_oss.core.callback import UploadCallback
    from airflow_provider_oss.upload.api import UploadAPI
    from airflow_provider_oss.upload.source import SourceGuard


def put_whole_file(
    client: UploadAPI,
    bucket: str,
    key: str,
    guard: SourceGuard,
    *,
    options: ObjectOptions | None,
    traffic_limit: int | None,
    replace: bool,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    callback: UploadCallback | None = None,
    answers: list[bytes] | None = None,
) -> tuple[str, int]:
    """
    Upload the guarded file in one PutObject and return the object's ``(ETag, CRC-64)``.

    :param client: the OSS calls.
    :param bucket: the bucket.
    :param key: the object key.
    :param guard: the source file and its fingerprint (a short read or a change fails the upload).
    :param options: the object's headers.
    :param traffic_limit: the bandwidth cap in bit/s, or None (PutObject takes it as a header).
    :param replace: when False, OSS refuses to overwrite an existing object, atomically.
    :param logger: where to log.
    :param callback: OSS's upload callback, sent with the PutObject.
    :param answers: receives the callback server's answer body (with ``callback``).
    :raises CallbackFailedError: the object is stored but its callback failed (HTTP 203).
    :raises ObjectExistsError: ``replace=False`` and the key was written just before.
    :raises SourceChangedError: the file changed or read short.
    :raises CrcMismatchError: OSS's CRC-64 of the object differs from the file's.
    """
    size = guard.fingerprint.size
    buffer = bytearray(size)
    view = memoryview(buffer)
    with guard.open() as reader:
        read = reader.read_into(view, 0)
        guard.check_quick(reader, None, extra=[] if read == size else [f"read {read} of {size} bytes"])
    local_crc = crc.crc64(view)
    if traffic_limit is not None:
        options = dataclasses.replace(options or ObjectOptions(), traffic_limit=traffic_limit)
    target = f"oss://{bucket}/{key}"
    logger.info("Uploading %s (%d bytes) to %s in one PutObject.", guard.filename, size, target)
    try:
        result = client.put_object(
            bucket,
            key,
            view,
            options=options,
            crc64=local_crc,
            forbid_overwrite=not replace,
            callback=callback,
        )
        etag, reported = result.etag, result.crc64
        if answers is not None and result.callback_response is not None:
            answers.append(result.callback_response)
    except OssPreconditionError as err:
        if err.code != "FileAlreadyExists":
            raise
        raise ObjectExistsError(
            f"{target} was created by someone else just before this file's PutObject, and "
            f"replace=False: OSS refused to overwrite it (FileAlreadyExists, request ID {err.request_id}). "
            "Delete the object, choose another key, or set replace=True.",
            bucket=bucket,
            key=key,
        ) from err
    except CrcMismatchError as err:
        etag, reported = "", err.server_crc
    verify_object_crc(
        client, bucket, key, reported=reported, expected=local_crc, how="PutObject", logger=logger
    )
    return etag, local_crc
