"""
:class:`ObjectMatch`: whether the object in OSS already is the source file (its size, CRC-64 and
the requested object options), so that a run sends nothing; and :func:`options_digest`, the
fingerprint of those options that a checkpoint records.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core import crc64 as crc
from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint

if TYPE_CHECKING:
    from airflow_provider_oss.core.models import ObjectInfo, ObjectOptions
    from airflow_provider_oss.upload.api import UploadAPI

LoggerLike = logging.Logger | logging.LoggerAdapter[Any]

#: Seconds of slack when comparing an object's Last-Modified (whole seconds) with a file's mtime.
_LAST_MODIFIED_SLACK = 2.0


def options_digest(options: ObjectOptions | None) -> str:
    """SHA-256 over the headers that ``options`` sends at initiate (``{}`` when None)."""
    headers = options.to_headers() if options is not None else {}
    pairs = sorted((str(k).lower(), str(v)) for k, v in headers.items())
    text = json.dumps(pairs, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ObjectMatch:
    """
    Compare the object at ``bucket``/``key`` with the source file.

    :param client: the OSS calls.
    :param bucket: the bucket.
    :param key: the object key.
    :param filename: the absolute path of the source file.
    :param options: the object options of this run (None: any options match).
    :param logger: where to log why an object does not match.
    """

    def __init__(
        self,
        client: UploadAPI,
        bucket: str,
        key: str,
        filename: str,
        *,
        options: ObjectOptions | None,
        logger: LoggerLike,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.filename = filename
        self.options = options
        self.logger = logger
        self.target = f"oss://{bucket}/{key}"

    def existing_object_is_file(self, fingerprint: SourceFingerprint) -> ObjectInfo | None:
        """
        Before a fresh upload: the object's info when the key already holds this very file (a re-run
        of a completed task, a try killed right after completing), else None.

        One HEAD; the file is read (once, for its CRC-64) only when the object has the file's size and
        was written after the file was last modified, as a copy of this file must have been.
        """
        try:
            info = self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        if info.size != fingerprint.size or info.crc64 is None:
            return None
        modified = fingerprint.mtime_ns / 1e9
        # Last-Modified has whole seconds: a copy written within the second the file was saved must pass.
        if (
            info.last_modified is not None
            and info.last_modified.timestamp() + _LAST_MODIFIED_SLACK < modified
        ):
            return None  # older than the file: not a copy of this version of it
        found = self.object_equal_to_file(fingerprint, known=info)
        if found is not None:
            self.logger.info(
                "%s already holds this file (%d bytes, CRC-64 %s): nothing to send.",
                self.target,
                found.size,
                found.crc64,
            )
        return found

    def object_equal_to_file(  # noqa: PLR0911  # each early return is one reason the object is not the file
        self,
        fingerprint: SourceFingerprint,
        expected_crc: int | None = None,
        *,
        known: ObjectInfo | None = None,
    ) -> ObjectInfo | None:
        """
        The object's info when it exists with the file's size and CRC-64 (and requested options).

        :param known: the object's info from a HEAD just made (else one is made).
        """
        try:
            info = known if known is not None else self.client.head_object(self.bucket, self.key)
        except OssNotFoundError:
            return None
        if info.size != fingerprint.size:
            return None
        if info.crc64 is None:
            self.logger.info(
                "%s exists with the file's size but OSS reports no CRC-64 for it, so it cannot be verified.",
                self.target,
            )
            return None
        if not self.options_match(info):
            return None
        if expected_crc is None:
            self.logger.info(
                "%s exists with the file's size (%d bytes): computing the file's CRC-64 to compare.",
                self.target,
                fingerprint.size,
            )
            expected_crc = crc.crc64_of_file(self.filename)
            now = SourceFingerprint.of_file(self.filename)
            if fingerprint.differences(now) or (
                fingerprint.ctime_ns is not None and fingerprint.identity_differences(now)
            ):
                return None  # the file changed while it was read
        if info.crc64 != expected_crc:
            self.logger.info(
                "%s exists with the file's size but another CRC-64 (%s, the file's is %s).",
                self.target,
                info.crc64,
                expected_crc,
            )
            return None
        return info

    def options_match(self, info: ObjectInfo) -> bool:
        options = self.options
        if options is None:
            return True
        wanted_type = options.content_type
        if wanted_type and info.content_type not in (None, wanted_type):
            self.logger.info(
                "%s has Content-Type %r, not the requested %r.", self.target, info.content_type, wanted_type
            )
            return False
        have_meta = {str(k).lower(): v for k, v in (info.metadata or {}).items()}
        for name, value in (options.metadata or {}).items():
            if have_meta.get(str(name).lower()) != value:
                self.logger.info("%s lacks the requested metadata %r.", self.target, name)
                return False
        wanted_class = options.storage_class
        have_class = info.storage_class
        if wanted_class and have_class and have_class != wanted_class:
            self.logger.info(
                "%s has storage class %s, not the requested %s.", self.target, have_class, wanted_class
            )
            return False
        return True
