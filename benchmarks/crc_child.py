"""
One CRC-64/XZ library measured in its own process (``python -m benchmarks.crc_child``).

Started by :mod:`benchmarks.crc_libraries` with ``PYTHONPATH`` set to the library's own install
directory; that directory is also put first on :data:`sys.path` here, so ``crcmod`` comes from it and
not from the venv (where ``crcmod`` and ``crcmod-plus`` share one ``crcmod/`` folder). Reads a JSON
spec from stdin, prints one JSON line: where the module and its metadata came from, the version,
the check value, one-shot and streamed checksums of the seeded test bytes, GB/s per repeat, and the
speedup of two threads over one.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
import statistics
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

MASK = 0xFFFFFFFFFFFFFFFF
#: crcmod's spelling of CRC-64/XZ: the ECMA-182 polynomial with its x^64 bit, reflected.
CRCMOD_POLY = 0x142F0E1EBA9EA3693
#: The uneven piece sizes of the streaming check (the rest of the buffer is the seventh piece).
PIECES = (1, 3, 4095, 65537, 7, 1_000_003)
#: Below this rate (bytes/s) a backend is pure Python and is timed on ``slow_size`` bytes instead.
SLOW_RATE = 100e6
#: Seconds of work per thread in the GIL test (each thread hashes its buffer this long or more).
GIL_SECONDS = 0.1
#: A 2-thread speedup at least this large means the GIL is released.
GIL_RELEASED = 1.5
#: How long one call of the GIL probe should last (when the buffer is large enough).
PROBE_SECONDS = 0.03
#: The most rounds of the GIL test when the machine looks busy.
GIL_MAX_ROUNDS = 10

Update = Callable[[Any, int], int]


@dataclass
class Loaded:
    """A library's ``update(data, crc) -> crc`` and where it was imported from."""

    update: Update
    module_file: str
    version: str
    dist_dir: str | None
    extension: bool | None = None
    extension_file: str | None = None


def _dist(name: str) -> tuple[str, str | None]:
    """
    The version of an installed distribution and the directory its metadata was found in.

    :param name: the distribution name, e.g. ``crcmod-plus``.
    """
    dist = metadata.distribution(name)
    return dist.version, str(dist.locate_file(""))


def load_fastcrc() -> Loaded:
    """``fastcrc.crc64.xz(data, initial=crc)``."""
    import fastcrc

    xz = fastcrc.crc64.xz

    def update(data: Any, crc: int) -> int:
        return int(xz(data, initial=crc))

    version, where = _dist("fastcrc")
    return Loaded(update, str(fastcrc.__file__), version, where)


def load_anycrc() -> Loaded:
    """``anycrc.Model('CRC64-XZ').calc(data, crc)``."""
    import anycrc

    model = anycrc.Model("CRC64-XZ")

    def update(data: Any, crc: int) -> int:
        return int(model.calc(data, crc))

    version, where = _dist("anycrc")
    return Loaded(update, str(anycrc.__file__), version, where)


def _load_crcmod(dist_name: str) -> Loaded:
    """
    ``crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)``.

    :param dist_name: ``crcmod`` or ``crcmod-plus`` (both are imported as ``crcmod``).
    """
    # Not the attribute crcmod.crcmod: crcmod 1.7's __init__ runs "import crcmod.predefined", which
    # rebinds the package's name "crcmod" to the package itself, hiding the submodule.
    module = importlib.import_module("crcmod.crcmod")
    fun = module.mkCrcFun(CRCMOD_POLY, initCrc=0, xorOut=MASK, rev=True)

    def update(data: Any, crc: int) -> int:
        return int(fun(data, crc))

    version, where = _dist(dist_name)
    extension = bool(getattr(module, "_usingExtension", False))
    ext_module = sys.modules.get("crcmod._crcfunext")
    ext_file = str(ext_module.__file__) if extension and ext_module is not None else None
    return Loaded(update, str(module.__file__), version, where, extension, ext_file)


def load_crcmod() -> Loaded:
    """``crcmod`` 1.7 (sdist only; its C extension is built at install time, or silently not)."""
    return _load_crcmod("crcmod")


def load_crcmod_plus() -> Loaded:
    """``crcmod-plus``, the maintained fork with wheels."""
    return _load_crcmod("crcmod-plus")


