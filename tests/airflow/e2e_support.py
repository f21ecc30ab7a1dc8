"""
Process management for the end-to-end tests that run a real Airflow deployment on 127.0.0.1:
free ports, the Airflow environment pointing at the local OSS server, starting each component in
its own process group with its own log file, bounded waits that notice a dead component, stopping
everything, killing a whole process tree, and the logs to print when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_oss.testing import LocalOssServer
from tests.run_shared import migrate_airflow_db

#: What :func:`print_logs` shows of each component's log when a test fails.
LOG_TAIL_BYTES = 12_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, api_port: int, oss_server: LocalOssServer, executor: str) -> dict[str, str]:
    """
    The environment of every Airflow component: ``home`` with its ``dags`` folder, SQLite metadata
    database, short scheduler and heartbeat intervals, and ``oss_default`` on the local server.

    :param home: the AIRFLOW_HOME (``home/dags`` is the DAGs folder, ``home/airflow.db`` the database).
    :param api_port: the api-server's port, also the execution API the task processes call.
    :param oss_server: the local OSS server the ``oss_default`` connection points at.
    :param executor: ``LocalExecutor`` or ``CeleryExecutor``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-test-jwt-secret-0123456789abcdef",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW_CONN_OSS_DEFAULT": json.dumps(
                {
                    "conn_type": "oss",
                    "login": oss_server.access_key_id,
                    "password": oss_server.access_key_secret,
                    "extra": {
                        "region": oss_server.region,
                        "endpoint": oss_server.endpoint,
                        "addressing_style": "path",
                        "max_retries": 1,
                        "backoff_base": 0.05,
                        "backoff_max": 0.2,
                    },
                }
            ),
        }
    )
    return env


