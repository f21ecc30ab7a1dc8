"""
Compare the CRC-64/XZ libraries side by side (``python -m benchmarks.crc_libraries``).

CRC-64/XZ (the ECMA-182 polynomial, reflected, init and xorout all ones) is what OSS returns as
``x-oss-hash-crc64ecma``. The candidates are ``fastcrc``, ``anycrc``, ``crcmod-plus``, ``crcmod``
1.7 and this project's pure-Python fallback (:mod:`airflow_provider_oss.core.crc64`).

``crcmod`` and ``crcmod-plus`` install into the same ``crcmod/`` folder, so every library gets its
own directory (``uv pip install --target``, pinned versions, cached under ``--cache-dir``) and is
measured in its own child process (:mod:`benchmarks.crc_child`) that imports from that directory
first; the row shows the file actually imported. For each library: the check value, a streamed
checksum (7 uneven pieces) against one-shot and against this project's ``crc64``, GB/s (median,
after a warm-up), the speedup of 2 threads over 1 (≥ 1.5x on 2 cores: the GIL is released), and
the wheels PyPI publishes. Prints the machine, then one markdown table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_oss.core import crc64
from benchmarks.crc_child import GIL_RELEASED, stream_bytes
from benchmarks.machine import describe
from benchmarks.run import REPO_ROOT, run_module

MIB = 1024 * 1024
DEFAULT_CACHE = REPO_ROOT / ".bench-cache" / "crc-libs"
#: The streaming check's bytes: seeded, so the parent computes the reference on the same bytes.
STREAM_SEED = 20261
STREAM_SIZE = 2_100_001
#: A release older than this is not "well kept".
MAX_AGE = timedelta(days=3 * 365)
#: The GIL probe's share above which a library released the GIL during its call (0 when it holds it).
PROBE_RELEASED = 0.1
#: The platforms a chosen library must publish wheels for.
PLATFORMS = ("Linux x86_64", "Linux aarch64", "macOS", "Windows")


@dataclass(frozen=True)
class Candidate:
    """One library: its child loader key, label, and pinned distribution (None: this project)."""

    key: str
    label: str
    dist: str | None
    version: str | None
    call: str


CANDIDATES = (
    Candidate("fastcrc", "fastcrc", "fastcrc", "0.5.0", "fastcrc.crc64.xz(data, initial=crc)"),
    Candidate("anycrc", "anycrc", "anycrc", "2.1.0", "anycrc.Model('CRC64-XZ').calc(data, crc)"),
    Candidate(
        "crcmod-plus",
        "crcmod-plus",
        "crcmod-plus",
        "2.3.6",
        "crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)",
    ),
    Candidate("crcmod", "crcmod", "crcmod", "1.7", "same call as crcmod-plus"),
    Candidate(
        "project-python",
        "airflow-provider-oss pure Python",
        None,
        None,
        "airflow_provider_oss.core.crc64._pure_python_backend()",
    ),
)


@dataclass
class Row:
    """What one library did: install outcome, child result, wheels."""

    candidate: Candidate
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    wheels: dict[str, Any] | None = None
    install_note: str = ""


def _log(message: str) -> None:
    """
    Progress on stderr.

    :param message: the line to print.
    """
    print(message, file=sys.stderr, flush=True)


def platform_tag() -> str:
    """This interpreter and machine (``cpython-311-x86_64``): built extensions are only good for them."""
    return f"{sys.implementation.cache_tag}-{platform.machine()}"


def installer(target: Path, spec: str) -> list[str]:
    """
    The command that installs ``spec`` into ``target``: uv next to this interpreter (or on PATH),
    else pip.

    :param target: the install directory.
    :param spec: ``name==version``.
    """
    uv = Path(sys.executable).parent / "uv"
    uv_path = str(uv) if uv.exists() else shutil.which("uv")
    if uv_path:
        return [uv_path, "pip", "install", "--python", sys.executable, "--target", str(target), spec]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--target",
        str(target),
        spec,
    ]


def install(candidate: Candidate, cache_dir: Path, timeout: float) -> tuple[Path | None, str]:
    """
    Install a pinned library into its own directory, or reuse the one a previous run completed.

    :param candidate: the library (``dist`` None: nothing to install).
    :param cache_dir: the cache root.
    :param timeout: seconds before the installer is killed.
    :return: the directory (None when the install failed or there is none) and a note or error.
    """
    if candidate.dist is None:
        return None, ""
    spec = f"{candidate.dist}=={candidate.version}"
    target = cache_dir / platform_tag() / f"{candidate.dist}-{candidate.version}"
    marker = target / ".installed.json"
    if marker.exists():
        return target, "cached"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    _log(f"installing {spec} into {target} ...")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            installer(target, spec), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"install failed: {type(exc).__name__}: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "?").splitlines()[-1]
        return None, f"install failed (exit {proc.returncode}): {last}"
    seconds = time.monotonic() - started
    marker.write_text(json.dumps({"spec": spec, "python": sys.version, "seconds": seconds}))
    return target, f"installed in {seconds:.1f} s"


def _pypi_json(url: str, timeout: float) -> dict[str, Any]:
    """
    One PyPI JSON API answer.

    :param url: an ``https://pypi.org/pypi/...`` address.
    :param timeout: seconds.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # fixed https URL
        answer: dict[str, Any] = json.load(response)
    return answer


