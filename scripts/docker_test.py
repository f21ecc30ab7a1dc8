"""
``make docker-test``: the compose stacks of docker/ built, started, run and killed on a Docker engine.

For each variant (``local``: docker-compose.yaml with the LocalExecutor; ``celery``: plus
docker-compose.celery.yaml, Redis and two Celery workers):

1. build the provider image (docker/Dockerfile) on the stand-in base images of
   docker/build_standin_base.sh (built once for both variants; no image registry needed);
2. ``up`` the stack, wait until every service with a healthcheck is healthy and airflow-init has
   completed;
3. make the local OSS server (the oss-local service) hold every UploadPart after the first two
   (a ``delay`` fault through its control API), trigger ``example_oss_resumable_upload``, wait until
   its request log shows two parts stored, and ``docker kill`` the container that runs the task
   (found from the task instance's hostname): the scheduler with the LocalExecutor, the worker with
   Celery (whose restart policy is switched off first, so the retry must run in the other worker);
   with the LocalExecutor the scheduler container is started again;
4. wait for the task to succeed, then check through the server's request log that one upload ID
   was used, that no part stored before the kill was sent again, and that the object's bytes equal
   the file's; print which container ran each try;
5. ``down -v``, also when a step fails or the run is interrupted.

Test-only settings, given by a generated override file: ``[scheduler]
task_instance_heartbeat_timeout`` 30 s (default 300 s: how long the scheduler waits before failing
the try of a killed worker), ``OSS_DEMO_RETRY_DELAY`` 5 s, healthchecks every 15 s with a 90 s
timeout (the compose files' 10 s is too short for a Python starting Airflow on 2 busy cores), free
host ports on 127.0.0.1.

Uses ``docker compose`` (v2) when the Docker CLI has it, else ``docker-compose`` (v1, Debian's),
to which the files are given without their top-level ``name:`` (v1 does not know it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKER_DIR = REPO / "docker"
COMPOSE_FILES = {
    "local": ["docker-compose.yaml"],
    "celery": ["docker-compose.yaml", "docker-compose.celery.yaml"],
}
IMAGE = "airflow-provider-oss:docker-test"
DAG_ID = "example_oss_resumable_upload"
TASK_ID = "upload_large_file"
BUCKET = "airflow-demo"
KEY = "uploads/big-file.bin"
SOURCE = "/data/big-file.bin"
STORED_BEFORE_KILL = 2
HEARTBEAT_TIMEOUT_SECONDS = 30
TIMEOUT_SECONDS = 600
# Healthchecks for a small shared machine: `airflow jobs check` and `celery inspect ping` start a
# Python with Airflow, which can take longer than the compose files' 10 s on 2 busy cores.
HEALTHCHECK = {"interval": "15s", "timeout": "90s", "retries": 20}


class DockerTestError(Exception):
    """A check of the docker test that failed."""


def say(variant: str, text: str) -> None:
    print(f"[{variant}] {text}", flush=True)


def run(command: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run a command; its output, or DockerTestError with its stderr when it fails and ``check``."""
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=900)
    if check and result.returncode != 0:
        raise DockerTestError(
            f"{' '.join(command[:6])} ... failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Any, timeout: float = TIMEOUT_SECONDS, every: float = 2.0) -> Any:
    """Call ``check`` until it returns something truthy; DockerTestError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DockerTestError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def compose_command() -> list[str]:
    """``docker compose`` when the Docker CLI has Compose v2, else ``docker-compose`` (v1)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def build_images(pip_index_url: str) -> dict[str, str]:
    """The stand-in base images (built or reused) and the provider image on them: the compose variables."""
    output = run([str(DOCKER_DIR / "build_standin_base.sh")])
    images = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    run(
        [
            "docker", "build", "--quiet", "--network", "host", "-f", str(DOCKER_DIR / "Dockerfile"),
            "--build-arg", f"AIRFLOW_BASE_IMAGE={images['AIRFLOW_BASE_IMAGE']}",
            "--build-arg", f"PIP_INDEX_URL={pip_index_url}",
            "-t", IMAGE, str(REPO),
        ]
    )  # fmt: skip
    return {
        "AIRFLOW_OSS_IMAGE": IMAGE,
        "POSTGRES_IMAGE": images["POSTGRES_IMAGE"],
        "REDIS_IMAGE": images["REDIS_IMAGE"],
    }


@dataclass
class Stack:
    """One compose project of the variant, in a temporary folder for its generated files."""

    variant: str
    images: dict[str, str]
    workdir: Path
    compose: list[str] = field(default_factory=compose_command)
    api_port: int = field(default_factory=free_port)
    oss_port: int = field(default_factory=free_port)

    @property
    def project(self) -> str:
        return f"airflow-provider-oss-docker-test-{self.variant}"

    def files(self) -> list[Path]:
        """The variant's compose files (without ``name:`` for v1) and the test's override."""
        files = []
        for name in COMPOSE_FILES[self.variant]:
            text = (DOCKER_DIR / name).read_text(encoding="utf-8")
            if self.compose == ["docker-compose"]:
                text = "".join(
                    line for line in text.splitlines(keepends=True) if not line.startswith("name:")
                )
            path = self.workdir / name
            path.write_text(text, encoding="utf-8")
            files.append(path)
        override = self.workdir / "docker-test.override.yaml"
        override.write_text(json.dumps(self.override(files)), encoding="utf-8")
        return [*files, override]

    def override(self, files: list[Path]) -> dict[str, Any]:
        """Test-only settings: a short heartbeat timeout and retry delay, slower healthchecks (HEALTHCHECK)."""
        services: dict[str, Any] = {}
        for path in files:
            for name, service in yaml.safe_load(path.read_text(encoding="utf-8"))["services"].items():
                services.setdefault(name, {})
                if "healthcheck" in service:
                    services[name]["healthcheck"] = {**service["healthcheck"], **HEALTHCHECK}
                if name.startswith("airflow-"):
                    services[name]["environment"] = {
                        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
                        "OSS_DEMO_RETRY_DELAY": "5",
                    }
        return {"services": {name: value for name, value in services.items() if value}}

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "OSS_"))}
        env.update(self.images)
        env.update({"AIRFLOW_API_HOST_PORT": str(self.api_port), "OSS_LOCAL_HOST_PORT": str(self.oss_port)})
        return env

    def run(self, *args: str, check: bool = True) -> str:
        empty_env = self.workdir / "empty.env"
        empty_env.touch()
        command = [*self.compose, "--project-directory", str(DOCKER_DIR), "-p", self.project]
        command += ["--env-file", str(empty_env)]
        for path in self.files():
            command += ["-f", str(path)]
        return run([*command, *args], env=self.env(), check=check)

    def container(self, service: str) -> str:
        ids = self.run("ps", "-q", service).split()
        if len(ids) != 1:
            raise DockerTestError(f"expected one container of {service}, found {ids}")
        return ids[0]

    def services(self) -> list[str]:
        return self.run("config", "--services").split()


