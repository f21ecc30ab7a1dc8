"""
Tests for ``core/crc64.py``: CRC-64/XZ as OSS reports it in ``x-oss-hash-crc64ecma``.

The combine is checked three ways: against the CRC of the concatenated bytes (small and MB-sized
inputs), against an independent GF(2)-matrix combine written here (zlib's classic method, the one
the SDKs use) for lengths far too large to materialise, and for associativity.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
from pathlib import Path

import fastcrc
import pytest
from crcmod.crcmod import mkCrcFun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_oss.core import crc64
from airflow_provider_oss.core.crc64 import (
    CHECK_VALUE,
    combine,
    combine_all,
    crc64_of_fd,
    crc64_of_file,
    format_crc,
    parse_crc,
    update,
)

MASK = 0xFFFFFFFFFFFFFFFF
POLY_REFLECTED = 0xC96C5795D7870F42
CRC_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CRCS = st.integers(0, MASK)


def reference_crc(data: bytes) -> int:
    """Bit-at-a-time CRC-64/XZ straight from its definition (reflected, init and xorout all ones)."""
    crc = MASK
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLY_REFLECTED if crc & 1 else crc >> 1
    return crc ^ MASK


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, column) for column in matrix]


@functools.cache
def _zero_bytes_operators() -> tuple[list[int], ...]:
    """GF(2) 64x64 matrices (one row per input bit) shifting the register past 2^k zero bytes."""
    one_zero_bit = [POLY_REFLECTED] + [1 << row for row in range(63)]
    operator = _gf2_square(_gf2_square(_gf2_square(one_zero_bit)))  # one zero byte
    operators = [operator]
    for _ in range(63):
        operators.append(_gf2_square(operators[-1]))
    return tuple(operators)


def matrix_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """An independent combine by the GF(2) matrix method: crc(A + B) = M^len(B) crc(A) ^ crc(B)."""
    assert 0 <= length_b < 2**64
    for bit, operator in enumerate(_zero_bytes_operators()):
        if length_b >> bit & 1:
            crc_a = _gf2_times(operator, crc_a)
    return crc_a ^ crc_b


def zeros_crc(length: int) -> int:
    """The CRC of ``length`` zero bytes, built with ``combine`` by doubling (no bytes materialised)."""
    result = 0
    block, block_len = crc64.crc64(b"\0"), 1
    while length:
        if length & 1:
            result = combine(result, block, block_len)
        length >>= 1
        block = combine(block, block, block_len)
        block_len *= 2
    return result


# ---------------------------------------------------------------------------------------------
# One-shot values


def test_check_value() -> None:
    assert CHECK_VALUE == 11051210869376104954
    assert f"{CHECK_VALUE:X}" == "995DC9BBDF1939FA"
    assert crc64.crc64(b"123456789") == 11051210869376104954
    assert reference_crc(b"123456789") == 11051210869376104954
    assert format_crc(crc64.crc64(b"123456789")) == "11051210869376104954"


def test_empty_input() -> None:
    assert crc64.crc64(b"") == 0
    assert update(0, b"") == 0
    assert update(CHECK_VALUE, b"") == CHECK_VALUE
    assert update(CHECK_VALUE, memoryview(b"")) == CHECK_VALUE
    assert crc64._pure_python_backend()(b"", 0) == 0


def test_the_fast_backend_is_in_use() -> None:
    """fastcrc is a dependency: the pure-Python fallback would make uploads several times slower."""
    assert crc64.BACKEND == "fastcrc"


def test_buffer_types() -> None:
    data = bytes(range(256)) * 5
    expected = reference_crc(data)
    assert crc64.crc64(data) == expected
    assert crc64.crc64(bytearray(data)) == expected
    assert crc64.crc64(memoryview(data)) == expected
    assert crc64.crc64(memoryview(bytearray(data))[:]) == expected
    assert update(crc64.crc64(data[:100]), memoryview(bytearray(data))[100:]) == expected


@CRC_SETTINGS
@given(st.binary(max_size=512))
def test_matches_definition(data: bytes) -> None:
    assert crc64.crc64(data) == reference_crc(data)


# ---------------------------------------------------------------------------------------------
# Streaming


@CRC_SETTINGS
@given(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=12))
def test_streaming_in_random_splits_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    crc = 0
    for start, end in itertools.pairwise(bounds):
        crc = update(crc, memoryview(data)[start:end])
    crc = update(crc, b"")  # empty pieces anywhere change nothing
    assert crc == crc64.crc64(data)


@CRC_SETTINGS
@given(st.binary(max_size=2048), st.integers(0, 2048), CRCS)
def test_pure_python_backend_agrees_with_fastcrc(data: bytes, cut: int, start_crc: int) -> None:
    pure = crc64._pure_python_backend()
    cut = min(cut, len(data))
    assert pure(data, 0) == int(fastcrc.crc64.xz(data)) == crc64.crc64(data)
    assert pure(data[cut:], pure(data[:cut], 0)) == crc64.crc64(data)
    # Continuing from an arbitrary CRC, as update() does.
    assert pure(data, start_crc) == update(start_crc, data)


@CRC_SETTINGS
@given(st.binary(max_size=2048), st.integers(0, 2048))
def test_crcmod_agrees(data: bytes, cut: int) -> None:
    fun = mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=MASK, rev=True)
    cut = min(cut, len(data))
    assert fun(data) == crc64.crc64(data)
    assert fun(data[cut:], fun(data[:cut])) == crc64.crc64(data)


def test_pure_python_backend_on_a_larger_random_buffer() -> None:
    data = random.Random(7).randbytes(200_000)
    assert crc64._pure_python_backend()(data, 0) == crc64.crc64(data)


# ---------------------------------------------------------------------------------------------
# Combine


@CRC_SETTINGS
@given(st.binary(max_size=3000), st.binary(max_size=3000))
def test_combine_equals_crc_of_concatenation(a: bytes, b: bytes) -> None:
    assert combine(crc64.crc64(a), crc64.crc64(b), len(b)) == crc64.crc64(a + b)


@CRC_SETTINGS
@given(CRCS, CRCS, st.integers(1, 10**15))
def test_combine_agrees_with_matrix_method(crc_a: int, crc_b: int, length_b: int) -> None:
    # (length_b == 0 implies crc_b == 0, the CRC of nothing: see test_combine_with_zero_length.)
    assert combine(crc_a, crc_b, length_b) == matrix_combine(crc_a, crc_b, length_b)


@pytest.mark.parametrize("length", [0, 1, 7, 8, 255, 4096, 100 * 1024, (1 << 20) + 3])
def test_combine_with_materialised_zeros(length: int) -> None:
    a = b"prefix bytes"
    zeros = bytes(length)
    assert zeros_crc(length) == crc64.crc64(zeros)
    # crc(Z_n) = M^n(init) ^ xorout, M shifting one zero byte through the register.
    assert matrix_combine(MASK, MASK, length) == crc64.crc64(zeros)
    assert combine(crc64.crc64(a), crc64.crc64(zeros), length) == crc64.crc64(a + zeros)


def test_combine_with_megabyte_parts() -> None:
    rng = random.Random(11)
    a = rng.randbytes(3 << 20)
    b = rng.randbytes((2 << 20) + 17)
    assert combine(crc64.crc64(a), crc64.crc64(b), len(b)) == crc64.crc64(a + b)


@pytest.mark.parametrize("length", [10**12, 5 * 1024**4, 48 * 1024**4 + 1, 2**62 + 12345])
def test_combine_at_lengths_too_large_to_materialise(length: int) -> None:
    """A = some bytes, Z = ``length`` zero bytes (1 TB and more), B = some bytes."""
    crc_a = crc64.crc64(b"the first part")
    crc_b = crc64.crc64(b"and the last one")
    crc_z = zeros_crc(length)  # by doubling with combine

    # crc(Z_n) = M^n(init) ^ xorout, M shifting one zero byte through the register (see above).
    assert crc_z == matrix_combine(MASK, MASK, length)
    a_z = combine(crc_a, crc_z, length)
    assert a_z == matrix_combine(crc_a, crc_z, length)
    # crc(A + Z + B) both ways round: ((A + Z) + B) and (A + (Z + B)).
    left = combine(a_z, crc_b, 16)
    right = combine(crc_a, combine(crc_z, crc_b, 16), length + 16)
    assert left == right == matrix_combine(matrix_combine(crc_a, crc_z, length), crc_b, 16)
    # Zeros appended one block after another.
    half = length // 2
    assert combine(zeros_crc(half), zeros_crc(length - half), length - half) == crc_z


def test_combine_rejects_negative_length() -> None:
    with pytest.raises(ValueError, match="negative"):
        combine(1, 2, -1)


def test_combine_with_zero_length_returns_first_crc() -> None:
    assert combine(CHECK_VALUE, 0, 0) == CHECK_VALUE
    assert combine(0, 0, 0) == 0


@CRC_SETTINGS
@given(st.lists(st.binary(max_size=600), max_size=40))
def test_combine_all_random_parts(parts: list[bytes]) -> None:
    pairs = [(crc64.crc64(p), len(p)) for p in parts]
    assert combine_all(pairs) == crc64.crc64(b"".join(parts))


def test_combine_all_empty() -> None:
    assert combine_all([]) == 0
    assert combine_all([(0, 0), (0, 0)]) == 0


def test_combine_all_ten_thousand_parts() -> None:
    """10,000 parts (OSS's maximum) combine in one go, both small real parts and 5 GiB-sized ones."""
    rng = random.Random(3)
    parts = [rng.randbytes(rng.randrange(1, 40)) for _ in range(10_000)]
    assert combine_all([(crc64.crc64(p), len(p)) for p in parts]) == crc64.crc64(b"".join(parts))

    part_len = 5 * 1024**3  # the largest part OSS accepts
    crc_part = zeros_crc(part_len)
    total = combine_all([(crc_part, part_len)] * 10_000)
    assert total == zeros_crc(10_000 * part_len)


# ---------------------------------------------------------------------------------------------
# Files


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = random.Random(5).randbytes(150_001)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, None),
        (0, 150_001),
        (0, 10**9),
        (1, None),
        (4095, 4097),
        (100_000, None),
        (100_000, 50_001),
        (100_000, 0),
        (150_000, None),
        (150_001, None),
        (200_000, None),
        (200_000, 10),
    ],
)
@pytest.mark.parametrize("chunk_size", [7, 4096, 4 << 20])
def test_crc64_of_file_windows(
    data_file: tuple[Path, bytes], start: int, length: int | None, chunk_size: int
) -> None:
    path, data = data_file
    expected = data[start:] if length is None else data[start : start + length]
    assert crc64_of_file(str(path), start, length, chunk_size=chunk_size) == crc64.crc64(expected)


