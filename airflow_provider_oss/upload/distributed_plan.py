"""
The values a distributed upload passes between its tasks (by XCom): the plan, its part ranges and
what each range task did. Each is JSON-ready and parsed strictly, so that a range task handed a
value from another plan, another upload or another part size refuses it before sending anything.

A :class:`DistributedPlan` names one multipart upload (bucket, key, upload ID), the source file
(absolute path and :class:`~airflow_provider_oss.upload.fingerprint.SourceFingerprint`) and how it
is cut (part size; the part plan is :func:`~airflow_provider_oss.upload.plan.plan_parts`'s). Its
:attr:`~DistributedPlan.digest` ties every :class:`PartRange` and :class:`RangeResult` to it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_provider_oss.upload.errors import UploadError
from airflow_provider_oss.upload.fingerprint import SourceFingerprint
from airflow_provider_oss.upload.plan import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, Part, PartPlan

__all__ = [
    "DistributedPlan",
    "DistributedPlanError",
    "PartRange",
    "RangePlan",
    "RangeResult",
    "split_ranges",
]

#: The format of the plan this code writes and reads.
PLAN_FORMAT = 1
_UPLOAD_ID_RE = re.compile(r"^[\x21-\x7e]{1,1024}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


class DistributedPlanError(UploadError, ValueError):
    """A plan, range or range result that does not belong together (or is malformed): nothing was sent."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fields(data: Any, what: str, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DistributedPlanError(
            f"{what} must be a JSON object (the XCom of the plan task); got {data!r:.200}."
        )
    if sorted(data) != sorted(names):
        raise DistributedPlanError(
            f"{what} must have exactly the fields {', '.join(names)}; got {', '.join(map(str, sorted(data)))}. "
            "Pass the XCom of this provider's plan task unchanged."
        )
    return data


def _int_field(data: dict[str, Any], name: str, what: str, low: int, high: int) -> int:
    value = data[name]
    if not _is_int(value) or not low <= value <= high:
        raise DistributedPlanError(f"{what}: {name} must be an int from {low} to {high}; got {value!r}.")
    return int(value)