def inspect(container: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run(["docker", "inspect", container]))[0]
    return found


def service_ready(stack: Stack, service: str) -> bool:
    """airflow-init: exited 0 (DockerTestError if it failed); others: healthy, or no healthcheck."""
    state = inspect(stack.container(service))["State"]
    if service != "airflow-init":
        return bool(state.get("Health", {}).get("Status", "healthy") == "healthy")
    if state["Status"] == "exited" and state["ExitCode"] != 0:
        raise DockerTestError(f"airflow-init failed:\n{stack.run('logs', '--tail', '40', service)}")
    return bool(state["Status"] == "exited")


def published_beyond_loopback(stack: Stack, service: str) -> list[str]:
    """The host addresses other than 127.0.0.1 on which the service publishes a port."""
    bindings = inspect(stack.container(service))["HostConfig"]["PortBindings"] or {}
    return [
        b["HostIp"] or "every address"
        for found in bindings.values()
        for b in found
        if b["HostIp"] != "127.0.0.1"
    ]


def wait_healthy(stack: Stack, started: float) -> None:
    """Every service with a healthcheck healthy, airflow-init exited 0; ports on 127.0.0.1 only."""
    services = stack.services()
    wait_for("healthy services", lambda: all(service_ready(stack, service) for service in services))
    for service in services:
        if published_beyond_loopback(stack, service):
            raise DockerTestError(
                f"{service} publishes a port on {published_beyond_loopback(stack, service)}"
            )
    say(
        stack.variant,
        f"services healthy {time.monotonic() - started:.0f} s after up: {', '.join(sorted(services))}",
    )


# -- the local OSS server's control API, answered to loopback only: run inside its container ------