@pytest.mark.parametrize(("start", "length"), [(0, 0), (0, 150_001), (1, 150_000), (149_991, 10)])
@pytest.mark.parametrize("chunk_size", [7, 4 << 20])
def test_crc64_of_fd_windows_and_a_file_that_ends_early(
    data_file: tuple[Path, bytes], start: int, length: int, chunk_size: int
) -> None:
    path, data = data_file
    fd = os.open(path, os.O_RDONLY)
    try:
        assert crc64_of_fd(fd, start, length, chunk_size) == crc64.crc64(data[start : start + length])
        assert crc64_of_fd(fd, start, len(data) - start + 1, chunk_size) is None  # one byte past the end
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # pread: the file position is untouched
    finally:
        os.close(fd)


def test_file_parts_combine_to_whole_file(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    part = 32 * 1024
    pairs = []
    for start in range(0, len(data), part):
        length = min(part, len(data) - start)
        pairs.append((crc64_of_file(str(path), start, length), length))
    assert len(pairs) == 5
    assert combine_all(pairs) == crc64_of_file(str(path)) == crc64.crc64(data)


# ---------------------------------------------------------------------------------------------
# Header values


@CRC_SETTINGS
@given(CRCS)
def test_format_and_parse_round_trip(crc: int) -> None:
    text = format_crc(crc)
    assert text.isdigit()
    assert parse_crc(text) == crc
    assert parse_crc(f"  {text}\r\n") == crc


def test_format_crc() -> None:
    assert format_crc(0) == "0"
    assert format_crc(MASK) == "18446744073709551615"
    assert format_crc(CHECK_VALUE) == "11051210869376104954"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "-1",
        "+1",
        "12a",
        "0x1f",
        "1.0",
        "1 2",
        "١٢٣",
        "²",
        "¹²³",
        "\uff11\uff12",
        "18446744073709551616",
    ],  # Arabic-Indic, superscript, fullwidth digits; one past 2**64 - 1 is no CRC-64
)
def test_parse_crc_rejects_non_numbers(text: str | None) -> None:
    """None, never an exception: the caller reports a missing CRC, not a crash (``²`` is Latin-1)."""
    assert parse_crc(text) is None


def test_parse_crc_values() -> None:
    assert parse_crc("0") == 0
    assert parse_crc("11051210869376104954") == CHECK_VALUE
    assert parse_crc("18446744073709551615") == MASK
    assert parse_crc("007") == 7
