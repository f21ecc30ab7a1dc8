"""
DeleteMultipleObjects: the request body, the answer's parsing, and deleting any number of keys in
batches of at most 1,000 (the OSS limit per request).

A key that OSS did not confirm as deleted is a failure, reported by :class:`OssDeleteError` with
every failed key: the request runs in verbose mode (``Quiet=false``), so a key missing from the
answer's ``<Deleted>`` list is as much a failure as one listed under ``<Error>``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from airflow_provider_oss.core.errors import OssClientError, OssError
from airflow_provider_oss.core.xmlutil import decode_if, find_text, is_url_encoded, parse_xml

#: The most keys one DeleteMultipleObjects request may name.
MAX_DELETE_BATCH = 1000


@dataclass(frozen=True)
class DeleteFailure:
    """
    A key OSS did not delete.

    :param key: the object key.
    :param code: OSS's error code, or ``NotConfirmed`` when the answer did not mention the key.
    :param message: OSS's message.
    """

    key: str
    code: str
    message: str


@dataclass(frozen=True)
class DeleteResult:
    """
    The outcome of a DeleteMultipleObjects request (or of several batches).

    :param deleted: the keys OSS confirmed as deleted (a missing key counts as deleted, as in OSS).
    :param failed: the keys OSS did not delete.
    """

    deleted: list[str] = field(default_factory=list)
    failed: list[DeleteFailure] = field(default_factory=list)


class OssDeleteError(OssError):
    """OSS did not delete some keys; ``failed`` lists them and ``deleted`` what was deleted."""

    def __init__(self, message: str, *, bucket: str, failed: list[DeleteFailure], deleted: list[str]) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.failed = failed
        self.deleted = deleted


def delete_request(
    keys: Sequence[str], version_ids: Sequence[str] | None = None
) -> tuple[bytes, dict[str, str]]:
    """
    The body and headers of one verbose DeleteMultipleObjects request.

    :param keys: 1 to 1,000 keys.
    :param version_ids: the version of each key to delete for good (same length as ``keys``).
    :raises OssClientError: for an empty or too long list.
    """
    if not keys:
        raise OssClientError("DeleteMultipleObjects needs at least one key.")
    if len(keys) > MAX_DELETE_BATCH:
        raise OssClientError(
            f"DeleteMultipleObjects takes at most {MAX_DELETE_BATCH} keys per request; got {len(keys)}."
        )
    versions = (
        [""] * len(keys)
        if version_ids is None
        else [f"<VersionId>{escape(v)}</VersionId>" for v in version_ids]
    )
    objects = "".join(
        f"<Object><Key>{escape(key)}</Key>{version}</Object>"
        for key, version in zip(keys, versions, strict=True)
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet>{objects}</Delete>'.encode()
    digest = hashlib.md5(body, usedforsecurity=False).digest()
    headers = {"Content-MD5": base64.b64encode(digest).decode("ascii"), "Content-Type": "application/xml"}
    return body, headers


def parse_delete_result(requested: Sequence[str], content: bytes) -> DeleteResult:
    """
    Read a DeleteMultipleObjects answer: the confirmed keys, and every requested key that was not.

    :param requested: the keys the request named.
    :param content: the ``DeleteResult`` XML.
    """
    root = parse_xml(content, "DeleteResult")
    encoded = is_url_encoded(root)
    confirmed = {decode_if(find_text(item, "Key"), encoded) for item in root.findall("Deleted")}
    failed: dict[str, DeleteFailure] = {}
    for item in root.findall("Error"):
        key = decode_if(find_text(item, "Key"), encoded)
        failed[key] = DeleteFailure(key, find_text(item, "Code") or "Error", find_text(item, "Message"))
    for key in requested:
        if key not in confirmed and key not in failed:
            failed[key] = DeleteFailure(key, "NotConfirmed", "OSS did not list the key as deleted.")
    deleted = [key for key in requested if key in confirmed and key not in failed]
    return DeleteResult(deleted=deleted, failed=list(failed.values()))


def check_batch_size(batch_size: int) -> None:
    """
    Check a number of keys (or versions) per DeleteMultipleObjects request.

    :raises OssClientError: unless it is an integer in 1..1000.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_DELETE_BATCH
    ):
        raise OssClientError(f"batch_size must be an integer in 1..{MAX_DELETE_BATCH}; got {batch_size!r}.")


def delete_in_batches(
    bucket: str,
    keys: Iterable[str],
    delete_batch: Callable[[list[str]], DeleteResult],
    *,
    batch_size: int = MAX_DELETE_BATCH,
) -> list[str]:
    """
    Delete ``keys`` in batches and return the deleted keys.

    Every batch is sent even when an earlier one had failures, so that one stubborn key does not
    keep the others; the failures of all batches are then raised together.

    :param bucket: the bucket (for the error message).
    :param keys: the keys (an iterable, consumed batch by batch: a listing is never held whole).
    :param delete_batch: sends one DeleteMultipleObjects request.
    :param batch_size: keys per request, 1..1000.
    :raises OssDeleteError: naming the keys OSS did not delete.
    """
    check_batch_size(batch_size)
    deleted: list[str] = []
    failed: list[DeleteFailure] = []
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == batch_size:
            _send(batch, delete_batch, deleted, failed)
            batch = []
    if batch:
        _send(batch, delete_batch, deleted, failed)
    if failed:
        shown = ", ".join(f"{f.key!r} ({f.code}: {f.message})" for f in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise OssDeleteError(
            f"OSS did not delete {len(failed)} of {len(failed) + len(deleted)} key(s) in bucket "
            f"{bucket!r}: {shown}{more}.",
            bucket=bucket,
            failed=failed,
            deleted=deleted,
        )
    return deleted


def _send(
    batch: list[str],
    delete_batch: Callable[[list[str]], DeleteResult],
    deleted: list[str],
    failed: list[DeleteFailure],
) -> None:
    result = delete_batch(batch)
    deleted.extend(result.deleted)
    failed.extend(result.failed)