def _release_files(name: str, version: str, timeout: float) -> list[dict[str, Any]]:
    """
    The files PyPI publishes for one release (the per-release endpoint, else the project's).

    :param name: the distribution.
    :param version: the release.
    :param timeout: seconds per request.
    """
    try:
        files: list[dict[str, Any]] = _pypi_json(f"https://pypi.org/pypi/{name}/{version}/json", timeout)[
            "urls"
        ]
        return files
    except (OSError, ValueError, KeyError):
        files = _pypi_json(f"https://pypi.org/pypi/{name}/json", timeout)["releases"][version]
        return files


def wheel_platforms(filenames: list[str]) -> list[str]:
    """
    Which of :data:`PLATFORMS` the wheel file names cover.

    :param filenames: release file names.
    """
    wheels = [f.lower() for f in filenames if f.endswith(".whl")]
    found = {
        "Linux x86_64": any("linux" in w and "x86_64" in w for w in wheels),
        "Linux aarch64": any("linux" in w and "aarch64" in w for w in wheels),
        "macOS": any("macosx" in w for w in wheels),
        "Windows": any("-win" in w for w in wheels),
    }
    return [name for name in PLATFORMS if found[name]]


def wheels_info(candidate: Candidate, cache_dir: Path, timeout: float) -> dict[str, Any] | None:
    """
    The release's file names and upload date from PyPI, cached in ``cache_dir``; None when unknown.

    :param candidate: the library (None for this project's own code).
    :param cache_dir: the cache root.
    :param timeout: seconds per request.
    """
    if candidate.dist is None or candidate.version is None:
        return None
    path = cache_dir / "pypi" / f"{candidate.dist}-{candidate.version}.json"
    if path.exists():
        cached: dict[str, Any] = json.loads(path.read_text())
        return cached
    try:
        files = _release_files(candidate.dist, candidate.version, timeout)
    except (OSError, ValueError, KeyError) as exc:
        _log(f"PyPI lookup for {candidate.dist} failed: {exc}")
        return None
    info = {
        "files": [f["filename"] for f in files],
        "uploaded": min((f.get("upload_time") or "9999")[:10] for f in files) if files else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info))
    return info


