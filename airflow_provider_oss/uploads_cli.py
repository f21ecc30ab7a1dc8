"""
``oss-uploads``: list and abort in-progress multipart uploads through an Airflow connection.

An upload whose task failed for good keeps its parts (so that clearing the task can still resume
it); the final try's log names the upload ID and this command::

    oss-uploads list oss://my-bucket/backups/ --conn-id oss_default
    oss-uploads abort oss://my-bucket/backups/2026-11-30.tar 0004B9894A22E5B1888A1E29F823ABCD --conn-id oss_default

It runs wherever the connection resolves (a worker, the scheduler's machine, or anywhere with
``AIRFLOW_CONN_<ID>`` set), and prints no credential.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_oss.core.errors import OssError, OssNotFoundError


def parse_oss_url(url: str, *, need_key: bool) -> tuple[str, str]:
    """
    Split ``oss://bucket/key`` into its bucket and key.

    :param url: the URL.
    :param need_key: refuse a URL without a key.
    :raises ValueError: naming the expected form.
    """
    if not url.startswith("oss://"):
        raise ValueError(f"{url!r} is not an oss:// URL: give oss://bucket/key.")
    bucket, _, key = url[len("oss://") :].partition("/")
    if not bucket or (need_key and not key):
        raise ValueError(f"{url!r} needs a bucket{' and a key' if need_key else ''}: give oss://bucket/key.")
    return bucket, key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oss-uploads", description="List or abort in-progress OSS multipart uploads."
    )
    parser.add_argument(
        "--conn-id", default="oss_default", help="the Airflow connection (default oss_default)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="in-progress uploads under oss://bucket/prefix")
    listing.add_argument("url", help="oss://bucket or oss://bucket/prefix")
    abort = commands.add_parser("abort", help="abort one upload, deleting its parts")
    abort.add_argument("url", help="oss://bucket/key of the upload")
    abort.add_argument("upload_id", help="the upload ID (from the task log or 'list')")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 1 on an OSS error, 2 on bad arguments."""
    args = _parser().parse_args(argv)
    from airflow_provider_oss.hooks.oss import OssHook

    try:
        bucket, key = parse_oss_url(args.url, need_key=args.command == "abort")
    except ValueError as err:
        print(f"oss-uploads: {err}", file=sys.stderr)
        return 2
    try:
        client = OssHook(args.conn_id).get_client()
        if args.command == "list":
            count = 0
            for upload in client.list_multipart_uploads(bucket, prefix=key):
                initiated = upload.initiated.isoformat(timespec="seconds") if upload.initiated else "?"
                print(f"{upload.upload_id}\t{initiated}\toss://{bucket}/{upload.key}")
                count += 1
            print(f"{count} in-progress upload(s) under oss://{bucket}/{key}", file=sys.stderr)
            return 0
        client.abort_multipart_upload(bucket, key, args.upload_id)
        print(f"Aborted upload ID {args.upload_id} of oss://{bucket}/{key}: its parts are deleted.")
        return 0
    except OssNotFoundError as err:
        print(f"oss-uploads: not found: {err}", file=sys.stderr)
        return 1
    except (OssError, ValueError) as err:
        print(f"oss-uploads: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - the console script calls main()
    sys.exit(main())
