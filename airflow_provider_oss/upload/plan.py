"""
The part plan of a multipart upload: how a file of a given size is cut into numbered parts.

OSS allows at most 10,000 parts of 100 KiB to 5 GiB each (the last part may be smaller). The plan
keeps the requested part size when the file fits in 10,000 parts, and otherwise grows it to the
smallest multiple of 1 MiB that fits. The plan is a pure function of ``(file_size, part_size)``, so
a retried try that asks for the same part size gets the same parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.models import (
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    GiB,
    KiB,
    MiB,
    TiB,
)

__all__ = [
    "DEFAULT_PART_SIZE",
    "GROWTH_GRANULARITY",
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "GiB",
    "KiB",
    "MiB",
    "Part",
    "PartPlan",
    "PartPlanError",
    "TiB",
    "plan_parts",
    "validate_part_size",
]

#: The default part size.
DEFAULT_PART_SIZE = 8 * MiB
#: A part size grown to fit the part limit is rounded up to a multiple of this.
GROWTH_GRANULARITY = MiB
#: The largest object a multipart upload can make (5 GiB x 10,000 parts, about 48.8 TiB).
MAX_OBJECT_SIZE = MAX_PART_SIZE * MAX_PARTS


class PartPlanError(OssClientError):
    """A part size or file size outside OSS's multipart limits."""


@dataclass(frozen=True)
class Part:
    """
    One planned part.

    :param number: the part number, from 1.
    :param offset: the first byte of the part in the file.
    :param size: the number of bytes in the part.
    """

    number: int
    offset: int
    size: int

    @property
    def end(self) -> int:
        """The offset just past the part's last byte."""
        return self.offset + self.size


@dataclass(frozen=True)
class PartPlan:
    """
    How a file is cut into parts: ``part_count`` parts of ``part_size`` bytes, the last one holding
    what remains. Parts are built on demand, so a 10,000-part plan costs nothing until iterated.

    :param file_size: the file's size in bytes.
    :param part_size: the size of every part but the last.
    :param part_count: the number of parts (0 for an empty file).
    :param requested_part_size: the part size asked for; smaller than ``part_size`` when it was grown.
    """

    file_size: int
    part_size: int
    part_count: int
    requested_part_size: int

    @property
    def grown(self) -> bool:
        """True when the part size was grown to fit the part limit."""
        return self.part_size != self.requested_part_size

    @property
    def last_part_size(self) -> int:
        """The size of the last part (0 when there are no parts)."""
        if self.part_count == 0:
            return 0
        return self.file_size - (self.part_count - 1) * self.part_size

    def part(self, number: int) -> Part:
        """
        Return part ``number``.

        :param number: from 1 to ``part_count``.
        :raises IndexError: for a number outside the plan.
        """
        if not 1 <= number <= self.part_count:
            raise IndexError(f"Part number {number} is outside this plan's parts 1..{self.part_count}.")
        offset = (number - 1) * self.part_size
        return Part(number, offset, min(self.part_size, self.file_size - offset))

    def size_of(self, number: int) -> int:
        """The planned size of part ``number`` (see :meth:`part`)."""
        return self.part(number).size

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and 1 <= number <= self.part_count

    def __len__(self) -> int:
        return self.part_count

    def __iter__(self) -> Iterator[Part]:
        for number in range(1, self.part_count + 1):
            yield self.part(number)

    def describe(self) -> str:
        """A one-line description for logs."""
        text = f"{self.part_count} part(s) of {self.part_size} bytes"
        if self.grown:
            text += f" (part_size grown from {self.requested_part_size} so the file fits in OSS's {MAX_PARTS} parts)"
        return text


def validate_part_size(part_size: int) -> None:
    """
    Check a part size against OSS's limits.

    :raises PartPlanError: when it is not an int from 100 KiB to 5 GiB.
    """
    allowed = f"part_size must be an int from {MIN_PART_SIZE} (100 KiB) to {MAX_PART_SIZE} (5 GiB) bytes"
    if isinstance(part_size, bool) or not isinstance(part_size, int):
        raise PartPlanError(f"{allowed}; got {part_size!r}.")
    if part_size < MIN_PART_SIZE:
        raise PartPlanError(
            f"part_size {part_size} is below OSS's minimum part size of {MIN_PART_SIZE} bytes (100 KiB): {allowed}."
        )
    if part_size > MAX_PART_SIZE:
        raise PartPlanError(
            f"part_size {part_size} is above OSS's maximum part size of {MAX_PART_SIZE} bytes (5 GiB): {allowed}."
        )


def plan_parts(file_size: int, part_size: int = DEFAULT_PART_SIZE, *, max_parts: int = MAX_PARTS) -> PartPlan:
    """
    Plan the parts of a file, growing the part size when the file would need more than ``max_parts``.

    :param file_size: the file's size in bytes.
    :param part_size: the wanted part size, 100 KiB to 5 GiB.
    :param max_parts: the part limit (OSS's 10,000; lower only for tests or special cases).
    :raises PartPlanError: for a part size outside 100 KiB..5 GiB, a negative file size, or a file
        larger than ``max_parts`` parts of 5 GiB.
    """
    validate_part_size(part_size)
    if isinstance(file_size, bool) or not isinstance(file_size, int) or file_size < 0:
        raise PartPlanError(f"file_size must be a non-negative int; got {file_size!r}.")
    if isinstance(max_parts, bool) or not isinstance(max_parts, int) or not 1 <= max_parts <= MAX_PARTS:
        raise PartPlanError(f"max_parts must be an int from 1 to {MAX_PARTS}; got {max_parts!r}.")
    limit = MAX_PART_SIZE * max_parts
    if file_size > limit:
        raise PartPlanError(
            f"The file is {file_size} bytes, more than a multipart upload can hold: at most {max_parts} parts "
            f"of {MAX_PART_SIZE} bytes (5 GiB), i.e. {limit} bytes ({limit / TiB:.1f} TiB)."
        )
    size = part_size
    if -(-file_size // size) > max_parts:
        needed = -(-file_size // max_parts)
        size = min(MAX_PART_SIZE, -(-needed // GROWTH_GRANULARITY) * GROWTH_GRANULARITY)
    count = -(-file_size // size)
    return PartPlan(file_size=file_size, part_size=size, part_count=count, requested_part_size=part_size)