def control(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    script = (
        "import sys, urllib.request\n"
        "method, path, body = sys.argv[1], sys.argv[2], sys.argv[3]\n"
        "request = urllib.request.Request('http://127.0.0.1:9000/_local/' + path, method=method,"
        " data=body.encode() if body else None, headers={'Content-Type': 'application/json'})\n"
        "sys.stdout.write(urllib.request.urlopen(request, timeout=30).read().decode())\n"
    )
    output = run(["docker", "exec", stack.container("oss-local"), "python", "-c", script, method, path,
                  json.dumps(body) if body is not None else ""])  # fmt: skip
    return json.loads(output) if output else None


def object_sha256(stack: Stack) -> str:
    script = (
        "import hashlib, urllib.request\n"
        f"url = 'http://127.0.0.1:9000/_local/object/data?bucket={BUCKET}&key={KEY}'\n"
        "print(hashlib.sha256(urllib.request.urlopen(url, timeout=120).read()).hexdigest())\n"
    )
    return run(["docker", "exec", stack.container("oss-local"), "python", "-c", script]).strip()


# -- Airflow's REST API on the published 127.0.0.1 port --------------------------------------------


@dataclass
class Api:
    port: int
    token: str = ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  # http://127.0.0.1 only
            return json.loads(answer.read() or b"null")

    def login(self) -> None:
        self.token = self.call("POST", "/auth/token", {"username": "admin", "password": "admin"})[
            "access_token"
        ]

    def get_or_none(self, path: str) -> Any:
        try:
            return self.call("GET", path)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise


def hostname_container(stack: Stack, hostname: str) -> str:
    """The service whose container has this hostname (a task instance's ``hostname``)."""
    for service in stack.services():
        container = stack.container(service)
        if inspect(container)["Config"]["Hostname"] == hostname.split(".", maxsplit=1)[0]:
            return service
    raise DockerTestError(f"no container of the stack has the hostname {hostname!r}")


def upload_requests(stack: Stack) -> list[dict[str, Any]]:
    return [e for e in control(stack, "GET", "log") if e["bucket"] == BUCKET and e["key"] == KEY]


def stored_parts(entries: list[dict[str, Any]]) -> list[int]:
    return sorted(e["part_number"] for e in entries if e["op"] == "UploadPart" and e["status"] == 200)


def kill_mid_upload(stack: Stack, api: Api, run_path: str) -> tuple[str, float]:
    """Wait until two parts are stored, kill the container running the task; (service, kill time)."""
    ti_path = f"{run_path}/taskInstances/{TASK_ID}"
    ti = wait_for(
        "the upload to start",
        lambda: (api.get_or_none(ti_path) or {}).get("state") == "running" and api.call("GET", ti_path),
    )
    parts = wait_for(
        f"{STORED_BEFORE_KILL} parts stored",
        lambda: (
            len(stored_parts(upload_requests(stack))) >= STORED_BEFORE_KILL
            and stored_parts(upload_requests(stack))
        ),
    )
    time.sleep(3)  # the other parts are held by the fault: nothing changes meanwhile
    service = hostname_container(stack, ti["hostname"])
    container = stack.container(service)
    say(
        stack.variant,
        f"try {ti['try_number']} runs in {service} (hostname {ti['hostname']}); parts stored: {parts}",
    )
    run(["docker", "update", "--restart", "no", container])
    kill_time = time.time()
    run(["docker", "kill", container])
    say(stack.variant, f"docker kill {service} ({container[:12]}) mid-transfer")
    control(stack, "DELETE", "faults")
    if service == "airflow-scheduler":
        run(["docker", "start", container])
        say(stack.variant, "airflow-scheduler started again (the LocalExecutor runs the retry there)")
    return service, kill_time


def check_upload(stack: Stack, kill_time: float) -> None:
    entries = upload_requests(stack)
    upload_ids = {e["upload_id"] for e in entries if e["upload_id"]}
    initiated = [e for e in entries if e["op"] == "InitiateMultipartUpload"]
    before = stored_parts([e for e in entries if e["time"] < kill_time])
    after = [e["part_number"] for e in entries if e["op"] == "UploadPart" and e["time"] >= kill_time]
    resent = sorted(set(before) & set(after))
    say(
        stack.variant,
        f"upload IDs in the request log: {len(upload_ids)} {sorted(upload_ids)}; InitiateMultipartUpload: {len(initiated)}",
    )
    say(
        stack.variant,
        f"parts stored before the kill: {before}; sent after it: {sorted(after)}; resent: {len(resent)}",
    )
    if len(upload_ids) != 1 or len(initiated) != 1:
        raise DockerTestError("the retry did not continue the same upload ID")
    if resent:
        raise DockerTestError(f"parts stored before the kill were sent again: {resent}")
    if not [e for e in entries if e["op"] == "CompleteMultipartUpload" and e["status"] == 200]:
        raise DockerTestError("the upload was not completed")
    file_hash = run(["docker", "exec", stack.container("airflow-apiserver"), "sha256sum", SOURCE]).split()[0]
    object_hash = object_sha256(stack)
    say(
        stack.variant,
        f"object sha256 {object_hash} {'==' if object_hash == file_hash else '!='} file sha256 {file_hash}",
    )
    if object_hash != file_hash:
        raise DockerTestError("the object's bytes differ from the file's")


def scenario(stack: Stack) -> None:
    variant = stack.variant
    say(variant, f"{' '.join(stack.compose)} up -d (API on 127.0.0.1:{stack.api_port})")
    started = time.monotonic()
    stack.run("up", "-d", "--no-build")
    wait_healthy(stack, started)
    api = Api(stack.api_port)
    api.login()
    wait_for(f"the DAG {DAG_ID} to be parsed", lambda: api.get_or_none(f"/api/v2/dags/{DAG_ID}"))
    control(
        stack,
        "POST",
        "faults",
        {"op": "UploadPart", "action": "delay", "delay": 900, "nth": STORED_BEFORE_KILL + 1, "times": 1000},
    )
    dag_run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{dag_run['dag_run_id']}"
    say(variant, f"triggered {DAG_ID}: run {dag_run['dag_run_id']}")
    killed, kill_time = kill_mid_upload(stack, api, run_path)
    state = wait_for(
        "the task to finish",
        lambda: (
            (api.call("GET", f"{run_path}/taskInstances/{TASK_ID}")["state"] in ("success", "failed"))
            and api.call("GET", f"{run_path}/taskInstances/{TASK_ID}")["state"]
        ),
        every=3,
    )
    tries = api.call("GET", f"{run_path}/taskInstances/{TASK_ID}/tries")["task_instances"]
    for attempt in sorted(tries, key=lambda t: t["try_number"]):
        where = hostname_container(stack, attempt["hostname"]) if attempt.get("hostname") else "-"
        say(
            variant,
            f"try {attempt['try_number']}: {attempt['state']} in {where} (hostname {attempt.get('hostname')})",
        )
    if state != "success":
        raise DockerTestError(f"the task ended {state}")
    last = max(tries, key=lambda t: t["try_number"])
    if variant == "celery" and hostname_container(stack, last["hostname"]) == killed:
        raise DockerTestError("the retry ran in the killed worker's container")
    check_upload(stack, kill_time)


@contextlib.contextmanager
def stack_up(variant: str, images: dict[str, str]) -> Iterator[Stack]:
    """A stack that is taken down with its volumes whatever happens (also on SIGTERM/SIGINT)."""
    with tempfile.TemporaryDirectory(prefix=f"docker-test-{variant}-") as workdir:
        stack = Stack(variant, images, Path(workdir))
        stack.run("down", "-v", "--remove-orphans", check=False)  # leftovers of an interrupted run
        try:
            yield stack
        except BaseException:
            with contextlib.suppress(Exception):
                print(stack.run("logs", "--tail", "60", check=False)[-20000:], flush=True)
            raise
        finally:
            stack.run("down", "-v", "--remove-orphans", check=False)
            say(variant, "down -v: containers, network and volumes removed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--variant", choices=["local", "celery", "both"], default="both")
    parser.add_argument("--pip-index-url", default=os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup of stack_up
    started = time.monotonic()
    images = build_images(args.pip_index_url)
    print(f"images built in {time.monotonic() - started:.0f} s: {images}", flush=True)
    variants = ["local", "celery"] if args.variant == "both" else [args.variant]
    for variant in variants:
        variant_started = time.monotonic()
        with stack_up(variant, images) as stack:
            scenario(stack)
        say(variant, f"passed in {time.monotonic() - variant_started:.0f} s")
    print(f"docker-test took {time.monotonic() - started:.0f} s", flush=True)
    print(f"docker-test: {len(variants)} passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DockerTestError as err:
        print(f"docker-test FAILED: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
