"""
The main job, end to end, with nothing to configure (``make demo``).

1. start the local OSS server on 127.0.0.1 (a free port, strict V4 signatures);
2. create a test file (256 MiB by default: ``--size-mb``);
3. run the example DAG ``example_oss_resumable_upload`` with ``airflow dags test``, with the
   connection ``oss_default`` pointed at the server and a fault injected part-way through the first
   try (the server resets the connection on an UploadPart until the client's retries run out);
4. show, from the server's own request log, that the retry continued the same upload ID: parts
   skipped, bytes sent by each try, the CRC-64 of the object against the file's;
5. clean up (``--keep`` leaves the files in ``.demo/``).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_provider_oss.core import crc64  # noqa: E402
from airflow_provider_oss.testing import LocalOssServer  # noqa: E402

DAG_ID = "example_oss_resumable_upload"
BUCKET = "demo-bucket"
MIB = 1024 * 1024


def _say(text: str = "") -> None:
    print(text, flush=True)


def _make_file(path: Path, size: int) -> int:
    """Write ``size`` pseudo-random bytes (a repeated random block, cheap to make) and return their CRC-64."""
    block = os.urandom(4 * MIB)
    crc = 0
    with path.open("wb") as f:
        written = 0
        counter = 0
        while written < size:
            chunk = (counter.to_bytes(8, "little") + block)[: min(4 * MIB, size - written)]
            f.write(chunk)
            crc = crc64.update(crc, chunk)
            written += len(chunk)
            counter += 1
    return crc


def _airflow_env(work: Path, server: LocalOssServer, checkpoint_dir: Path | None) -> dict[str, str]:
    env = os.environ.copy()
    home = work / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "OSS_DEMO_RETRY_DELAY": "0",
            "AIRFLOW_CONN_OSS_DEFAULT": json.dumps(
                {
                    "conn_type": "oss_resumable",
                    "login": server.access_key_id,
                    "password": server.access_key_secret,
                    "extra": {
                        "region": server.region,
                        "endpoint": server.endpoint,
                        "addressing_style": "path",
                        "max_retries": 1,
                        "backoff_base": 0.05,
                        "backoff_max": 0.2,
                    },
                }
            ),
        }
    )
    if checkpoint_dir is not None:
        env["OSS_CHECKPOINT_DIR"] = str(checkpoint_dir)
        env["OSS_CHECKPOINT_MODE"] = "file"
    return env


def _tries(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split the request log into tries: each try starts with its first request after a failed one."""
    tries: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for entry in log:
        if entry["op"] in ("InitiateMultipartUpload", "ListParts") and (current is None or current["failed"]):
            current = {
                "initiated": 0,
                "upload_ids": set(),
                "parts_ok": 0,
                "bytes_ok": 0,
                "failed": False,
                "listed": 0,
            }
            tries.append(current)
        if current is None:
            continue
        if entry.get("upload_id"):
            current["upload_ids"].add(entry["upload_id"])
        if entry["op"] == "InitiateMultipartUpload":
            current["initiated"] += 1
        elif entry["op"] == "ListParts":
            current["listed"] += 1
        elif entry["op"] == "UploadPart":
            if entry["status"] == 200:
                current["parts_ok"] += 1
                current["bytes_ok"] += entry["bytes_received"]
            elif entry.get("fault"):
                current["failed"] = True
    return tries


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915  # the demo reads top to bottom as the story it prints
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=256, help="size of the test file (default 256)")
    parser.add_argument("--part-size-mb", type=int, default=8, help="part size (default 8)")
    parser.add_argument(
        "--fail-at", type=float, default=0.4, help="fraction of parts after which try 1 fails"
    )
    parser.add_argument(
        "--checkpoint",
        choices=("state_store", "file"),
        default="state_store",
        help="where the checkpoint lives (Airflow's task_state_store, or a file)",
    )
    parser.add_argument("--keep", action="store_true", help="keep .demo/ (the file, Airflow home and logs)")
    args = parser.parse_args(argv)
    if args.size_mb < 1 or args.part_size_mb < 1:
        parser.error("--size-mb and --part-size-mb must be at least 1")

    work = REPO / ".demo"
    shutil.rmtree(work, ignore_errors=True)
    (work / "run").mkdir(parents=True, exist_ok=True)
    source = work / "run" / "big-file.bin"
    checkpoint_dir = work / "run" / "checkpoints" if args.checkpoint == "file" else None
    size = args.size_mb * MIB
    part_size = args.part_size_mb * MIB
    parts = -(-size // part_size)
    key = f"demo/{source.name}"
    started = time.monotonic()

    _say(f"== airflow-provider-oss demo: a {args.size_mb} MiB upload that survives a failed try ==")
    _say(
        f"Creating {source.relative_to(REPO)} ({args.size_mb} MiB, {parts} parts of {args.part_size_mb} MiB) ..."
    )
    local_crc = _make_file(source, size)

    with LocalOssServer(buckets=(BUCKET,)) as server:
        _say(
            f"Local OSS server on {server.endpoint} (region {server.region}, bucket {BUCKET}, V4 signatures)"
        )
        env = _airflow_env(work, server, checkpoint_dir)
        env.update({"OSS_DEMO_SOURCE": str(source), "OSS_DEMO_BUCKET": BUCKET, "OSS_DEMO_KEY": key})
        env["OSS_DEMO_PART_SIZE"] = str(part_size)
        db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
        if not db.exists():
            _say("Preparing a throw-away Airflow metadata database (SQLite) ...")
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        fail_part = max(2, int(parts * args.fail_at))
        # The connection allows 1 retry per request, so 2 resets in a row on one part fail the try.
        server.add_fault("UploadPart", "reset", part_number=fail_part, times=2)
        _say(
            f"Fault injected: the server resets the connection on UploadPart #{fail_part} of the first try "
            f"(twice, more than the connection's 1 retry), so try 1 fails part-way."
        )
        _say(
            f"Running `airflow dags test {DAG_ID}` (retries=3, retry_delay=0, checkpoint: {args.checkpoint}) ..."
        )
        airflow_log = work / "run" / "airflow-dags-test.log"
        conf = json.dumps({"source": str(source), "bucket": BUCKET, "key": key})
        with airflow_log.open("w") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "--conf", conf],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        log = server.request_log()
        tries = _tries(log)
        _say()
        for number, t in enumerate(tries, start=1):
            ids = ", ".join(sorted(t["upload_ids"])) or "-"
            how = "initiated" if t["initiated"] else "resumed (ListParts, no InitiateMultipartUpload)"
            _say(
                f"Try {number}: {how} upload ID {ids}; {t['parts_ok']} parts "
                f"({t['bytes_ok'] / MIB:.1f} MiB) stored"
                + ("; then the connection reset and the try failed" if t["failed"] else "")
            )
        story = ("Started multipart upload", "failed and is kept", "Resuming upload ID", "Completed oss://")
        for line in airflow_log.read_text(errors="replace").splitlines():
            if any(marker in line for marker in story):
                # Drop Airflow's timestamp/level prefix and logger suffix: keep the engine's sentence.
                text = line.split("] ", 1)[-1] if "] " in line else line
                text = text.rsplit(" [airflow.", 1)[0].strip()
                _say(f"  task log | {text}")
        _say()
        ok = proc.returncode == 0
        same_id = (
            len(tries) >= 2
            and tries[0]["upload_ids"] == tries[-1]["upload_ids"]
            and len(tries[0]["upload_ids"]) == 1
        )
        sent_total = sum(t["parts_ok"] for t in tries)
        try:
            info_path = server.object_path(BUCKET, key)
            server_crc = crc64.crc64_of_file(info_path)
            identical = filecmp.cmp(info_path, source, shallow=False)
        except (FileNotFoundError, KeyError, OSError):
            server_crc, identical = None, False
        _say()
        _say(f"Same upload ID continued by the retry: {'yes' if same_id else 'NO'}")
        _say(
            f"Parts stored on the server in all tries: {sent_total} for a {parts}-part file (extra: {sent_total - parts})"
        )
        _say(
            f"CRC-64 of the file {local_crc}, of the object on the server {server_crc}: {'match' if server_crc == local_crc else 'MISMATCH'}"
        )
        _say(f"Object byte-identical to the file: {'yes' if identical else 'NO'}")
        _say(f"In-progress uploads left on the server: {len(server.list_uploads(BUCKET))}")
        _say(
            f"Total time: {time.monotonic() - started:.1f} s; Airflow's full output: "
            + (str(airflow_log.relative_to(REPO)) if args.keep else "removed (run with --keep to keep it)")
        )
        success = ok and same_id and server_crc == local_crc and identical
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    _say("Demo " + ("succeeded." if success else "FAILED: see the lines above."))
    return 0 if success else 1


if __name__ == "__main__":
    sys.exit(main())