def run_child(candidate: Candidate, target: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    """
    Measure one library in its own process and return the child's JSON result.

    :param candidate: the library.
    :param target: its install directory (None: this project, from the repo).
    :param args: the parsed options (sizes, repeat, timeout).
    """
    spec = {
        "library": candidate.key,
        "dir": str(target) if target else None,
        "seed": STREAM_SEED,
        "stream_size": STREAM_SIZE,
        "size": args.size_mb * MIB,
        "slow_size": args.slow_size_mb * MIB,
        "repeat": args.repeat,
    }
    return run_module(
        "benchmarks.crc_child",
        spec,
        args.timeout,
        f"the {candidate.label} child",
        pythonpath=str(target) if target else str(REPO_ROOT),
    )


def isolation_error(candidate: Candidate, target: Path | None, result: dict[str, Any]) -> str | None:
    """
    Why the child's module or metadata did not come from the library's own directory (None if it did).

    :param candidate: the library.
    :param target: its install directory.
    :param result: the child's result.
    """
    if target is None:
        expected = REPO_ROOT / "airflow_provider_oss"
        return None if Path(result["module_file"]).is_relative_to(expected) else "not this project's file"
    if not Path(result["module_file"]).resolve().is_relative_to(target.resolve()):
        return f"imported {result['module_file']}, not from {target}"
    if result["dist_dir"] is None or not Path(result["dist_dir"]).resolve().is_relative_to(target.resolve()):
        return f"metadata from {result['dist_dir']}, not from {target}"
    ext = result.get("extension_file")
    if ext and not Path(ext).resolve().is_relative_to(target.resolve()):
        return f"C extension from {ext}, not from {target}"
    if result["version"] != candidate.version:
        return f"version {result['version']}, expected {candidate.version}"
    return None


def measure(candidate: Candidate, args: argparse.Namespace) -> Row:
    """
    Install (or reuse), look up the wheels, and measure one library; failures go into the row.

    :param candidate: the library.
    :param args: the parsed options.
    """
    row = Row(candidate, wheels=wheels_info(candidate, args.cache_dir, args.pypi_timeout))
    target, note = install(candidate, args.cache_dir, args.install_timeout)
    row.install_note = note
    if candidate.dist is not None and target is None:
        row.error = note
        return row
    _log(f"measuring {candidate.label} ({note or 'from the repo'}) ...")
    try:
        row.result = run_child(candidate, target, args)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        lines = str(exc).strip().splitlines() or ["no output"]
        row.error = (
            lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}: {lines[-1].strip()}"
        )  # a table cell
        return row
    row.error = isolation_error(candidate, target, row.result)
    return row


def gbps(row: Row) -> float | None:
    """
    The median GB/s of a measured row, or None.

    :param row: the row.
    """
    rates = row.result.get("gbps")
    return statistics.median(rates) if rates else None


def streaming_ok(row: Row, reference: int) -> bool:
    """
    Whether 7 uneven pieces give the one-shot checksum and this project's checksum of the same bytes.

    :param row: a measured row.
    :param reference: :func:`airflow_provider_oss.core.crc64.crc64` of the streaming bytes.
    """
    res = row.result
    return bool(res["streamed"] == res["oneshot"] == reference and res["empty"] == 0)


def check_ok(row: Row) -> bool:
    """
    Whether the library gives the OSS check value for ``b"123456789"``.

    :param row: a measured row.
    """
    return bool(row.result["check"] == crc64.CHECK_VALUE)


def correct(row: Row, reference: int) -> bool:
    """
    Whether a measured row gives the check value and streams correctly.

    :param row: a measured row.
    :param reference: the project's checksum of the streaming bytes.
    """
    return row.error is None and check_ok(row) and streaming_ok(row, reference)


def fmt_rate(value: float) -> str:
    """
    A figure with about 3 significant digits.

    :param value: GB/s.
    """
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def fmt_ratio(value: float) -> str:
    """
    A ratio to fastcrc: two decimals near 1, 3 significant digits when small.

    :param value: the ratio.
    """
    if value >= 100:
        return f"{value:.0f}x"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.3g}x"


def version_cell(row: Row) -> str:
    """
    The version, and for crcmod whether its C extension is in use.

    :param row: the row.
    """
    res = row.result
    text = str(res.get("version") or row.candidate.version or "?")
    if row.candidate.key in {"crcmod", "crcmod-plus"} and "extension" in res:
        built = " (built from the sdist)" if row.candidate.key == "crcmod" else ""
        text += f", C extension{built}" if res["extension"] else ", **pure Python (C extension not built)**"
    return text


def wheels_cell(row: Row) -> str:
    """
    What PyPI publishes for the pinned release.

    :param row: the row.
    """
    if row.candidate.dist is None:
        return "n/a (part of this package)"
    if row.wheels is None:
        return "unknown"
    files: list[str] = row.wheels["files"]
    found = wheel_platforms(files)
    wheels = sum(f.endswith(".whl") for f in files)
    if not found:
        return f"none (sdist only{', plus old .msi installers' if any(f.endswith('.msi') for f in files) else ''})"
    return f"{wheels}: {', '.join(found)}"


