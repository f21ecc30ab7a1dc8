"""
``oss-local-server`` (``python -m airflow_provider_oss.testing``): run the local OSS server until
SIGTERM or SIGINT. It prints exactly one line to stdout when it is ready::

    OSS local server ready: endpoint=http://127.0.0.1:PORT region=cn-hangzhou buckets=test-bucket

The secret is never printed: pass it with ``--access-key-secret`` or the environment variable
``OSS_LOCAL_ACCESS_KEY_SECRET`` (default: ``local-access-key-secret``). An STS token that requests
must carry can be set with ``OSS_LOCAL_SECURITY_TOKEN``, and more access keys with
``OSS_LOCAL_EXTRA_CREDENTIALS`` (a JSON object of id -> secret).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import warnings
from types import FrameType

from airflow_provider_oss.testing.callback_targets import DEFAULT_CALLBACK_HOSTS
from airflow_provider_oss.testing.server import (
    ENV_EXTRA_CREDENTIALS,
    ENV_SECRET,
    ENV_TOKEN,
    READY_PREFIX,
    LocalOssServer,
    RemoteBindWarning,
)

DEFAULT_CLI_SECRET = "local-access-key-secret"  # noqa: S105  # a documented development default


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="oss-local-server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    parser.add_argument(
        "--bucket", action="append", default=None, help="bucket to create (repeatable; default test-bucket)"
    )
    parser.add_argument("--no-buckets", action="store_true", help="create no bucket at start")
    parser.add_argument("--public-bucket", action="append", default=[], help="public-read bucket to create")
    parser.add_argument(
        "--access-key-id", default="local-access-key", help="access key id (default local-access-key)"
    )
    parser.add_argument(
        "--access-key-secret",
        default=None,
        help=f"access key secret (default: ${ENV_SECRET}, else {DEFAULT_CLI_SECRET!r})",
    )
    parser.add_argument("--region", default="cn-hangzhou", help="region (default cn-hangzhou)")
    parser.add_argument(
        "--data-dir", default=None, help="storage directory (default: a temp dir, removed at exit)"
    )
    parser.add_argument(
        "--etag-mode", choices=("md5", "crc"), default="md5", help="ETag flavour (default md5)"
    )
    parser.add_argument(
        "--virtual-host-domain", default="oss-local.test", help="domain of virtual-hosted bucket hosts"
    )
    parser.add_argument("--default-bucket", default=None, help="bucket of CNAME-style requests")
    parser.add_argument("--no-v1", action="store_true", help="reject V1 signatures")
    parser.add_argument("--max-skew-seconds", type=int, default=900, help="allowed clock skew (default 900)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (other machines can then reach the server; it warns)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=120.0,
        help="seconds a connection may stay silent, TLS handshake included (default 120)",
    )
    parser.add_argument(
        "--callback-host",
        action="append",
        default=None,
        help="where upload callbacks may go: HOST, HOST:PORT, [IPv6]:PORT, a network or *; repeatable "
        "or comma-separated, 'none' for nowhere (default: loopback only; never the server itself)",
    )
    return parser


def callback_hosts(values: list[str] | None) -> tuple[str, ...]:
    """The ``--callback-host`` values as ``callback_hosts`` entries (the default when not given)."""
    if values is None:
        return DEFAULT_CALLBACK_HOSTS
    entries = [entry.strip() for value in values for entry in value.split(",") if entry.strip()]
    return tuple(entry for entry in entries if entry.lower() != "none")


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit code."""
    args = build_parser().parse_args(argv)
    secret = args.access_key_secret or os.environ.get(ENV_SECRET) or DEFAULT_CLI_SECRET
    try:
        extra = json.loads(os.environ.get(ENV_EXTRA_CREDENTIALS) or "{}")
    except ValueError:
        print(f"{ENV_EXTRA_CREDENTIALS} must be a JSON object of access key id -> secret.", file=sys.stderr)
        return 2
    buckets = [] if args.no_buckets else (args.bucket or ["test-bucket"])
    try:
        server = LocalOssServer(
            access_key_id=args.access_key_id,
            access_key_secret=secret,
            security_token=os.environ.get(ENV_TOKEN) or None,
            extra_credentials=extra,
            region=args.region,
            buckets=buckets,
            public_buckets=args.public_bucket,
            root_dir=args.data_dir,
            host=args.host,
            port=args.port,
            virtual_host_domain=args.virtual_host_domain,
            default_bucket=args.default_bucket,
            etag_mode=args.etag_mode,
            allow_v1=not args.no_v1,
            max_skew_seconds=args.max_skew_seconds,
            idle_timeout=args.idle_timeout,
            allow_remote=args.allow_remote,
            callback_hosts=callback_hosts(args.callback_host),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RemoteBindWarning)
            server.start()
        for warning in caught:
            print(f"oss-local-server: WARNING: {warning.message}", file=sys.stderr, flush=True)
    except (OSError, ValueError, TypeError) as err:
        print(f"oss-local-server: cannot start: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        names = ",".join([*server.buckets, *server.public_buckets])
        print(f"{READY_PREFIX}endpoint={server.endpoint} region={server.region} buckets={names}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
