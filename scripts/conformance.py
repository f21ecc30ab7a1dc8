"""
Run an official OSS SDK integration suite (a checkout, given as a path; never copied into this
project) against a freshly started local OSS server, and classify every test
(:mod:`airflow_provider_oss.testing.conformance`).

    python scripts/conformance.py --suite /path/to/alibabacloud-oss-python-sdk-v2 --signature v4 --addressing path
    make conformance SDK_TESTS=/path/to/aliyun-oss-python-sdk SIGNATURE=v1 ADDRESSING=virtual

Suites: ``alibabacloud-oss-python-sdk-v2`` (tests/integration) and ``aliyun-oss-python-sdk`` (oss2,
tests/). Both read ``OSS_TEST_*`` variables. Path-style uses the endpoint ``127.0.0.1:PORT`` (both
SDKs switch to path-style for an IP); virtual-hosted uses ``oss-local.localhost:PORT``, whose
``<bucket>.oss-local.localhost`` names the pytest plugin resolves to 127.0.0.1 in the test process.
Writes ``<out>/junit.xml``, ``<out>/results.json`` (every test with its class) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.conformance import (
    Run,
    classify,
    read_failures,
    read_junit,
    read_times,
    summary,
    write_report,
)

ACCESS_KEY_ID = "conformance-access-key"
ACCESS_KEY_SECRET = "conformance-access-key-secret"  # noqa: S105  # a local test server's key
REGION = "cn-hangzhou"
VIRTUAL_DOMAIN = "oss-local.localhost"
RUNS_DIR = Path(".conformance")  # one directory per suite and configuration; CONFORMANCE.md merges them


def find_suite(path: Path) -> tuple[str, Path, Path]:
    """
    The kind of suite (``v2`` or ``oss2``), its checkout root and its test directory.

    :raises SystemExit: when ``path`` is neither.
    """
    for root in (path, *path.parents):
        if (root / "tests" / "integration" / "__init__.py").is_file() and (
            root / "alibabacloud_oss_v2"
        ).is_dir():
            tests = (
                path
                if path != root and path.is_relative_to(root / "tests")
                else root / "tests" / "integration"
            )
            return "v2", root, tests
        if (root / "tests" / "common.py").is_file() and (root / "oss2").is_dir():
            tests = path if path != root and path.is_relative_to(root / "tests") else root / "tests"
            return "oss2", root, tests
    raise SystemExit(f"{path} is not a checkout of alibabacloud-oss-python-sdk-v2 or aliyun-oss-python-sdk.")


def checkout_state(root: Path) -> tuple[str | None, str | None]:
    """
    The checkout's commit and ``git status --porcelain`` (untracked and ignored files included),
    or ``(None, None)`` when ``root`` is not a git checkout.
    """
    if not (root / ".git").exists():
        return None, None
    git = ["git", "-C", str(root)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    status = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=all", "--ignored"],
        capture_output=True,
        text=True,
        check=True,
    )
    return commit.stdout.strip(), status.stdout


def suite_env(kind: str, endpoint: str, signature: str, addressing: str, times: str) -> dict[str, str]:
    """The environment of the suite's pytest process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_TEST_", "CONFORMANCE_"))}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    env.update(
        {
            "OSS_TEST_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "OSS_TEST_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "OSS_TEST_ENDPOINT": endpoint,
            "OSS_TEST_REGION": REGION,
            "NO_PROXY": "*",
            "PYTHONDONTWRITEBYTECODE": "1",
            "CONFORMANCE_TIMES": times,
        }
    )
    if kind == "oss2":
        env["OSS_TEST_AUTH_VERSION"] = signature
        env["OSS_TEST_UID"] = "1234567890123456"  # the account id some tests put in requests
    else:
        env["CONFORMANCE_V2"] = "1"
        env["CONFORMANCE_V2_SIGNATURE"] = signature
        env["OSS_TEST_USER_ID"] = "1234567890123456"  # an account id for ARNs the suite builds
    if addressing == "virtual":
        env["CONFORMANCE_RESOLVE_SUFFIX"] = ".localhost"
    return env


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 0 when no test failed on implemented behaviour."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", type=Path, help="the SDK checkout (or a test dir/file in it)")
    parser.add_argument("--signature", choices=("v4", "v1"), default="v4")
    parser.add_argument("--addressing", choices=("path", "virtual"), default="path")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report directory (default: .conformance/SUITE-SIGNATURE-ADDRESSING)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="after the run, rewrite the results section of this Markdown file (CONFORMANCE.md) from "
        "every run in --runs (default: every run directory under .conformance/)",
    )
    parser.add_argument("--runs", type=Path, nargs="+", default=None, help="run directories for --report")
    parser.add_argument("--timeout", type=int, default=120, help="per-test timeout in seconds")
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    parser.add_argument(
        "--reclassify", action="store_true", help="classify the reports already in --out again (no run)"
    )
    args = parser.parse_args(argv)
    if args.reclassify:
        if args.out is None:
            raise SystemExit("--reclassify needs --out DIR of an earlier run.")
        log = json.loads((args.out / "log.json").read_text()) if (args.out / "log.json").exists() else []
        meta_file = args.out / "meta.json"
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        title = " ".join(str(meta.get(k, "")) for k in ("suite", "signature", "addressing")).strip()
        return report(args.out, log, title or str(args.out))
    if args.suite is None:
        if args.report is None:
            raise SystemExit("Give --suite (a run) or --report (a report of earlier runs), or both.")
        return write_markdown(args.report, args.runs)
    code = run(args)
    if args.report is not None:
        write_markdown(args.report, args.runs)
    return code