def gil_verdict(row: Row) -> str:
    """
    ``yes`` when 2 threads ran at least :data:`GIL_RELEASED` times faster than 1, or when another
    thread kept running during a call (the probe, which a busy machine cannot fool); else ``no``.

    :param row: a measured row.
    """
    res = row.result
    released = float(res.get("gil_speedup", 0.0)) >= GIL_RELEASED
    return "yes" if released or float(res.get("gil_probe", 0.0)) >= PROBE_RELEASED else "no"


def gil_cell(row: Row) -> str:
    """
    The GIL verdict; the measured speedup of 2 threads over 1 and the control's (``zlib.crc32``,
    which releases the GIL, in the same rounds: below 1.5 the machine had no 2 free cores); and the
    share of a call during which another thread ran.

    :param row: a measured row.
    """
    res = row.result
    speedup, control = float(res["gil_speedup"]), float(res["gil_control"])
    busy = ", machine busy" if control < GIL_RELEASED else ""
    return (
        f"{gil_verdict(row)} ({speedup:.2f}x; zlib.crc32 control {control:.2f}x{busy}; "
        f"other thread ran {float(res['gil_probe']):.0%} of a call)"
    )


def table_row(row: Row, reference: int, base: float | None) -> str:
    """
    One markdown table line.

    :param row: the row.
    :param reference: the project's checksum of the streaming bytes.
    :param base: fastcrc's median GB/s (None when it was not measured).
    """
    released = (row.wheels or {}).get("uploaded") or ("n/a" if row.candidate.dist is None else "unknown")
    if row.error is not None or not row.result:
        error = row.error.replace("|", "/") if row.error else "no result"
        cells = [row.candidate.label, version_cell(row), f"- ({error})", "-", "-", "-", "-", "-"]
        return "| " + " | ".join([*cells, wheels_cell(row), released]) + " |"
    res = row.result
    rate = gbps(row) or 0.0
    size = f"{res['size'] // MIB} MiB"
    cells = [
        row.candidate.label,
        version_cell(row),
        "yes" if check_ok(row) else f"**no** ({res['check']:#x})",
        "yes" if streaming_ok(row, reference) else f"**no** ({res['streamed']:#x} vs {res['oneshot']:#x})",
        "yes" if res["memoryview"] else "no",
        f"{fmt_rate(rate)} ({size}, median of {len(res['gbps'])})",
        fmt_ratio(rate / base) if base else "-",
        gil_cell(row),
        wheels_cell(row),
        released,
    ]
    return "| " + " | ".join(cells) + " |"


