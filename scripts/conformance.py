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
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.testing.conformance import classify, read_junit, read_times, summary

ACCESS_KEY_ID = "conformance-access-key"
ACCESS_KEY_SECRET = "conformance-access-key-secret"  # noqa: S105  # a local test server's key
REGION = "cn-hangzhou"
VIRTUAL_DOMAIN = "oss-local.localhost"


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
    parser.add_argument(
        "--suite", required=True, type=Path, help="the SDK checkout (or a test dir/file in it)"
    )
    parser.add_argument("--signature", choices=("v4", "v1"), default="v4")
    parser.add_argument("--addressing", choices=("path", "virtual"), default="path")
    parser.add_argument("--out", type=Path, default=None, help="report directory (default: a temp dir)")
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
        return report(args.out, log, f"{args.signature} {args.addressing}")
    kind, root, tests = find_suite(args.suite.resolve())
    out = args.out or Path(tempfile.mkdtemp(prefix=f"conformance-{kind}-"))
    out.mkdir(parents=True, exist_ok=True)
    # The suites read ./tests/data/... and write temp files into the working directory: run them in
    # a scratch directory whose ``tests`` is a link to the checkout's, so the checkout stays clean.
    workdir = Path(tempfile.mkdtemp(prefix="conformance-cwd-"))
    (workdir / "tests").symlink_to(root / "tests", target_is_directory=True)
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
        command = [
            sys.executable, "-m", "pytest", str(tests),
            "-p", "airflow_provider_oss.testing.conformance_plugin",
            "-p", "no:cacheprovider", "--rootdir", str(root), "-c", os.devnull,
            f"--junitxml={out / 'junit.xml'}", f"--timeout={args.timeout}", "-q", "--no-header", "-rN",
            "--continue-on-collection-errors",
        ]  # fmt: skip
        if args.keyword:
            command += ["-k", args.keyword]
        subprocess.run(command, cwd=workdir, env=env, check=False)  # our own argv
        log = server.request_log()
        (out / "log.json").write_text(json.dumps(log))
    finally:
        server.stop()
    return report(out, log, f"{kind} {args.signature} {args.addressing}")


def report(out: Path, log: list[dict[str, object]], title: str) -> int:
    """Classify the run in ``out``, write results.json and print the summary; 1 when a test failed."""
    results = classify(read_junit(str(out / "junit.xml")), read_times(str(out / "times.jsonl")), log)
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