def load_project_python() -> Loaded:
    """This project's pure-Python table fallback in :mod:`airflow_provider_oss.core.crc64`."""
    from airflow_provider_oss import __version__
    from airflow_provider_oss.core import crc64

    backend = crc64._pure_python_backend()
    return Loaded(backend, str(crc64.__file__), __version__, None, extension=False)


LOADERS: dict[str, Callable[[], Loaded]] = {
    "fastcrc": load_fastcrc,
    "anycrc": load_anycrc,
    "crcmod-plus": load_crcmod_plus,
    "crcmod": load_crcmod,
    "project-python": load_project_python,
}


def stream_bytes(seed: int, size: int) -> bytes:
    """
    The streaming check's bytes: the same in the parent and the child for the same seed.

    :param seed: the random seed.
    :param size: how many bytes.
    """
    return random.Random(seed).randbytes(size)


def streamed(update: Update, data: bytes) -> int:
    """
    The checksum of ``data`` fed in the 7 uneven pieces of :data:`PIECES` (the last takes the rest).

    :param update: the library's update function.
    :param data: at least ``sum(PIECES) + 1`` bytes.
    """
    crc, pos = 0, 0
    for size in (*PIECES, len(data) - sum(PIECES)):
        crc = update(data[pos : pos + size], crc)
        pos += size
    return crc


def takes_memoryview(update: Update, data: bytes) -> bool:
    """
    Whether the library hashes a memoryview slice (what ``crc64_of_file`` passes) correctly.

    :param update: the library's update function.
    :param data: some bytes.
    """
    try:
        return update(memoryview(data)[3:], 0) == update(data[3:], 0)
    except (TypeError, ValueError):
        return False


def zlib_update(data: Any, crc: int) -> int:
    """
    :func:`zlib.crc32`, which releases the GIL on large buffers: the control of the GIL test (about 2
    on an idle 2-core machine; much less when something else is using a core).

    :param data: the bytes.
    :param crc: the running CRC-32.
    """
    return zlib.crc32(data, crc)


def seconds_for(update: Update, data: bytes, loops: int = 1) -> float:
    """
    Wall seconds to hash ``data`` ``loops`` times.

    :param update: the library's update function.
    :param data: the buffer.
    :param loops: how many passes.
    """
    started = time.perf_counter()
    for _ in range(loops):
        update(data, 0)
    return time.perf_counter() - started