def write_markdown(path: Path, runs: list[Path] | None) -> int:
    """Rewrite the results section of ``path`` from ``runs`` (default: every run under .conformance/)."""
    directories = runs or sorted(p.parent for p in RUNS_DIR.glob("*/meta.json"))
    if not directories:
        raise SystemExit(f"No finished run to report (no {RUNS_DIR}/*/meta.json); run a suite first.")
    write_report(str(path), [Run.load(str(d)) for d in directories])
    print(f"wrote {path} from {len(directories)} run(s): " + ", ".join(str(d) for d in directories))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the suite of ``args.suite`` and classify it; 0 when no test failed on implemented behaviour."""
    kind, root, tests = find_suite(args.suite.resolve())
    out = args.out or RUNS_DIR / f"{kind}-{args.signature}-{args.addressing}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)  # an unfinished run is never reported
    commit, status_before = checkout_state(root)
    # The suites read ./tests/data/... and write files into the working directory and next to their
    # own modules: run a copy of the checkout's ``tests`` in a scratch directory, so that nothing
    # lands in the checkout. The SDK under test is the checkout's own (PYTHONPATH).
    workdir = Path(tempfile.mkdtemp(prefix="conformance-cwd-"))
    shutil.copytree(root / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    tests = workdir / tests.relative_to(root)
    started = time.time()
    times = out / "times.jsonl"
    times.unlink(missing_ok=True)
    server = LocalOssServer.spawn(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        region=REGION,
        buckets=(),
        virtual_host_domain=VIRTUAL_DOMAIN,
    )
    try:
        host = "127.0.0.1" if args.addressing == "path" else VIRTUAL_DOMAIN
        endpoint = f"{host}:{server.port}"  # no scheme: the SDKs then use http (see the plugin)
        env = suite_env(kind, endpoint, args.signature, args.addressing, str(times))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(root), env.get("PYTHONPATH"))))
        command = [
            sys.executable, "-m", "pytest", str(tests),
            "-p", "airflow_provider_oss.testing.conformance_plugin",
            "-p", "no:cacheprovider", "--rootdir", str(workdir), "-c", os.devnull,
            f"--junitxml={out / 'junit.xml'}", f"--timeout={args.timeout}", "-q", "--no-header", "-rN",
            # native tracebacks: pytest's own formatting crashes the run (INTERNALERROR, "AST
            # constructor recursion depth mismatch") on a failure of oss2's test_credentials_provider
            "--tb=native",
            "--continue-on-collection-errors",
        ]  # fmt: skip
        if args.keyword:
            command += ["-k", args.keyword]
        pytest_exit = subprocess.run(command, cwd=workdir, env=env, check=False).returncode  # our own argv
        log = server.request_log()
        (out / "log.json").write_text(json.dumps(log))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    meta = {
        "suite": kind,
        "commit": commit,
        "signature": args.signature,
        "addressing": args.addressing,
        "started": started,
        "finished": time.time(),
        "timeout": args.timeout,
        "keyword": args.keyword,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    code = report(out, log, f"{kind} {args.signature} {args.addressing}")
    if pytest_exit not in (0, 1):  # 2 interrupted, 3 internal error, 4 usage error, 5 no tests
        print(f"ERROR: pytest exited with {pytest_exit}: the run is incomplete.", file=sys.stderr)
        code = 4
    _, status_after = checkout_state(root)
    if status_after != status_before:
        print(
            f"ERROR: the run changed the SDK checkout {root} (git status --porcelain before/after):\n"
            f"--- before\n{status_before}--- after\n{status_after}",
            file=sys.stderr,
        )
        return 3
    return code


def report(out: Path, log: list[dict[str, object]], title: str) -> int:
    """Classify the run in ``out``, write results.json and print the summary; 1 when a test failed."""
    times = str(out / "times.jsonl")
    results = classify(read_junit(str(out / "junit.xml")), read_times(times), log, read_failures(times))
    (out / "results.json").write_text(
        json.dumps(
            [{"test": r.test_id, "class": r.klass, "rule": r.rule, "text": r.text[:2000]} for r in results],
            indent=1,
        )
    )
    counts = summary(results)
    (out / "summary.json").write_text(json.dumps(counts))
    print(f"\n{title}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    print(f"report: {out / 'results.json'}")
    for item in results:
        if item.klass == "failed":
            print(
                f"  FAILED {item.test_id}: {item.text.strip().splitlines()[0][:200] if item.text.strip() else ''}"
            )
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