def airflow_cli(env: dict[str, str], *args: str, timeout: float = 300, python: str = sys.executable) -> None:
    """
    Run ``airflow <args>`` to completion; on failure the error names the command and its output.

    :param python: the interpreter whose Airflow runs (another Airflow version's environment).
    """
    result = subprocess.run(
        [python, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")[-LOG_TAIL_BYTES:]
        raise AssertionError(f"airflow {' '.join(args)} exited with {result.returncode}:\n{output}")


class Components:
    """
    Long-running processes of one test, each in its own process group (its own session) with its
    stdout and stderr in ``<log_dir>/<name>.log``; :meth:`stop` ends every one still running.

    :param log_dir: where the log files go.
    :param python: the interpreter whose Airflow runs the components.
    """

    def __init__(self, log_dir: Path, python: str = sys.executable) -> None:
        self.log_dir = log_dir
        self.python = python
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.expected_dead: set[str] = set()

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``command`` as the component ``name`` (the name also names its log file)."""
        with (self.log_dir / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def start_airflow(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``airflow <args>`` as the component ``name``."""
        return self.start(name, [self.python, "-m", "airflow", *args], env)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """:func:`wait_for` watching every component not in :attr:`expected_dead`."""
        running = {name: proc for name, proc in self.procs.items() if name not in self.expected_dead}
        return wait_for(what, check, timeout, running)

    def stop(self) -> None:
        """:func:`stop_process_groups` on every component (dead ones are skipped)."""
        stop_process_groups(self.procs.values())

    def print_logs(self) -> None:
        """Print the end of each component's log (pytest shows it with a failed test)."""
        for name in self.procs:
            path = self.log_dir / f"{name}.log"
            data = path.read_bytes()[-LOG_TAIL_BYTES:] if path.exists() else b"(no log)"
            print(f"\n===== {name} (last {LOG_TAIL_BYTES} bytes of {path}) =====")
            print(data.decode(errors="replace"))


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    procs: Mapping[str, subprocess.Popen[bytes]] | Iterable[subprocess.Popen[bytes]],
) -> Any:
    """
    Poll ``check`` every half second until it returns a true value, and return that value; fail
    at once, naming it, if one of ``procs`` exits meanwhile.

    :param what: what is awaited, for the error message.
    :param check: returns a false value until the awaited thing happened.
    :param timeout: seconds before giving up with an AssertionError.
    :param procs: the processes that must keep running, by name or as a list.
    """
    named = list(procs.items()) if isinstance(procs, Mapping) else [(repr(p.args), p) for p in procs]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for name, proc in named:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_process_groups(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """
    SIGTERM the process group of each running process, then SIGKILL the groups left after 20 s,
    and finally every descendant still alive: task processes run in process groups of their own.
    """
    procs = list(procs)
    descendants: list[psutil.Process] = []
    for proc in procs:
        if proc.poll() is None:
            descendants.extend(_children(proc.pid))
            _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    _, left = psutil.wait_procs(descendants, timeout=max(0.1, deadline - time.monotonic()))
    for child in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(left, timeout=10)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def kill_process_tree(root_pid: int) -> list[int]:
    """
    SIGKILL a process and all its descendants, including those in other process groups (Airflow's
    task supervisor puts each task process in a group of its own). Every process is first stopped
    (SIGSTOP) so that none can fork or restart a child between the listing and the kill. Returns
    the pids killed; fails if one of them is still alive 30 s later.

    :param root_pid: the top of the tree, for instance a Celery worker's main process.
    """
    root = psutil.Process(root_pid)
    tree: dict[int, psutil.Process] = {root.pid: root}
    for _ in range(3):  # list, stop, and list again until no new child appears
        for child in root.children(recursive=True):
            tree.setdefault(child.pid, child)
        for proc in tree.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGSTOP)
        if all(child.pid in tree for child in _children(root)):
            break
    for proc in tree.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    _signal_group(root_pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(list(tree.values()), timeout=30)
    assert not alive, f"still alive after SIGKILL: {alive}"
    return sorted(tree)


def _children(proc: psutil.Process | int) -> list[psutil.Process]:
    """All descendants of a process (given as such or by pid); none once it has exited."""
    try:
        process = proc if isinstance(proc, psutil.Process) else psutil.Process(proc)
        return list(process.children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def query_sqlite(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the metadata database; none while it is locked or not yet created."""
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


def uploading_process(server_port: int) -> psutil.Process | None:
    """The process holding a TCP connection to the OSS server: the one running the upload."""
    me = os.getpid()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.raddr and conn.raddr.port == server_port and conn.pid and conn.pid != me:
            try:
                return psutil.Process(conn.pid)
            except psutil.NoSuchProcess:
                continue
    return None


def stored_parts(oss_server: LocalOssServer) -> set[int]:
    """The part numbers the local server stored (answered 200 to an UploadPart)."""
    return {
        e["part_number"] for e in oss_server.request_log() if e["op"] == "UploadPart" and e["status"] == 200
    }


@dataclass
class Deployment:
    """
    A running Airflow deployment of one test (see :func:`airflow_deployment`).

    :param env: the components' environment (for ``airflow`` CLI calls).
    :param db: the SQLite metadata database.
    :param components: the running daemons.
    """

    env: dict[str, str]
    db: Path
    components: Components

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """:meth:`Components.wait_for`: poll ``check``, failing at once if a daemon dies."""
        return self.components.wait_for(what, check, timeout)

    def wait_until_parsed(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the dag-processor has serialized ``dag_id``."""
        self.wait_for(
            f"the DAG {dag_id} to be parsed",
            lambda: query_sqlite(self.db, "SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id),
            timeout,
        )

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> None:
        """``airflow dags trigger`` (with ``--conf`` when given)."""
        args = ["dags", "trigger", dag_id]
        if conf is not None:
            args += ["--conf", json.dumps(dict(conf))]
        airflow_cli(self.env, *args, timeout=120, python=self.components.python)

    def wait_for_run_end(self, dag_id: str, timeout: float) -> str:
        """Wait until the DAG run of ``dag_id`` is ``success`` or ``failed``, and return that state."""
        state: str = self.wait_for(
            f"the run of {dag_id} to finish",
            lambda: next(
                (
                    r[0]
                    for r in query_sqlite(self.db, "SELECT state FROM dag_run WHERE dag_id = ?", dag_id)
                    if r[0] in ("success", "failed")
                ),
                None,
            ),
            timeout,
        )
        return state


@contextlib.contextmanager
def airflow_deployment(
    tmp_path: Path,
    oss_server: LocalOssServer,
    dag_files: Mapping[str, str],
    *,
    daemons: Sequence[str] = ("api-server", "dag-processor", "scheduler"),
    env_overrides: Mapping[str, str] | None = None,
    connection_extra: Mapping[str, Any] | None = None,
    connection_in_db: bool = False,
    python: str = sys.executable,
) -> Iterator[Deployment]:
    """
    A LocalExecutor deployment on 127.0.0.1 (:func:`airflow_env`), its database migrated and its
    daemons started, each in its own process group; all are stopped on exit, and their logs printed
    when the body failed.

    :param tmp_path: the test's directory (``airflow/`` is the AIRFLOW_HOME, logs beside it).
    :param oss_server: the local OSS server the ``oss_default`` connection points at.
    :param dag_files: file name -> source of each DAG file.
    :param daemons: the Airflow daemons to run (``airflow <name>``).
    :param env_overrides: settings that replace :func:`airflow_env`'s.
    :param connection_extra: extras added to the ``oss_default`` connection's.
    :param connection_in_db: store ``oss_default`` in the metadata database (so the daemons fetch
        it through Airflow) instead of the environment.
    :param python: the interpreter whose Airflow runs the deployment (default: this one).
    """
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    for name, source in dag_files.items():
        (home / "dags" / name).write_text(source)
    api_port = free_port()
    env = airflow_env(home, api_port, oss_server, "LocalExecutor")
    env.update(env_overrides or {})
    connection = json.loads(env["AIRFLOW_CONN_OSS_DEFAULT"])
    connection["extra"].update(connection_extra or {})
    env["AIRFLOW_CONN_OSS_DEFAULT"] = json.dumps(connection)
    migrate_airflow_db(env, python=python)
    if connection_in_db:
        airflow_cli(
            env,
            "connections",
            "add",
            "oss_default",
            "--conn-json",
            env.pop("AIRFLOW_CONN_OSS_DEFAULT"),
            python=python,
        )
    components = Components(tmp_path, python)
    try:
        for name in daemons:
            args = (
                ["api-server", "--host", "127.0.0.1", "--port", str(api_port)]
                if name == "api-server"
                else [name]
            )
            components.start_airflow(name, args, env)
        yield Deployment(env=env, db=home / "airflow.db", components=components)
    except BaseException:
        components.print_logs()
        raise
    finally:
        components.stop()