class Pair:
    """One function's best 1-thread and 2-thread times over the rounds so far."""

    def __init__(self, update: Update, first: bytes, second: bytes) -> None:
        """
        Calibrate the passes per measurement so that one thread works about :data:`GIL_SECONDS`.

        :param update: the function.
        :param first: one thread's buffer.
        :param second: the other thread's buffer (same size).
        """
        self.update, self.buffers = update, (first, second)
        self.loops = max(1, math.ceil(GIL_SECONDS / max(seconds_for(update, first), 1e-6)))
        self.one = math.inf
        self.two = math.inf

    def measure(self) -> None:
        """Time one thread, then two threads each hashing its own buffer; keep the best of each."""
        self.one = min(self.one, seconds_for(self.update, self.buffers[0], self.loops))
        threads = [
            threading.Thread(target=seconds_for, args=(self.update, buf, self.loops)) for buf in self.buffers
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.two = min(self.two, time.perf_counter() - started)

    @property
    def speedup(self) -> float:
        """Two threads' work over one thread's, per second: ~2 when the GIL is released on 2 idle cores."""
        return 2 * self.one / self.two


def gil_test(update: Update, first: bytes, second: bytes, rounds: int) -> dict[str, Any]:
    """
    How much faster two threads, each hashing its own buffer, finish than one thread doing one
    buffer's share (about 2 when the library releases the GIL on 2 cores, about 1 when it does not),
    next to the same figure for :func:`zlib.crc32` measured in the same rounds.

    Best times are compared (a busy core only slows a measurement down). Rounds go on past
    ``rounds``, up to :data:`GIL_MAX_ROUNDS`, while neither the library nor the control has shown
    a speedup of :data:`GIL_RELEASED`: a library that never scales means "holds the GIL" only once
    the control proved that two cores were free.

    :param update: the library's update function.
    :param first: one thread's buffer.
    :param second: the other thread's buffer (same size).
    :param rounds: the least number of rounds.
    """
    lib, control = Pair(update, first, second), Pair(zlib_update, first, second)
    done = 0
    while done < rounds or (done < GIL_MAX_ROUNDS and max(lib.speedup, control.speedup) < GIL_RELEASED):
        lib.measure()
        control.measure()
        done += 1
    return {
        "gil_speedup": lib.speedup,
        "gil_control": control.speedup,
        "gil_loops": lib.loops,
        "gil_rounds": done,
    }


def gil_probe(update: Update, data: bytes, tries: int = 5) -> float:
    """
    The share of one call during which another Python thread kept running: 0 when the library holds
    the GIL through the call, however busy the machine (the throughput test needs two free cores).

    A ticker thread records times (sleeping 0.1 ms between ticks, so this thread gets the GIL back
    at once); the switch interval is raised to 1 s so that no drop request lets the ticker in
    between the bytecodes around the call. A tick inside a call can only happen if the call released
    the GIL.

    :param update: the library's update function.
    :param data: the buffer (one call should last a few ms or more).
    :param tries: calls; the largest share is returned.
    """
    ticks: list[float] = []
    running = [True]

    def ticker() -> None:
        while running[0]:
            ticks.append(time.perf_counter())
            time.sleep(0.0001)

    thread = threading.Thread(target=ticker, daemon=True)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    best = 0.0
    try:
        thread.start()
        for _ in range(tries):
            time.sleep(0.005)
            start = time.perf_counter()
            update(data, 0)
            end = time.perf_counter()
            inside = [t for t in ticks if start < t < end]
            ticks.clear()
            if inside:
                best = max(best, (inside[-1] - inside[0]) / (end - start))
    finally:
        running[0] = False
        thread.join()
        sys.setswitchinterval(old_interval)
    return best


def throughput(update: Update, size: int, slow_size: int, repeat: int) -> dict[str, Any]:
    """
    GB/s over a random buffer (after a warm-up pass), and the two-thread speedup over its halves.

    :param update: the library's update function.
    :param size: the buffer size in bytes.
    :param slow_size: the buffer size used instead when the library runs below :data:`SLOW_RATE`.
    :param repeat: timed passes (the parent takes their median).
    """
    probe = os.urandom(min(size, 1 << 20))
    if len(probe) / max(seconds_for(update, probe), 1e-9) < SLOW_RATE:
        size = min(size, slow_size)
    data = os.urandom(size)
    seconds_for(update, data)  # warm-up, not counted
    rates = [size / seconds_for(update, data) / 1e9 for _ in range(repeat)]
    half = size // 2
    first, second = data[:half], data[half : 2 * half]
    result = {"size": size, "gbps": rates, **gil_test(update, first, second, max(3, repeat))}
    probe_size = min(size, max(1 << 20, int(statistics.median(rates) * 1e9 * PROBE_SECONDS)))
    result["gil_probe"] = gil_probe(update, data[:probe_size])
    result["probe_size"] = probe_size
    return result


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """
    Import one library from its own directory and measure it.

    :param spec: ``library``, ``dir`` (None for this project), ``seed``, ``stream_size``, ``size``,
        ``slow_size``, ``repeat``.
    """
    if spec["dir"]:
        sys.path.insert(0, spec["dir"])
    lib = LOADERS[spec["library"]]()
    data = stream_bytes(int(spec["seed"]), int(spec["stream_size"]))
    result: dict[str, Any] = {
        "module_file": lib.module_file,
        "version": lib.version,
        "dist_dir": lib.dist_dir,
        "extension": lib.extension,
        "extension_file": lib.extension_file,
        "check": lib.update(b"123456789", 0),
        "empty": lib.update(b"", 0),
        "oneshot": lib.update(data, 0),
        "streamed": streamed(lib.update, data),
        "memoryview": takes_memoryview(lib.update, data),
    }
    result.update(throughput(lib.update, int(spec["size"]), int(spec["slow_size"]), int(spec["repeat"])))
    return result


def main() -> int:
    """Read the spec from stdin, print the result as one JSON line."""
    spec = json.loads(sys.stdin.read())
    print(json.dumps(measure(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
