"""
The end-to-end CRC-64 check of an uploaded object: the one place where the object that OSS holds is
compared with the local bytes (each part's CRC-64 is checked, once, by the part sender).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.errors import CrcMismatchError

if TYPE_CHECKING:
    from airflow_provider_oss.upload.api import UploadAPI


def verify_object_crc(
    client: UploadAPI,
    bucket: str,
    key: str,
    *,
    reported: int | None,
    expected: int,
    how: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> int:
    """
    Check the object's CRC-64 against the local one and return it.

    :param client: the OSS calls (HeadObject when the write's answer carried no CRC-64).
    :param bucket: the bucket.
    :param key: the object key.
    :param reported: the CRC-64 in the write's answer (PutObject, CompleteMultipartUpload), or None.
    :param expected: the local bytes' CRC-64 (of the file, or combined from its parts).
    :param how: how the object was written, for the message (``"PutObject"``, ``"completed from
        upload ID ..."``).
    :param logger: where to say that an object could not be verified.
    :raises CrcMismatchError: OSS reports another CRC-64: the object is damaged.
    """
    server = reported if reported is not None else client.head_object(bucket, key).crc64
    if server is None:
        logger.warning(
            "OSS reported no CRC-64 for oss://%s/%s: the object could not be verified end to end (each part was).",
            bucket,
            key,
        )
        return expected
    if server != expected:
        raise CrcMismatchError(
            f"oss://{bucket}/{key} was written ({how}), but OSS reports CRC-64 {server} while the local bytes' "
            f"combined CRC-64 is {expected}: the object is damaged. The next try checks it against the file "
            "and uploads again.",
            local_crc=expected,
            server_crc=server,
            key=key,
        )
    return server
