"""
Append calls of the OSS client: AppendObject, and the append of a growing local file (a task log)
that never overwrites what the object already holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.client_base import check_crc_arg, check_object
from airflow_provider_oss.core.client_objects import ObjectCalls
from airflow_provider_oss.core.errors import OssClientError, OssNotFoundError, OssServiceError
from airflow_provider_oss.core.models import ObjectInfo

#: OSS's answer to an append at a position that is not the object's length.
POSITION_NOT_EQUAL = "PositionNotEqualToLength"
#: OSS's answer to an append to a Normal or Multipart object (written by PutObject or a multipart upload).
NOT_APPENDABLE = "ObjectNotAppendable"


@dataclass(frozen=True)
class AppendResult:
    """
    The result of AppendObject.

    :param next_position: the object's length after the append (the next append's position).
    :param crc64: the whole object's CRC-64 after the append.
    """

    next_position: int
    crc64: int | None


@dataclass(frozen=True)
class FileAppendResult:
    """
    The result of :meth:`AppendCalls.append_file`.

    :param appended: bytes added to the object (0 when it already held the whole file).
    :param size: the object's length afterwards.
    :param continued: the object already held the file's first bytes, so only the rest was added;
        False when the object was new or held other bytes (which are kept, the file going after them).
    """

    appended: int
    size: int
    continued: bool


class AppendCalls(ObjectCalls):
    """AppendObject, and :meth:`append_file` (a growing file kept in one appendable object)."""

    def append_object(
        self, bucket: str, key: str, data: bytes, *, position: int, object_crc64: int | None = None
    ) -> AppendResult:
        """
        Append ``data`` to an ``Appendable`` object at ``position`` (0 creates the object).

        An append whose answer was lost and that was sent again finds the object already longer
        (``PositionNotEqualToLength``); it is taken as done only when a HEAD shows the expected
        length and CRC-64.

        :param bucket: the bucket.
        :param key: the object key.
        :param data: the bytes to add.
        :param position: the object's current length (OSS refuses any other).
        :param object_crc64: the CRC-64 of the object's first ``position`` bytes, when known: the
            answer's CRC-64 of the whole object is then checked against it combined with ``data``'s.
        :raises OssServiceError: ``ObjectNotAppendable`` for an object written by PutObject or a
            multipart upload; ``PositionNotEqualToLength`` when ``position`` is not its length.
        :raises CrcMismatchError: when OSS's CRC-64 differs from the expected one.
        """
        check_object(bucket, key)
        check_crc_arg("object_crc64", object_crc64)
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise OssClientError(f"position must be a non-negative integer; got {position!r}.")
        expected = self._appended_crc(position, object_crc64, data)
        query = [("append", ""), ("position", str(position))]
        try:
            response = self._transport.send("POST", bucket, key, query=query, body=data, op="AppendObject")
        except OssServiceError as err:
            if err.code != POSITION_NOT_EQUAL:
                raise
            return self._append_already_done(bucket, key, position + len(data), expected, err)
        if expected is None:
            server = crc64_mod.parse_crc(response.headers.get("x-oss-hash-crc64ecma"))
        else:
            _, server = self._check_write_answer("AppendObject", expected, response, bucket, key)
        next_position = response.headers.get("x-oss-next-append-position", "")
        return AppendResult(
            next_position=int(next_position) if next_position.isdigit() else position + len(data),
            crc64=server,
        )

    @staticmethod
    def _appended_crc(position: int, object_crc64: int | None, data: bytes) -> int | None:
        if position == 0:
            return crc64_mod.crc64(data)
        if object_crc64 is None:
            return None
        return crc64_mod.combine(object_crc64, crc64_mod.crc64(data), len(data))

    def _append_already_done(
        self, bucket: str, key: str, length: int, expected: int | None, err: OssServiceError
    ) -> AppendResult:
        info = self.head_object(bucket, key)
        if info.size == length and expected is not None and info.crc64 == expected:
            return AppendResult(next_position=length, crc64=info.crc64)
        raise err

    def append_file(self, bucket: str, key: str, path: str | os.PathLike[str]) -> FileAppendResult:
        """
        Keep a growing local file in one appendable object, never overwriting the object.

        When the object already holds the file's first bytes (same length prefix, same CRC-64),
        only the rest is appended; when it holds other bytes (the file was written anew on another
        machine), the whole file is appended after them. An object written by PutObject (not
        appendable) is rewritten as its own bytes followed by the file's.

        :param bucket: the bucket.
        :param key: the object key.
        :param path: the local file.
        :raises FileNotFoundError: when the file does not exist.
        """
        check_object(bucket, key)
        data = _read_file(path)
        info = self._head_or_none(bucket, key)
        if info is None:
            self.append_object(bucket, key, data, position=0)
            return FileAppendResult(appended=len(data), size=len(data), continued=False)
        start = info.size if _starts_with_object(data, info) else 0
        tail = data[start:]
        if not tail:
            return FileAppendResult(appended=0, size=info.size, continued=True)
        try:
            result = self.append_object(bucket, key, tail, position=info.size, object_crc64=info.crc64)
        except OssServiceError as err:
            if err.code != NOT_APPENDABLE:
                raise
            self.put_object(bucket, key, self.get_object(bucket, key) + tail)
            return FileAppendResult(appended=len(tail), size=info.size + len(tail), continued=start > 0)
        return FileAppendResult(appended=len(tail), size=result.next_position, continued=start > 0)

    def _head_or_none(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            return self.head_object(bucket, key)
        except OssNotFoundError as err:
            if err.code in ("NoSuchKey", ""):
                # A HEAD's 404 has no body; a missing bucket then fails the append with NoSuchBucket.
                return None
            raise

    def read_text(self, bucket: str, key: str) -> str | None:
        """
        An object's bytes as UTF-8 text (undecodable bytes replaced), or None when the key does
        not exist. A missing bucket, access denied or an unreachable endpoint are raised.

        :param bucket: the bucket.
        :param key: the object key.
        """
        check_object(bucket, key)
        try:
            return self.get_object(bucket, key).decode("utf-8", errors="replace")
        except OssNotFoundError as err:
            if err.code == "NoSuchKey":
                return None
            raise


def _read_file(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as source:
        return source.read()


def _starts_with_object(data: bytes, info: ObjectInfo) -> bool:
    return (
        info.size <= len(data) and info.crc64 is not None and crc64_mod.crc64(data[: info.size]) == info.crc64
    )