def table(rows: list[Row], reference: int) -> list[str]:
    """
    The markdown table of all candidates.

    :param rows: one per candidate, in order.
    :param reference: the project's checksum of the streaming bytes.
    """
    base = next((gbps(r) for r in rows if r.candidate.key == "fastcrc" and r.error is None), None)
    lines = [
        "| library | version | OSS check value | streaming (7 uneven pieces = one-shot = project) "
        "| memoryview | GB/s | vs fastcrc | releases the GIL (2 threads vs 1) | wheels on PyPI | released |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(table_row(row, reference, base) for row in rows)
    return lines


def well_kept(row: Row, today: datetime) -> bool:
    """
    Whether the pinned release is recent (within :data:`MAX_AGE`) and has wheels for every platform.

    :param row: the row.
    :param today: now.
    """
    if row.wheels is None or not row.wheels.get("uploaded"):
        return False
    uploaded = datetime.fromisoformat(row.wheels["uploaded"]).replace(tzinfo=timezone.utc)
    return today - uploaded <= MAX_AGE and wheel_platforms(row.wheels["files"]) == list(PLATFORMS)


def _why_not(row: Row, reference: int, today: datetime) -> str:
    """
    Why a row is not eligible for the pick.

    :param row: the row.
    :param reference: the project's checksum of the streaming bytes.
    :param today: now.
    """
    if row.candidate.dist is None:
        return "this project's own last resort"
    if not correct(row, reference):
        return "not measured or wrong" if row.error or not row.result else "wrong checksum"
    if row.wheels is None:
        return "wheels unknown"
    reasons = []
    missing = [p for p in PLATFORMS if p not in wheel_platforms(row.wheels["files"])]
    if missing:
        reasons.append(f"no wheels for {', '.join(missing)}")
    uploaded = row.wheels.get("uploaded")
    if not uploaded or today - datetime.fromisoformat(uploaded).replace(tzinfo=timezone.utc) > MAX_AGE:
        reasons.append(f"last release {uploaded or 'unknown'}")
    return ", ".join(reasons) or "?"


def chosen(rows: list[Row], reference: int) -> str:
    """
    The pick, and why: among correct libraries with a recent release and wheels for every platform,
    one that releases the GIL first (the upload engine hashes parts on worker threads), then the fastest.

    :param rows: the measured rows.
    :param reference: the project's checksum of the streaming bytes.
    """
    today = datetime.now(timezone.utc)
    good = [r for r in rows if r.candidate.dist and correct(r, reference) and well_kept(r, today)]
    chain = (
        "fallback chain (airflow_provider_oss.core.crc64): fastcrc, else crcmod's C extension "
        "(crcmod-plus has wheels; crcmod 1.7 only if its extension built), else the pure-Python table"
    )
    excluded = "; ".join(
        f"{r.candidate.label}: {_why_not(r, reference, today)}" for r in rows if not any(r is g for g in good)
    )
    if not good:
        return f"chosen: none qualifies (not eligible: {excluded}); {chain}."
    best = max(good, key=lambda r: (gil_verdict(r) == "yes", gbps(r) or 0.0))
    base = gbps(best) or 1.0
    others = "; ".join(
        f"{r.candidate.label} {fmt_ratio((gbps(r) or 0.0) / base)} its speed"
        f"{' and holds the GIL' if gil_verdict(r) == 'no' else ''}"
        for r in good
        if r is not best
    )
    return (
        f"chosen: {best.candidate.label} {best.result['version']} (`{best.candidate.call}`): gives the OSS "
        f"value, streams correctly, {fmt_rate(base)} GB/s, "
        f"{'releases' if gil_verdict(best) == 'yes' else 'holds'} the GIL (parts are hashed on upload threads), "
        f"released {best.wheels['uploaded'] if best.wheels else '?'} with wheels for {', '.join(PLATFORMS)}. "
        f"Also eligible: {others or 'none'}. Not eligible: {excluded or 'none'}. {chain[0].upper()}{chain[1:]}."
    )


def _rel(path: str) -> str:
    """
    A path relative to the repository when inside it.

    :param path: a file path (or a placeholder).
    """
    return os.path.relpath(path, REPO_ROOT) if path.startswith(str(REPO_ROOT)) else path


def notes(rows: list[Row]) -> list[str]:
    """
    Where each library was imported from, and how it was installed.

    :param rows: the measured rows.
    """
    lines = []
    for row in rows:
        where = row.result.get("module_file", "-")
        ext = row.result.get("extension_file")
        extra = f" and `{_rel(ext)}`" if ext else ""
        extra += f"; {row.install_note}" if row.install_note else ""
        lines.append(f"- {row.candidate.label}: `{row.candidate.call}`, imported from `{_rel(where)}`{extra}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """
    The command-line options.

    :param argv: the arguments (None: ``sys.argv``).
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=256, help="buffer size in MiB (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the table shows medians")
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 MiB, 1 pass")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="per-library installs")
    parser.add_argument("--install-timeout", type=float, default=300.0, help="seconds per install")
    parser.add_argument("--pypi-timeout", type=float, default=20.0, help="seconds per PyPI request")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a child is killed")
    args = parser.parse_args(argv)
    args.slow_size_mb = 4
    if args.quick:
        args.size_mb, args.repeat, args.slow_size_mb = 16, 1, 1
    args.cache_dir = args.cache_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """
    Run the comparison and print the table; 1 when an installed library gives a wrong checksum.

    :param argv: the arguments (None: ``sys.argv``).
    """
    args = parse_args(argv)
    started = time.monotonic()
    reference = crc64.crc64(stream_bytes(STREAM_SEED, STREAM_SIZE))
    rows = [measure(candidate, args) for candidate in CANDIDATES]
    print(*describe(), sep="\n")
    print(
        f"- CRC-64/XZ of one {args.size_mb} MiB random buffer (pure-Python backends: {args.slow_size_mb} MiB), "
        f"each library in its own process and install dir ({args.cache_dir}), "
        f"{time.monotonic() - started:.0f} s in all"
    )
    print()
    print(*table(rows, reference), sep="\n")
    print()
    print(*notes(rows), sep="\n")
    print()
    print(chosen(rows, reference))
    wrong = [r for r in rows if r.result and r.error is None and not correct(r, reference)]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
