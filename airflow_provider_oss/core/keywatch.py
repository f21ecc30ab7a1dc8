"""
What the OSS sensors and triggers look for, without Airflow: the objects matching a list of keys or
patterns (one poll), and the quiet period of a prefix that is still being written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.core.errors import OssNotFoundError
from airflow_provider_oss.core.keymatch import fnmatch_keys, literal_prefix
from airflow_provider_oss.core.models import ObjectInfo, ObjectSummary

#: A matched object as the sensors hand it to ``check_fn`` (JSON-serialisable: a trigger event carries it).
ObjectRecord = dict[str, Any]


def object_record(bucket: str, obj: ObjectInfo | ObjectSummary) -> ObjectRecord:
    """
    Describe an object with JSON types: ``bucket``, ``key``, ``size``, ``etag``, ``last_modified``
    (ISO 8601 or None) and ``storage_class``; from a HEAD also ``crc64``, ``content_type`` and
    ``metadata`` (user metadata).
    """
    record: ObjectRecord = {
        "bucket": bucket,
        "key": obj.key,
        "size": obj.size,
        "etag": obj.etag,
        "last_modified": obj.last_modified.isoformat() if obj.last_modified else None,
        "storage_class": obj.storage_class,
    }
    if isinstance(obj, ObjectInfo):
        record.update(crc64=obj.crc64, content_type=obj.content_type, metadata=dict(obj.metadata))
    return record


def find_key(client: OssClient, bucket: str, key: str) -> ObjectRecord | None:
    """
    HEAD one key: its record, or None when OSS says ``NoSuchKey``. Every other error is raised
    (a missing bucket, a wrong secret, access denied), never taken for "not there yet".
    """
    try:
        return object_record(bucket, client.head_object(bucket, key))
    except OssNotFoundError as err:
        if err.code == "NoSuchKey":
            return None
        if err.code:
            raise
    # A bare 404 to a HEAD does not tell a missing key from a missing bucket: ask OSS again.
    if not client.object_exists(bucket, key):
        return None
    return object_record(bucket, client.head_object(bucket, key))


def find_pattern(client: OssClient, bucket: str, pattern: str) -> list[ObjectRecord]:
    """The records of every key matching the :mod:`fnmatch` ``pattern`` (``*`` crosses ``/``)."""
    summaries = {s.key: s for s in client.list_objects_v2(bucket, prefix=literal_prefix(pattern))}
    return [object_record(bucket, summaries[key]) for key in fnmatch_keys(summaries, pattern)]


def find_all(
    client: OssClient, targets: Sequence[tuple[str, str]], *, wildcard: bool
) -> list[ObjectRecord] | None:
    """
    One poll: the matched objects of every ``(bucket, key or pattern)``, or None as soon as one has
    no match (so a sensor waits until all of them exist).
    """
    records: list[ObjectRecord] = []
    for bucket, key in targets:
        if wildcard:
            found = find_pattern(client, bucket, key)
            if not found:
                return None
            records.extend(found)
        else:
            record = find_key(client, bucket, key)
            if record is None:
                return None
            records.append(record)
    return records


#: What the keys-unchanged watch compares between polls: key -> ``(size, ETag)``.
PrefixState = dict[str, tuple[int, str]]


def prefix_state(client: OssClient, bucket: str, prefix: str) -> PrefixState:
    """Every object under ``prefix`` (all pages): key -> ``(size, ETag)``."""
    return {s.key: (s.size, s.etag) for s in client.list_objects_v2(bucket, prefix=prefix)}


@dataclass
class InactivityTracker:
    """
    Decides when a prefix has stopped changing, as S3KeysUnchangedSensor does, but an object
    rewritten in place (new size or ETag) counts as activity too.

    :param inactivity_period: seconds without any change before the prefix counts as complete.
    :param min_objects: the fewest objects that may count as complete.
    :param allow_delete: when False, an object disappearing between polls raises.
    :param previous: the objects (key -> ``(size, etag)``) known before the first poll.
    :param clock: the time source (monotonic seconds).
    """

    inactivity_period: float
    min_objects: int = 1
    allow_delete: bool = True
    previous: PrefixState | None = None
    clock: Callable[[], float] = time.monotonic
    last_activity: float | None = field(default=None, init=False)

    def observe(self, current: PrefixState) -> tuple[bool, str]:
        """
        Record one poll; return ``(complete, why)``.

        :raises RuntimeError: when an object was deleted and ``allow_delete`` is False.
        """
        now = self.clock()
        if self.previous is None:
            self.previous, self.last_activity = current, now
            return (
                False,
                f"first observation: {len(current)} object(s); waiting for {self.inactivity_period:g} s of quiet",
            )
        gone = sorted(set(self.previous) - set(current))
        if gone and not self.allow_delete:
            raise RuntimeError(
                f"{len(gone)} object(s) were deleted while waiting (e.g. {gone[:3]}) and allow_delete=False."
            )
        if current != self.previous:
            added = len(set(current) - set(self.previous))
            changed = sum(1 for k in set(current) & set(self.previous) if current[k] != self.previous[k])
            self.previous, self.last_activity = current, now
            return (
                False,
                f"activity: {added} new, {changed} rewritten, {len(gone)} deleted; the quiet period restarts",
            )
        if self.last_activity is None:
            self.last_activity = now
        quiet = now - self.last_activity
        if quiet < self.inactivity_period:
            return (
                False,
                f"{len(current)} object(s), unchanged for {quiet:.0f} of {self.inactivity_period:g} s",
            )
        if len(current) < self.min_objects:
            return (
                False,
                f"quiet for {quiet:.0f} s but only {len(current)} of min_objects={self.min_objects} object(s)",
            )
        return True, f"{len(current)} object(s) unchanged for {quiet:.0f} s"
