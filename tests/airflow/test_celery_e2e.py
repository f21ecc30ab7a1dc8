"""
End to end with a real Airflow 3.3 deployment using the CeleryExecutor, all on 127.0.0.1 and all
started and stopped by this test: a Redis server (Debian's ``redis-server``, on a free port with a
temporary directory; the broker and the result backend), two Celery workers (``airflow celery
worker``) with different hostnames, each in its own process tree, the scheduler, the dag-processor
and the api-server.

The metadata database is SQLite: Airflow 3.3.2 does not refuse it with the CeleryExecutor (its
configuration check only demands SQLite >= 3.15), the Celery workers never open the database (their
task processes go through the api-server's execution API, and the result backend is Redis), so
SQLite's single writer is the scheduler, the dag-processor and the api-server, as with the
LocalExecutor in test_scheduler_e2e.py. No Postgres is needed.

The upload task's checkpoint is ``state_store``: Airflow's task state store, in the metadata
database, so a retry on another worker (another machine, in a real deployment) finds it. The worker
running the upload is SIGKILLed with its whole process tree part-way; the scheduler's task heartbeat
timeout (20 s here instead of 300 s) fails the try and retries it, the retry runs on the other
worker and continues the same upload ID, and the local OSS server's request log shows that no part
stored before the kill was sent again. Each worker's ``[core] hostname_callable`` returns its own
name, so the task instance's hostname of each try names the worker that ran it.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.e2e_support import (
    Components,
    Deployment,
    airflow_env,
    free_port,
    kill_process_tree,
    query_sqlite,
    stored_parts,
    uploading_process,
)
from tests.run_shared import migrate_airflow_db

DAG_ID = "e2e_celery_resumable_upload"
KEY = "e2e/celery-killed.bin"
PART = 100 * 1024
PARTS = 48
PART_DELAY = 0.25
WORKERS = ("worker-a", "worker-b")
DAG_SOURCE = textwrap.dedent(
    f"""
    from datetime import datetime, timedelta

    from airflow.sdk import DAG

    from airflow_provider_oss.operators.resumable_upload import ResumableUploadOperator

    with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
        ResumableUploadOperator(
            task_id="upload",
            filename="{{{{ dag_run.conf['filename'] }}}}",
            bucket="test-bucket",
            key={KEY!r},
            part_size={PART},
            parallelism=2,
            checkpoint="state_store",
            retries=2,
            retry_delay=timedelta(seconds=1),
        )
    """
)
DIST_DAG_ID = "e2e_celery_distributed_upload"
DIST_KEY = "e2e/celery-distributed.bin"
DIST_PARTS_PER_RANGE = 24
DIST_PART_DELAY = 0.3
DIST_DAG_SOURCE = textwrap.dedent(
    f"""
    from datetime import datetime, timedelta

    from airflow.sdk import DAG

    from airflow_provider_oss.operators.distributed_upload import distributed_upload

    with DAG(dag_id={DIST_DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
        distributed_upload(
            task_id="big",
            filename="{{{{ dag_run.conf['filename'] }}}}",
            bucket="test-bucket",
            key={DIST_KEY!r},
            part_size={PART},
            ranges=2,
            parallelism=1,
            checkpoint="state_store",
            retries=2,
            retry_delay=timedelta(seconds=1),
        )
    """
)
# [core] hostname_callable of each worker: the task instance's hostname names the worker that ran
# the try (both workers share this machine's host name otherwise).
IDENTITY_MODULE = textwrap.dedent(
    """
    import os


    def hostname() -> str:
        return os.environ["E2E_WORKER_HOSTNAME"]
    """
)
INSTALL_HINT = "install it with scripts/ensure_debian_packages.sh (Debian's redis-server package)"


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def celery_deployment(tmp_path: Path, oss_server: LocalOssServer) -> Iterator[Deployment]:
    redis_server = shutil.which("redis-server")
    assert redis_server, f"redis-server is not installed: {INSTALL_HINT}"
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG_SOURCE)
    (home / "dags" / f"{DIST_DAG_ID}.py").write_text(DIST_DAG_SOURCE)
    identity = tmp_path / "identity"
    identity.mkdir()
    (identity / "e2e_worker_identity.py").write_text(IDENTITY_MODULE)
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    api_port, redis_port = free_port(), free_port()

    env = airflow_env(home, api_port, oss_server, "CeleryExecutor")
    env.update(
        {
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            # The scheduler sends tasks to the broker from its own process, not from a pool.
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        }
    )
    migrate_airflow_db(env)

    components = Components(tmp_path)
    try:
        components.start(
            "redis",
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--dir",
                str(redis_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            env,
        )
        components.wait_for("redis-server to answer PING", lambda: _redis_ping(redis_port), 60)
        components.start_airflow(
            "api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port)], env
        )
        components.start_airflow("dag-processor", ["dag-processor"], env)
        components.start_airflow("scheduler", ["scheduler"], env)
        for name in WORKERS:
            worker_env = {
                **env,
                "E2E_WORKER_HOSTNAME": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "e2e_worker_identity.hostname",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(identity), env.get("PYTHONPATH")])),
            }
            components.start_airflow(
                name,
                [
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}@e2e",
                    "--concurrency",
                    "1",
                    "--skip-serve-logs",
                    "--without-mingle",
                    "--without-gossip",
                    "--pid",
                    str(tmp_path / f"{name}.pid"),
                ],
                worker_env,
            )
    except BaseException:
        components.print_logs()
        components.stop()
        raise
    try:
        yield Deployment(env=env, db=home / "airflow.db", components=components)
    finally:
        components.stop()


def _worker_log_says_ready(tmp: Path, name: str) -> bool:
    log = tmp / f"{name}.log"
    return log.exists() and f"{name}@e2e ready." in log.read_text(errors="replace")


def _worker_of(process: psutil.Process, components: Components) -> str | None:
    """The worker whose process tree holds ``process``."""
    try:
        ancestors = {p.pid for p in process.parents()} | {process.pid}
    except psutil.NoSuchProcess:
        return None
    return next((name for name in WORKERS if components.procs[name].pid in ancestors), None)


def _dag_run_state(db: Path) -> str | None:
    rows = query_sqlite(db, "SELECT state FROM dag_run WHERE dag_id = ?", DAG_ID)
    return next((r[0] for r in rows if r[0] in ("success", "failed")), None)


def _run_scenario(deployment: Deployment, name: str, scenario: Callable[[], None]) -> None:
    """Run one scenario; print every component's log when it fails, and its duration in any case."""
    started = time.monotonic()
    try:
        scenario()
    except BaseException:
        deployment.components.print_logs()
        raise
    finally:
        print(f"{name}: {time.monotonic() - started:.1f} s from the trigger's preparation to the checks")


@dataclass(frozen=True)
class WorkerKill:
    """
    A worker SIGKILLed part-way through an upload (see :func:`_trigger_and_kill_the_uploading_worker`).

    :param victim: the killed worker.
    :param survivor: the other worker.
    :param killed: the pids of the killed process tree.
    :param killed_at: when (``time.monotonic()``).
    :param before_kill: the parts the server had stored by then.
    :param kill_seq: the request log's last sequence number by then.
    """

    victim: str
    survivor: str
    killed: list[int]
    killed_at: float
    before_kill: set[int]
    kill_seq: int


def _trigger_and_kill_the_uploading_worker(
    deployment: Deployment,
    oss_server: LocalOssServer,
    dag_id: str,
    source: Path,
    *,
    part_delay: float,
    parts_before_kill: int,
) -> WorkerKill:
    """
    Trigger ``dag_id`` on ``source`` once both workers are ready and the DAG is parsed, with every
    UploadPart slowed by ``part_delay`` seconds; once ``parts_before_kill`` parts are stored, SIGKILL
    the whole process tree of the worker that holds the uploading process.
    """
    components = deployment.components
    oss_server.add_fault("UploadPart", "delay", delay=part_delay, times=100_000)
    for name in WORKERS:
        ready = functools.partial(_worker_log_says_ready, components.log_dir, name)
        components.wait_for(f"{name} to be ready", ready, 240)
    deployment.wait_until_parsed(dag_id, 240)
    deployment.trigger(dag_id, {"filename": str(source)})

    components.wait_for(
        f"{parts_before_kill} parts to be stored",
        lambda: len(stored_parts(oss_server)) >= parts_before_kill,
        240,
    )
    uploader = components.wait_for("the uploading process", lambda: uploading_process(oss_server.port), 30)
    victim = _worker_of(uploader, components)
    assert victim is not None, f"the uploading process {uploader} is in neither worker's process tree"
    (survivor,) = (name for name in WORKERS if name != victim)
    components.expected_dead.add(victim)
    killed = kill_process_tree(components.procs[victim].pid)
    killed_at = time.monotonic()
    components.procs[victim].wait(timeout=30)
    assert uploader.pid in killed
    before_kill = stored_parts(oss_server)
    kill_seq = max(e["seq"] for e in oss_server.request_log())
    return WorkerKill(victim, survivor, killed, killed_at, before_kill, kill_seq)


def _assert_one_upload_id_and_no_part_resent(
    oss_server: LocalOssServer, kill: WorkerKill, all_parts: set[int]
) -> tuple[str, set[int]]:
    """
    Check the request log: one upload ID, no part stored before the kill sent again, every part
    stored exactly once; return the upload ID and the parts stored after the kill.
    """
    log = oss_server.request_log()
    assert [e["op"] for e in log].count("InitiateMultipartUpload") == 1
    upload_ids = {e["upload_id"] for e in log if e.get("upload_id")}
    assert len(upload_ids) == 1, "every try (and the complete) used the same upload ID"
    stored = [e for e in log if e["op"] == "UploadPart" and e["status"] == 200]
    after_kill = {e["part_number"] for e in stored if e["seq"] > kill.kill_seq}
    resent = [
        e["part_number"]
        for e in log
        if e["seq"] > kill.kill_seq and e["op"] == "UploadPart" and e["part_number"] in kill.before_kill
    ]
    assert resent == [], "no part stored before the kill was sent again"
    stored_twice = sorted(n for n, count in Counter(e["part_number"] for e in stored).items() if count > 1)
    assert stored_twice == [], (
        "every part was stored once (a part in flight at the kill was found by ListParts)"
    )
    assert kill.before_kill | after_kill == all_parts
    return upload_ids.pop(), after_kill


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.timeout(900)
def test_worker_killed_mid_upload_is_retried_on_the_other_worker_with_the_same_upload_id(
    celery_deployment: Deployment, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    data = os.urandom(PARTS * PART)
    source.write_bytes(data)
    _run_scenario(
        celery_deployment,
        "celery e2e",
        lambda: _run_kill_and_check(celery_deployment, source, data, oss_server),
    )


def _run_kill_and_check(
    deployment: Deployment, source: Path, data: bytes, oss_server: LocalOssServer
) -> None:
    db, components = deployment.db, deployment.components
    # Slow parts down so that the first try is still uploading when its worker is killed.
    kill = _trigger_and_kill_the_uploading_worker(
        deployment, oss_server, DAG_ID, source, part_delay=PART_DELAY, parts_before_kill=8
    )
    victim, survivor = kill.victim, kill.survivor
    assert len(kill.before_kill) < PARTS, "the kill landed after the upload had finished: slow the parts down"

    # Try 2: the process now holding a connection to the server is in the survivor's tree.
    def try_2_uploader() -> psutil.Process | None:
        if _dag_run_state(db):
            raise AssertionError("the DAG run finished before try 2 was seen uploading")
        process = uploading_process(oss_server.port)
        return process if process is not None and process.pid not in kill.killed else None

    retry_uploader = components.wait_for("try 2 to upload", try_2_uploader, 300)
    retry_worker = _worker_of(retry_uploader, components)
    retry_seen_at = time.monotonic()
    oss_server.clear_faults()
    state = deployment.wait_for_run_end(DAG_ID, 240)
    print(
        f"celery e2e: try 2 uploading {retry_seen_at - kill.killed_at:.1f} s after the kill, "
        f"DAG run {state} {time.monotonic() - kill.killed_at:.1f} s after it"
    )

    assert state == "success"
    assert retry_worker == survivor, f"try 2 ran in {retry_worker}'s process tree, not {survivor}'s"
    ((try_number, hostname),) = query_sqlite(
        db, "SELECT try_number, hostname FROM task_instance WHERE dag_id = ?", DAG_ID
    )
    history = query_sqlite(
        db, "SELECT try_number, hostname, state FROM task_instance_history WHERE dag_id = ?", DAG_ID
    )
    print(f"celery e2e: try 1 {history}, try 2 ({try_number}, {hostname!r}); killed {victim}: {kill.killed}")
    assert try_number == 2, "the killed try failed and the scheduler's retry succeeded"
    assert history == [(1, victim, "failed")], "try 1 ran on the killed worker and failed"
    assert hostname == survivor, "the retry ran on the other worker"
    scheduler_log = (components.log_dir / "scheduler.log").read_text(errors="replace")
    assert any(
        "without a heartbeat" in line and f"'Hostname': '{victim}'" in line
        for line in scheduler_log.splitlines()
    ), "the scheduler failed try 1 for its missing heartbeat"

    upload_id, after_kill = _assert_one_upload_id_and_no_part_resent(
        oss_server, kill, set(range(1, PARTS + 1))
    )
    print(
        f"celery e2e: upload ID {upload_id}; {len(kill.before_kill)} parts stored before the kill, "
        f"{len(after_kill)} after it, none resent"
    )
    assert oss_server.object_bytes("test-bucket", KEY) == data
    assert oss_server.list_uploads("test-bucket") == []


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.timeout(900)
def test_worker_killed_mid_range_its_range_is_resumed_by_the_survivor_under_the_same_upload_id(
    celery_deployment: Deployment, oss_server: LocalOssServer, tmp_path: Path
) -> None:
    """
    The distributed upload (plan -> 2 mapped ranges -> complete) on two Celery workers: the worker
    uploading a range is SIGKILLed with its whole process tree; the range's retry runs on the
    survivor and sends only the parts OSS lacks, under the plan's one upload ID.
    """
    source = tmp_path / "distributed.bin"
    data = os.urandom(2 * DIST_PARTS_PER_RANGE * PART)
    source.write_bytes(data)
    _run_scenario(
        celery_deployment,
        "celery distributed e2e",
        lambda: _run_distributed_kill_and_check(celery_deployment, source, data, oss_server),
    )


def _run_distributed_kill_and_check(
    deployment: Deployment, source: Path, data: bytes, oss_server: LocalOssServer
) -> None:
    db = deployment.db
    kill = _trigger_and_kill_the_uploading_worker(
        deployment, oss_server, DIST_DAG_ID, source, part_delay=DIST_PART_DELAY, parts_before_kill=4
    )
    victim, survivor = kill.victim, kill.survivor
    oss_server.clear_faults()
    state = deployment.wait_for_run_end(DIST_DAG_ID, 300)
    print(f"celery distributed e2e: DAG run {state} {time.monotonic() - kill.killed_at:.1f} s after the kill")
    assert state == "success"

    tis = query_sqlite(
        db,
        "SELECT task_id, map_index, try_number, hostname, state FROM task_instance WHERE dag_id = ?",
        DIST_DAG_ID,
    )
    history = query_sqlite(
        db,
        "SELECT task_id, map_index, try_number, hostname, state FROM task_instance_history WHERE dag_id = ?",
        DIST_DAG_ID,
    )
    print(f"celery distributed e2e: killed {victim} ({kill.killed}); tries {sorted(tis)}; history {history}")
    (killed_try,) = [h for h in history if h[0] == "big.upload_ranges"]
    _, killed_index, _, killed_host, killed_state = killed_try
    assert (killed_host, killed_state) == (victim, "failed"), "the killed worker's range try failed"
    retried = next(t for t in tis if t[0] == "big.upload_ranges" and t[1] == killed_index)
    assert retried[2:] == (2, survivor, "success"), "the killed range's retry ran on the survivor"
    assert all(t[4] == "success" for t in tis)

    first = killed_index * DIST_PARTS_PER_RANGE + 1
    killed_range = set(range(first, first + DIST_PARTS_PER_RANGE))
    upload_id, after_kill = _assert_one_upload_id_and_no_part_resent(
        oss_server, kill, set(range(1, 2 * DIST_PARTS_PER_RANGE + 1))
    )
    assert kill.before_kill & killed_range, "the killed range had stored parts before the kill"
    assert after_kill & killed_range, "the survivor resumed the killed range"
    assert [e["op"] for e in oss_server.request_log()].count("CompleteMultipartUpload") == 1
    print(
        f"celery distributed e2e: upload ID {upload_id}; range {killed_index} killed on {victim} with "
        f"{len(kill.before_kill & killed_range)} of {DIST_PARTS_PER_RANGE} parts stored, resumed on {survivor}; "
        f"{len(kill.before_kill)} parts stored before the kill, {len(after_kill)} after it, none resent"
    )
    assert oss_server.object_bytes("test-bucket", DIST_KEY) == data
    assert oss_server.list_uploads("test-bucket") == []