def _str_field(data: dict[str, Any], name: str, what: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data[name]
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        raise DistributedPlanError(f"{what}: {name} must be a valid non-empty string; got {value!r:.100}.")
    return value


@dataclass(frozen=True)
class RangePlan(PartPlan):
    """
    The parts ``first_part..last_part`` of a file's :class:`PartPlan`: iterating, ``in`` and
    ``len`` cover the range only, so the engine's part sender sends (and reuses) only those.

    :param first_part: the range's first part number.
    :param last_part: the range's last part number.
    """

    first_part: int = 1
    last_part: int = 0

    @classmethod
    def of(cls, plan: PartPlan, first_part: int, last_part: int) -> RangePlan:
        """The range ``first_part..last_part`` of ``plan``."""
        return cls(
            plan.file_size, plan.part_size, plan.part_count, plan.requested_part_size, first_part, last_part
        )

    @property
    def range_size(self) -> int:
        """The bytes in the range."""
        return self.part(self.last_part).end - self.part(self.first_part).offset

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and self.first_part <= number <= self.last_part

    def __len__(self) -> int:
        return self.last_part - self.first_part + 1

    def __iter__(self) -> Iterator[Part]:
        for number in range(self.first_part, self.last_part + 1):
            yield self.part(number)

    def describe(self) -> str:
        """A one-line description for logs."""
        return (
            f"parts {self.first_part}-{self.last_part} of {self.part_count} ({self.part_size}-byte parts, "
            f"{self.range_size} bytes)"
        )


@dataclass(frozen=True)
class PartRange:
    """
    The parts one range task uploads: ``first_part..last_part`` of upload ``upload_id``.

    :param index: the range's position (its map index).
    :param first_part: its first part number.
    :param last_part: its last part number.
    :param part_size: the plan's part size (every range of one upload has the same).
    :param upload_id: the multipart upload.
    :param plan_digest: the :attr:`DistributedPlan.digest` of the plan it belongs to.
    """

    index: int
    first_part: int
    last_part: int
    part_size: int
    upload_id: str
    plan_digest: str

    _NAMES = ("index", "first_part", "last_part", "part_size", "upload_id", "plan_digest")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the XCom each range task is mapped over)."""
        return {name: getattr(self, name) for name in self._NAMES}

    @classmethod
    def from_dict(cls, data: Any) -> PartRange:
        """
        Parse a range strictly.

        :raises DistributedPlanError: a missing, extra or invalid field.
        """
        what = "the part range"
        data = _fields(data, what, cls._NAMES)
        first = _int_field(data, "first_part", what, 1, MAX_PARTS)
        last = _int_field(data, "last_part", what, first, MAX_PARTS)
        return cls(
            index=_int_field(data, "index", what, 0, MAX_PARTS),
            first_part=first,
            last_part=last,
            part_size=_int_field(data, "part_size", what, MIN_PART_SIZE, MAX_PART_SIZE),
            upload_id=_str_field(data, "upload_id", what, _UPLOAD_ID_RE),
            plan_digest=_str_field(data, "plan_digest", what, _HEX64_RE),
        )


def split_ranges(
    part_count: int, *, ranges: int | None = None, parts_per_range: int | None = None
) -> list[tuple[int, int]]:
    """
    Cut parts ``1..part_count`` into contiguous ``(first, last)`` ranges: ``ranges`` of them (as
    even as whole parts allow; fewer when there are fewer parts), or as many of ``parts_per_range``
    parts as needed. Give exactly one of the two.

    :raises ValueError: both or neither given, or a value below 1.
    """
    if (ranges is None) == (parts_per_range is None):
        raise ValueError("Give exactly one of ranges (how many range tasks) and parts_per_range.")
    if part_count < 1:
        raise ValueError(f"A distributed upload needs at least one part; the plan has {part_count}.")
    if ranges is not None:
        if not _is_int(ranges) or not 1 <= ranges <= MAX_PARTS:
            raise ValueError(f"ranges must be an int from 1 to {MAX_PARTS}; got {ranges!r}.")
        count = min(ranges, part_count)
        base, extra = divmod(part_count, count)
        sizes = [base + (1 if i < extra else 0) for i in range(count)]
    else:
        if not _is_int(parts_per_range) or not 1 <= parts_per_range <= MAX_PARTS:  # type: ignore[operator]
            raise ValueError(
                f"parts_per_range must be an int from 1 to {MAX_PARTS}; got {parts_per_range!r}."
            )
        step = int(parts_per_range)  # type: ignore[arg-type]
        sizes = [min(step, part_count - start) for start in range(0, part_count, step)]
    out, first = [], 1
    for size in sizes:
        out.append((first, first + size - 1))
        first += size
    return out


@dataclass(frozen=True)
class DistributedPlan:
    """
    One multipart upload spread over range tasks.

    :param bucket: the bucket.
    :param key: the object key.
    :param upload_id: the one multipart upload every range task sends to.
    :param filename: the source file's absolute path (the same path on every worker: a shared volume).
    :param part_size: the part size (after growth to fit 10,000 parts).
    :param fingerprint: the source file's fingerprint when the plan was made.
    :param options_digest: SHA-256 of the object options sent at initiate.
    :param ranges: ``(first_part, last_part)`` of each range, in order, covering every part once.
    """

    bucket: str
    key: str
    upload_id: str
    filename: str
    part_size: int
    fingerprint: SourceFingerprint
    options_digest: str
    ranges: tuple[tuple[int, int], ...]

    _NAMES = (
        "format",
        "bucket",
        "key",
        "upload_id",
        "filename",
        "part_size",
        "fingerprint",
        "options_digest",
        "ranges",
        "digest",
    )

    def __post_init__(self) -> None:
        expected = 1
        for first, last in self.ranges:
            if first != expected or last < first:
                raise DistributedPlanError(
                    f"The plan's ranges must cover parts 1..{self.part_count} in order, each once; got {list(self.ranges)}."
                )
            expected = last + 1
        if expected != self.part_count + 1:
            raise DistributedPlanError(
                f"The plan's ranges must cover parts 1..{self.part_count}; they end at part {expected - 1}."
            )

    @property
    def file_size(self) -> int:
        """The source file's size."""
        return self.fingerprint.size

    @property
    def part_plan(self) -> PartPlan:
        """How the file is cut into parts."""
        count = -(-self.file_size // self.part_size)
        return PartPlan(self.file_size, self.part_size, count, self.part_size)

    @property
    def part_count(self) -> int:
        """The number of parts."""
        return -(-self.file_size // self.part_size)

    @property
    def target(self) -> str:
        """``oss://bucket/key``."""
        return f"oss://{self.bucket}/{self.key}"

    @property
    def digest(self) -> str:
        """SHA-256 over everything that identifies the plan (ranges and results carry it)."""
        identity = [
            PLAN_FORMAT,
            self.bucket,
            self.key,
            self.upload_id,
            self.filename,
            self.part_size,
            self.fingerprint.to_dict(),
            self.options_digest,
            [list(r) for r in self.ranges],
        ]
        text = json.dumps(identity, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def part_ranges(self) -> list[PartRange]:
        """The ranges as the range tasks receive them (one per map index)."""
        digest = self.digest
        return [
            PartRange(i, first, last, self.part_size, self.upload_id, digest)
            for i, (first, last) in enumerate(self.ranges)
        ]

    def range_plan(self, part_range: PartRange) -> RangePlan:
        """The parts of ``part_range`` (checked against this plan first with :meth:`check_range`)."""
        return RangePlan.of(self.part_plan, part_range.first_part, part_range.last_part)

    def check_range(self, part_range: PartRange) -> None:
        """
        Refuse a range that is not one of this plan's.

        :raises DistributedPlanError: another upload ID, another plan, another part size, or parts
            that are not the plan's range at that index.
        """
        where = f"Range {part_range.index} (parts {part_range.first_part}-{part_range.last_part})"
        if part_range.upload_id != self.upload_id:
            raise DistributedPlanError(
                f"{where} names upload ID {part_range.upload_id}, but the plan of {self.target} is upload ID "
                f"{self.upload_id}: a range task must be mapped over the ranges of the same plan task it reads "
                "the plan from. Nothing was sent."
            )
        if part_range.part_size != self.part_size:
            raise DistributedPlanError(
                f"{where} has {part_range.part_size}-byte parts, but the plan of {self.target} (upload ID "
                f"{self.upload_id}) cuts the file into {self.part_size}-byte parts: every range of one upload "
                "must use the plan's part size. Nothing was sent."
            )
        if part_range.plan_digest != self.digest:
            raise DistributedPlanError(
                f"{where} belongs to another plan than the one given for upload ID {self.upload_id} of "
                f"{self.target} (plan digests differ): pass the plan task's ranges and plan unchanged. "
                "Nothing was sent."
            )
        if not 0 <= part_range.index < len(self.ranges) or self.ranges[part_range.index] != (
            part_range.first_part,
            part_range.last_part,
        ):
            raise DistributedPlanError(
                f"{where} is not range {part_range.index} of the plan {list(self.ranges)}."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the plan task's XCom); ``digest`` is included for readers and checked on parsing."""
        return {
            "format": PLAN_FORMAT,
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "filename": self.filename,
            "part_size": self.part_size,
            "fingerprint": self.fingerprint.to_dict(),
            "options_digest": self.options_digest,
            "ranges": [list(r) for r in self.ranges],
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, data: Any) -> DistributedPlan:
        """
        Parse a plan strictly.

        :raises DistributedPlanError: an unknown format, a missing, extra or invalid field, or a
            digest that does not match the fields (an edited plan).
        """
        what = "the distributed upload plan"
        data = _fields(data, what, cls._NAMES)
        if data["format"] != PLAN_FORMAT:
            raise DistributedPlanError(
                f"{what} has format {data['format']!r}; this code reads {PLAN_FORMAT}."
            )
        try:
            fingerprint = SourceFingerprint.from_dict(data["fingerprint"])
        except ValueError as err:
            raise DistributedPlanError(f"{what}: {err}.") from None
        ranges = data["ranges"]
        if (
            not isinstance(ranges, list)
            or not ranges
            or not all(isinstance(r, list) and len(r) == 2 and all(_is_int(x) for x in r) for r in ranges)
        ):
            raise DistributedPlanError(f"{what}: ranges must be a non-empty list of [first_part, last_part].")
        plan = cls(
            bucket=_str_field(data, "bucket", what),
            key=_str_field(data, "key", what),
            upload_id=_str_field(data, "upload_id", what, _UPLOAD_ID_RE),
            filename=_str_field(data, "filename", what),
            part_size=_int_field(data, "part_size", what, MIN_PART_SIZE, MAX_PART_SIZE),
            fingerprint=fingerprint,
            options_digest=_str_field(data, "options_digest", what, _HEX64_RE),
            ranges=tuple((int(a), int(b)) for a, b in ranges),
        )
        if data["digest"] != plan.digest:
            raise DistributedPlanError(f"{what} was altered: its digest does not match its fields.")
        return plan


@dataclass(frozen=True)
class RangeResult:
    """
    What one range task left in OSS: every part of its range, with the CRC-64 of the local bytes.

    :param index: the range's map index.
    :param first_part: its first part.
    :param last_part: its last part.
    :param upload_id: the upload.
    :param plan_digest: the plan's digest.
    :param crc64: the combined CRC-64 of the range's local bytes (what OSS acknowledged for each part).
    :param size: the range's bytes.
    :param parts_sent: parts this try sent.
    :param bytes_sent: bytes this try sent.
    :param parts_reused: parts an earlier try had stored, reused after their size and CRC-64 matched.
    :param parts_reused_confirmed: of those, the ones the range's checkpoint confirmed (not read again).
    :param seconds: the try's duration.
    """

    index: int
    first_part: int
    last_part: int
    upload_id: str
    plan_digest: str
    crc64: int
    size: int
    parts_sent: int
    bytes_sent: int
    parts_reused: int
    parts_reused_confirmed: int
    seconds: float

    _NAMES = (
        "index",
        "first_part",
        "last_part",
        "upload_id",
        "plan_digest",
        "crc64",
        "size",
        "parts_sent",
        "bytes_sent",
        "parts_reused",
        "parts_reused_confirmed",
        "seconds",
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the range task's XCom): ``crc64`` as a decimal string."""
        data = {name: getattr(self, name) for name in self._NAMES}
        data["crc64"] = str(self.crc64)
        data["seconds"] = round(self.seconds, 3)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RangeResult:
        """
        Parse a range result strictly.

        :raises DistributedPlanError: a missing, extra or invalid field.
        """
        what = "the range result"
        data = _fields(data, what, cls._NAMES)
        text = data["crc64"]
        if not isinstance(text, str) or not text.isascii() or not text.isdigit() or int(text) >= 1 << 64:
            raise DistributedPlanError(
                f"{what}: crc64 must be the decimal string of a 64-bit CRC; got {text!r}."
            )
        seconds = data["seconds"]
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise DistributedPlanError(f"{what}: seconds must be a non-negative number; got {seconds!r}.")
        first = _int_field(data, "first_part", what, 1, MAX_PARTS)
        return cls(
            index=_int_field(data, "index", what, 0, MAX_PARTS),
            first_part=first,
            last_part=_int_field(data, "last_part", what, first, MAX_PARTS),
            upload_id=_str_field(data, "upload_id", what, _UPLOAD_ID_RE),
            plan_digest=_str_field(data, "plan_digest", what, _HEX64_RE),
            crc64=int(text),
            size=_int_field(data, "size", what, 0, MAX_PART_SIZE * MAX_PARTS),
            parts_sent=_int_field(data, "parts_sent", what, 0, MAX_PARTS),
            bytes_sent=_int_field(data, "bytes_sent", what, 0, MAX_PART_SIZE * MAX_PARTS),
            parts_reused=_int_field(data, "parts_reused", what, 0, MAX_PARTS),
            parts_reused_confirmed=_int_field(data, "parts_reused_confirmed", what, 0, MAX_PARTS),
            seconds=float(seconds),
        )
