"""The part plan: OSS's limits, growth past 10,000 parts, and cheap 10,000-part plans."""

from __future__ import annotations

import pytest

from airflow_provider_oss.upload.plan import (
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    GiB,
    KiB,
    MiB,
    PartPlanError,
    plan_parts,
)


def covers_file(plan_size: int, parts: list[tuple[int, int, int]]) -> bool:
    offset = 0
    for expected_number, (number, start, size) in enumerate(parts, start=1):
        if number != expected_number or start != offset or size <= 0:
            return False
        offset += size
    return offset == plan_size


def test_parts_are_numbered_from_one_and_cover_the_file() -> None:
    plan = plan_parts(10 * MiB + 5, 4 * MiB)
    parts = [(p.number, p.offset, p.size) for p in plan]
    assert parts == [(1, 0, 4 * MiB), (2, 4 * MiB, 4 * MiB), (3, 8 * MiB, 2 * MiB + 5)]
    assert covers_file(plan.file_size, parts)
    assert (plan.part_count, len(plan), plan.last_part_size) == (3, 3, 2 * MiB + 5)
    assert plan.part(3).end == plan.file_size
    assert not plan.grown


def test_exact_multiple_has_no_empty_tail_part() -> None:
    plan = plan_parts(3 * MiB, MiB)
    assert [p.size for p in plan] == [MiB] * 3


def test_default_part_size_is_8_mib() -> None:
    assert plan_parts(100 * MiB).part_size == DEFAULT_PART_SIZE == 8 * MiB


def test_empty_file_has_no_parts() -> None:
    plan = plan_parts(0, MiB)
    assert (plan.part_count, list(plan), plan.last_part_size) == (0, [], 0)


def test_small_file_is_one_short_part() -> None:
    plan = plan_parts(10, MIN_PART_SIZE)
    assert [(p.number, p.offset, p.size) for p in plan] == [(1, 0, 10)]


def test_exactly_10000_parts_keeps_the_part_size() -> None:
    plan = plan_parts(MAX_PARTS * MiB, MiB)
    assert (plan.part_size, plan.part_count, plan.grown) == (MiB, MAX_PARTS, False)


def test_10001_parts_grows_the_part_size_to_a_mib_multiple() -> None:
    plan = plan_parts(MAX_PARTS * MiB + 1, MiB)
    assert plan.grown
    assert plan.part_size == 2 * MiB
    assert plan.part_size % MiB == 0
    assert plan.part_count <= MAX_PARTS
    assert plan.requested_part_size == MiB
    assert "grown" in plan.describe()


def test_growth_for_a_terabyte_file_with_small_parts() -> None:
    size = 1024 * GiB + 12345
    plan = plan_parts(size, MIN_PART_SIZE)
    assert plan.part_count <= MAX_PARTS
    assert plan.part_size % MiB == 0
    # the smallest MiB multiple that fits: one MiB less would need more than 10,000 parts
    assert -(-size // (plan.part_size - MiB)) > MAX_PARTS
    assert plan.part(plan.part_count).end == size
    assert covers_file(size, [(p.number, p.offset, p.size) for p in plan])


def test_largest_object_fits_in_10000_parts_of_5_gib() -> None:
    plan = plan_parts(MAX_OBJECT_SIZE, MiB)
    assert (plan.part_size, plan.part_count) == (MAX_PART_SIZE, MAX_PARTS)


def test_file_too_large_names_the_limit() -> None:
    with pytest.raises(PartPlanError, match=r"10000 parts of 5368709120 bytes \(5 GiB\)"):
        plan_parts(MAX_OBJECT_SIZE + 1, MiB)


@pytest.mark.parametrize("size", [MIN_PART_SIZE - 1, 0, -1])
def test_part_size_below_100_kib_is_refused(size: int) -> None:
    with pytest.raises(PartPlanError, match=r"minimum part size of 102400 bytes \(100 KiB\)"):
        plan_parts(MiB, size)


def test_part_size_above_5_gib_is_refused() -> None:
    with pytest.raises(PartPlanError, match=r"maximum part size of 5368709120 bytes \(5 GiB\)"):
        plan_parts(MiB, MAX_PART_SIZE + 1)


@pytest.mark.parametrize("bad", [1.5 * MiB, "8388608", True, None])
def test_part_size_must_be_an_int(bad: object) -> None:
    with pytest.raises(PartPlanError, match="part_size must be an int"):
        plan_parts(MiB, bad)  # type: ignore[arg-type]


def test_limits_accept_their_bounds() -> None:
    assert plan_parts(MiB, MIN_PART_SIZE).part_size == MIN_PART_SIZE
    assert plan_parts(MiB, MAX_PART_SIZE).part_count == 1


def test_negative_file_size_and_bad_max_parts_are_refused() -> None:
    with pytest.raises(PartPlanError, match="file_size"):
        plan_parts(-1, MiB)
    with pytest.raises(PartPlanError, match="max_parts"):
        plan_parts(MiB, MiB, max_parts=10_001)


def test_custom_max_parts() -> None:
    plan = plan_parts(10 * MiB, MIN_PART_SIZE, max_parts=4)
    assert plan.part_count <= 4
    assert plan.part_size == 3 * MiB


def test_part_lookup_and_membership() -> None:
    plan = plan_parts(1000 * KiB, 300 * KiB)
    assert plan.size_of(4) == 100 * KiB
    assert 4 in plan and 0 not in plan and 5 not in plan and "1" not in plan
    with pytest.raises(IndexError, match=r"1\.\.4"):
        plan.part(5)


def test_10000_part_plan_is_cheap_and_lazy() -> None:
    plan = plan_parts(MAX_PARTS * MiB, MiB)
    # the plan itself holds four ints; parts are built while iterating
    assert len(vars(plan)) == 4
    total = sum(p.size for p in plan)
    assert total == plan.file_size
