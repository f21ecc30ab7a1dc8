"""
The 10,000-part figures' child process (``python -m benchmarks.scale_child``), run by
:mod:`benchmarks.scale`.

Reads a JSON spec from stdin: the :class:`~benchmarks.clients.Target` fields plus ``mode`` and
``checkpoint_dir`` (the secret never goes on the command line), and prints one JSON line.

- ``seed``: upload the file with this project's engine and a :class:`FileCheckpointStore` while the
  server fails the last part every time (few, quick client retries), so that the upload, its
  checkpoint and every other part remain. Prints the failed part and the upload ID.
- ``measure``: time :func:`plan_parts` (and building every part of the plan), a paginated ListParts
  of the seeded upload through :class:`OssClient`, then a new :class:`ResumableUploader` run with the
  same checkpoint store. Prints the timings and the epoch second each step started at, so that the
  parent can split the server's request log between them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from airflow_provider_oss.core.client import OssClient
from airflow_provider_oss.upload import (
    FileCheckpointStore,
    PartUploadError,
    ResumableUploader,
    TransferConfig,
    plan_parts,
)
from benchmarks.client_setup import Target, our_client

#: Client retries while seeding: the failing part gives up after these, quickly.
SEED_RETRIES = 1
SEED_BACKOFF = 0.01


def make_client(target: Target, *, retries: int | None = None) -> OssClient:
    """
    An :class:`OssClient` for the local server, pooled for the upload's parallelism.

    :param target: where and how to upload.
    :param retries: client retries (None: the default) with a short backoff when given.
    """
    extra: dict[str, Any] = {}
    if retries is not None:
        extra = {"max_retries": retries, "backoff_base": SEED_BACKOFF, "backoff_max": SEED_BACKOFF}
    return our_client(target, **extra)


def make_uploader(client: OssClient, target: Target, checkpoint_dir: str) -> ResumableUploader:
    """
    The engine for ``target`` with a :class:`FileCheckpointStore` in ``checkpoint_dir``.

    :param client: the OSS client.
    :param target: where and how to upload.
    :param checkpoint_dir: the checkpoint directory (the same for the seed and the resume).
    """
    store = FileCheckpointStore(checkpoint_dir, target.bucket, target.key, target.path)
    return ResumableUploader(
        client,
        target.bucket,
        target.key,
        target.path,
        config=TransferConfig(part_size=target.part_size, parallelism=target.parallelism),
        checkpoint_store=store,
    )


def seed(target: Target, checkpoint_dir: str) -> dict[str, Any]:
    """
    Run the engine until the part the server refuses fails it; return that part and the upload ID.

    :param target: where and how to upload.
    :param checkpoint_dir: the checkpoint directory.
    :raises SystemExit: when the upload completed (the fault did not fire).
    """
    started = time.perf_counter()
    with make_client(target, retries=SEED_RETRIES) as client:
        try:
            make_uploader(client, target, checkpoint_dir).run()
        except PartUploadError as err:
            return {
                "failed_part": err.part_number,
                "upload_id": err.upload_id,
                "seconds": time.perf_counter() - started,
            }
    raise SystemExit("the seeding upload completed: the server's fault did not fire")


def time_plan(size: int, part_size: int) -> tuple[float, int]:
    """
    Seconds to plan a file and build every part of the plan, and the part count.

    :param size: the file size in bytes.
    :param part_size: the part size in bytes.
    """
    started = time.perf_counter()
    plan = plan_parts(size, part_size)
    built = sum(1 for _ in plan)
    return time.perf_counter() - started, built


def time_list_parts(client: OssClient, target: Target, upload_id: str) -> tuple[float, int]:
    """
    Seconds to list every part of the upload (all pages), and how many parts were listed.

    :param client: the OSS client.
    :param target: the bucket and key.
    :param upload_id: the seeded upload.
    """
    started = time.perf_counter()
    listed = sum(1 for _ in client.list_parts(target.bucket, target.key, upload_id))
    return time.perf_counter() - started, listed


def measure(target: Target, checkpoint_dir: str) -> dict[str, Any]:
    """
    Plan, ListParts, and the engine's resume of the seeded upload, each timed.

    :param target: where and how to upload.
    :param checkpoint_dir: the checkpoint directory the seed left its checkpoint in.
    """
    size = os.path.getsize(target.path)
    plan_s, planned = time_plan(size, target.part_size)
    store = FileCheckpointStore(checkpoint_dir, target.bucket, target.key, target.path)
    checkpoint = store.load()
    if checkpoint is None:
        raise SystemExit(f"no checkpoint in {checkpoint_dir}: seed the upload first")
    with make_client(target) as client:
        list_epoch = time.time()
        list_s, listed = time_list_parts(client, target, checkpoint.upload_id)
    with make_client(target) as client:
        resume_epoch = time.time()
        started = time.perf_counter()
        result = make_uploader(client, target, checkpoint_dir).run()
        resume_s = time.perf_counter() - started
    return {
        "plan_s": plan_s,
        "planned": planned,
        "list_epoch": list_epoch,
        "list_s": list_s,
        "listed": listed,
        "resume_epoch": resume_epoch,
        "resume_s": resume_s,
        "result": result.to_dict(),
    }


def main() -> int:
    """Read the spec from stdin, run the mode, print the JSON result line."""
    spec = json.load(sys.stdin)
    mode = spec.pop("mode")
    checkpoint_dir = spec.pop("checkpoint_dir")
    target = Target(**spec)
    if mode == "seed":
        result = seed(target, checkpoint_dir)
    elif mode == "measure":
        result = measure(target, checkpoint_dir)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected seed or measure")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
