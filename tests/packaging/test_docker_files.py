"""
Static and local checks of docker/: the Dockerfile, docker-compose.yaml and .env.example.

No Docker engine is needed (nor used): the compose file is parsed and interpolated the way Compose
does it, checked for consistency with the Dockerfile, the repository and the project's CLI, and the
parts that run in containers are run here where they can be: the oss-local command (the real CLI,
on 127.0.0.1) with the compose file's ``oss_default`` connection, and airflow-init's script.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from airflow_provider_oss.testing.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
DOCKERIGNORE = REPO / ".dockerignore"

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
LONG_RUNNING_AIRFLOW = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
CHECKPOINT_DIR = "/opt/airflow/checkpoints"
DAGS_DIR = "/opt/airflow/dags"
# Directories that exist in the official image (created by its Dockerfile, owned by airflow).
BASE_IMAGE_DIRS = {"/opt/airflow/logs", DAGS_DIR}
READY = re.compile(r"^OSS local server ready: endpoint=http://127\.0\.0\.1:(\d+) region=(\S+) buckets=(\S*)$")


# --------------------------------------------------------------------------------------------------
# Compose-style interpolation (the subset the compose file may use) and parsing helpers
# --------------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}$]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """
    Substitute variables as Docker Compose does: ``$$`` is a literal ``$``; ``${X}``, ``$X``,
    ``${X:-default}`` (unset or empty), ``${X-default}`` (unset), ``${X:?message}``, ``${X?message}``.
    Any other ``$`` is an error, as it is for Compose.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("invalid") is not None:
            raise ValueError(
                f"invalid interpolation at {text[match.start() : match.start() + 20]!r} in {text!r}"
            )
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        missing = not value if op in (":-", ":?") else value is None
        if op and missing:
            if op.endswith("?"):
                raise ValueError(f"required variable {name} is missing: {arg}")
            return arg
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """The compose document with every string value interpolated."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def variables_used(node: Any) -> set[str]:
    """Names of the variables the document refers to."""
    if isinstance(node, str):
        return {
            m.group("braced") or m.group("named")
            for m in _INTERPOLATION.finditer(node)
            if m.group("braced") or m.group("named")
        }
    if isinstance(node, list):
        return set().union(*(variables_used(item) for item in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(variables_used(value) for value in node.values())) if node else set()
    return set()


def load_raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    env = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a KEY=VALUE line: {raw!r}"
        env[key.strip()] = value.strip()
    return env


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Service name -> condition."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def mounts(service: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume entry; type is ``volume`` or ``bind``."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            kind, source, target = entry.get("type", "volume"), entry.get("source", ""), entry["target"]
        else:
            parts = entry.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        result.append((kind, source, target))
    return result


def command_list(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command or []]


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return load_raw_compose()


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    """The compose file as Compose sees it with no .env file: every variable at its default."""
    resolved = resolve(raw_compose, {})
    assert isinstance(resolved, dict)
    return resolved


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def oss_local_args(services: dict[str, dict[str, Any]]) -> Any:
    command = command_list(services["oss-local"])
    return build_parser().parse_args(command[1:])


# --------------------------------------------------------------------------------------------------
# Dockerfile parsing
# --------------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comment lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def copy_args(args: str) -> tuple[list[str], str]:
    """Sources and destination of a COPY (flags such as --chown dropped)."""
    parts = json.loads(args) if args.startswith("[") else shlex.split(args)
    parts = [part for part in parts if not part.startswith("--")]
    assert len(parts) >= 2, f"COPY needs a source and a destination: {args!r}"
    return parts[:-1], parts[-1]


def dockerignore_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not supported by this check"
        regex = ""
        i = 0
        text = line.strip("/")
        while i < len(text):
            if text.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif text.startswith("**", i):
                regex += ".*"
                i += 2
            elif text[i] == "*":
                regex += "[^/]*"
                i += 1
            elif text[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(text[i])
                i += 1
        patterns.append(re.compile(regex + r"\Z"))
    return patterns


def is_dockerignored(relative: str, patterns: list[re.Pattern[str]]) -> bool:
    """Whether the path or one of its parent folders is excluded from the build context."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.match(prefix) for p in patterns for prefix in prefixes)


# --------------------------------------------------------------------------------------------------
# The compose file
# --------------------------------------------------------------------------------------------------


def test_compose_has_the_airflow_3_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", *AIRFLOW_SERVICES, "oss-local"}
    for name, subcommand in LONG_RUNNING_AIRFLOW.items():
        assert command_list(services[name]) == [subcommand], name
    images = {services[name]["image"] for name in (*AIRFLOW_SERVICES, "oss-local")}
    assert len(images) == 1, f"Airflow and oss-local must run the one image built from docker/: {images}"


def test_every_string_interpolates_like_compose(raw_compose: dict[str, Any]) -> None:
    """A bare ``$`` (``$(...)`` in a shell command) is an error for Compose; ``$$`` is needed."""
    resolve(raw_compose, {})
    with pytest.raises(ValueError, match="invalid interpolation"):
        interpolate("echo $(id -u)", {})
    assert interpolate("a $$HOME ${X:-d} ${Y-e} $Z", {"Y": "", "Z": "z"}) == "a $HOME d  z"


def test_depends_on_names_existing_services_with_sound_conditions(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert target != name
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy: no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert services[target].get("restart", "no") in ("no", "on-failure"), (
                    f"{name} waits for {target} to complete, but it is restarted forever"
                )
            else:
                assert condition == "service_started", f"{name}: unknown condition {condition!r}"

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for target in depends_on(services[name]):
            visit(target, (*path, name))

    for name in services:
        visit(name, ())
    for name in LONG_RUNNING_AIRFLOW:
        deps = depends_on(services[name])
        assert deps["postgres"] == "service_healthy"
        assert deps["airflow-init"] == "service_completed_successfully"
    assert depends_on(services["airflow-init"]) == {"postgres": "service_healthy"}


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        source
        for service in compose["services"].values()
        for kind, source, _ in mounts(service)
        if kind == "volume" and source
    }
    assert used - declared == set(), "volumes used but not declared"
    assert declared - used == set(), "volumes declared but never used"
    for name, service in compose["services"].items():
        targets = [target for _, _, target in mounts(service)]
        assert len(targets) == len(set(targets)), f"{name} mounts two volumes on one path"


def test_build_context_and_dockerfile_exist(services: dict[str, dict[str, Any]]) -> None:
    built = {name: service["build"] for name, service in services.items() if "build" in service}
    assert set(built) == {*AIRFLOW_SERVICES, "oss-local"}
    for name, build in built.items():
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == REPO, f"{name}: the build context must be the repository root"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.resolve() == DOCKERFILE.resolve()
        assert dockerfile.is_file()


def test_example_dags_are_mounted(services: dict[str, dict[str, Any]]) -> None:
    dags = sorted(path.name for path in (REPO / "dags").glob("*.py"))
    assert dags, "no example DAG in dags/"
    for name in AIRFLOW_SERVICES:
        binds = {
            target: (COMPOSE_FILE.parent / source).resolve()
            for kind, source, target in mounts(services[name])
            if kind == "bind"
        }
        assert binds.get(DAGS_DIR) == REPO / "dags", f"{name} does not mount the example DAGs"


def test_checkpoint_volume_is_shared_by_scheduler_and_workers(services: dict[str, dict[str, Any]]) -> None:
    env = service_env(services["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", "the scheduler's processes are the workers"
    for name in ("airflow-scheduler", "airflow-triggerer", "airflow-apiserver", "airflow-dag-processor"):
        volumes = {target: source for kind, source, target in mounts(services[name]) if kind == "volume"}
        assert volumes.get(CHECKPOINT_DIR) == "oss-checkpoints", name
        assert service_env(services[name])["OSS_CHECKPOINT_DIR"] == CHECKPOINT_DIR, name


def test_airflow_3_settings(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    envs = [service_env(services[name]) for name in AIRFLOW_SERVICES]
    for key in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW_CONN_OSS_DEFAULT",
    ):
        assert len({env[key] for env in envs}) == 1, f"{key} differs between the Airflow components"
    env = envs[0]
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32, "short HMAC keys are rejected by PyJWT"
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname == "airflow-apiserver"
    assert execution_api.path == "/execution/"
    published = [str(port).rsplit(":", 1)[-1] for port in services["airflow-apiserver"]["ports"]]
    assert str(execution_api.port) in published
    module_name, _, class_name = env["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    manager = getattr(importlib.import_module(module_name), class_name)
    assert manager.__name__ == "SimpleAuthManager", "Airflow 3's default auth manager"


# --------------------------------------------------------------------------------------------------
# .env.example
# --------------------------------------------------------------------------------------------------


def test_env_example_documents_every_variable_with_its_default(raw_compose: dict[str, Any]) -> None:
    example = read_env_file(ENV_EXAMPLE)
    used = variables_used(raw_compose)
    celery_only = variables_used(yaml.safe_load(CELERY_FILE.read_text(encoding="utf-8"))) - used
    assert set(example) == used | celery_only, "variables of .env.example and the compose files differ"
    assert resolve(raw_compose, example) == resolve(raw_compose, {}), (
        ".env.example must hold the compose file's defaults"
    )


# --------------------------------------------------------------------------------------------------
# The oss-local service and the oss_default connection
# --------------------------------------------------------------------------------------------------


def test_oss_local_command_is_accepted_by_the_cli(
    services: dict[str, dict[str, Any]], oss_local_args: Any
) -> None:
    service = services["oss-local"]
    command = command_list(service)
    scripts = importlib.metadata.entry_points(group="console_scripts", name=command[0])
    assert [script.value for script in scripts] == ["airflow_provider_oss.testing.cli:main"]
    # Whole option names (argparse would also take an abbreviation such as --regio).
    options = build_parser()._option_string_actions
    flags = [arg for arg in command[1:] if arg.startswith("--")]
    assert flags
    assert [flag for flag in flags if flag not in options] == []
    # The Airflow image's /entrypoint would run `airflow oss-local-server ...`.
    assert "/entrypoint" not in service["entrypoint"]
    assert oss_local_args.host == "0.0.0.0"
    assert oss_local_args.port == 9000
    volumes = {target: source for kind, source, target in mounts(service) if kind == "volume"}
    assert oss_local_args.data_dir in volumes, "the server's data must be on a volume"
    assert any(str(port).endswith(f":{oss_local_args.port}") for port in service["ports"])
    assert str(oss_local_args.port) in " ".join(service["healthcheck"]["test"])


def test_oss_connection_points_at_oss_local(services: dict[str, dict[str, Any]], oss_local_args: Any) -> None:
    conn = json.loads(service_env(services["airflow-scheduler"])["AIRFLOW_CONN_OSS_DEFAULT"])
    assert conn["conn_type"] == "oss_resumable"
    extra = conn["extra"]
    endpoint = urlsplit(extra["endpoint"])
    assert endpoint.scheme == "http"
    assert endpoint.hostname == "oss-local"
    assert endpoint.hostname in services
    assert endpoint.port == oss_local_args.port
    assert extra["addressing_style"] == "path"
    assert conn["login"] == oss_local_args.access_key_id
    assert conn["password"] == service_env(services["oss-local"])["OSS_LOCAL_ACCESS_KEY_SECRET"]
    assert extra["region"] == oss_local_args.region
    assert extra["bucket"] in oss_local_args.bucket
    for name in AIRFLOW_SERVICES:
        env = service_env(services[name])
        assert env["OSS_DEMO_BUCKET"] == env["OSS_FOLDER_BUCKET"] == extra["bucket"]


def test_real_oss_settings_give_a_valid_connection(raw_compose: dict[str, Any]) -> None:
    """The settings README.md gives for real OSS: values with JSON-special characters stay out."""
    env = {
        "OSS_ACCESS_KEY_ID": "LTAI5tExampleKey",
        "OSS_ACCESS_KEY_SECRET": "Example+Secret/Value=",
        "OSS_REGION": "cn-shanghai",
        "OSS_BUCKET": "my-bucket",
        "OSS_ENDPOINT": "https://oss-cn-shanghai.aliyuncs.com",
        "OSS_ADDRESSING_STYLE": "virtual",
    }
    services = resolve(raw_compose, env)["services"]
    conn = json.loads(service_env(services["airflow-scheduler"])["AIRFLOW_CONN_OSS_DEFAULT"])
    assert conn == {
        "conn_type": "oss_resumable",
        "login": "LTAI5tExampleKey",
        "password": "Example+Secret/Value=",
        "extra": {
            "region": "cn-shanghai",
            "endpoint": "https://oss-cn-shanghai.aliyuncs.com",
            "addressing_style": "virtual",
            "bucket": "my-bucket",
        },
    }


def _start_oss_local(
    command: list[str], env: Mapping[str, str], data_dir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Run the compose file's oss-local command on 127.0.0.1 (a free port) with ``data_dir``."""
    args = list(command[1:])
    overrides = {"--host": "127.0.0.1", "--port": "0", "--data-dir": str(data_dir)}
    for flag, value in overrides.items():
        args[args.index(flag) + 1] = value
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_oss.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().rstrip("\n")
    match = READY.match(line)
    if not match:
        process.kill()
        _, err = process.communicate(timeout=30)
        pytest.fail(f"oss-local did not start: {line!r} {err.decode()!r}")
    return process, int(match.group(1))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        _stop(process)


def test_oss_local_and_the_connection_work_together(
    services: dict[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stopper: list[subprocess.Popen[bytes]],
) -> None:
    """
    The real CLI started with the compose file's oss-local command and environment, reached with
    the compose file's connection (Host ``oss-local:<port>`` as in the compose network, resolved to
    127.0.0.1): the key, secret, region and bucket agree, and objects survive a restart on the
    same data directory (the oss-local-data volume).
    """
    from airflow_provider_oss.hooks.oss import OssHook

    command = command_list(services["oss-local"])
    server_env = service_env(services["oss-local"])
    conn = json.loads(service_env(services["airflow-scheduler"])["AIRFLOW_CONN_OSS_DEFAULT"])
    data_dir = tmp_path / "oss-local-data"
    data_dir.mkdir()

    def hook_for(port: int) -> OssHook:
        endpoint = urlsplit(conn["extra"]["endpoint"])
        extra = {
            **conn["extra"],
            "endpoint": f"{endpoint.scheme}://{endpoint.hostname}:{port}",
            "resolve": {endpoint.hostname: "127.0.0.1"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps({**conn, "extra": extra}))
        return OssHook()

    process, port = _start_oss_local(command, server_env, data_dir)
    stopper.append(process)
    hook = hook_for(port)
    ok, message = hook.test_connection()
    assert ok, message
    assert conn["extra"]["bucket"] in message
    payload = os.urandom(100_000)
    hook.load_bytes(payload, "incoming/data.bin")
    hook.load_string("", "incoming/_SUCCESS")
    _stop(process)

    process, port = _start_oss_local(command, server_env, data_dir)
    stopper.append(process)
    hook = hook_for(port)
    assert hook.read_bytes("incoming/data.bin") == payload
    assert sorted(hook.list_keys("incoming/")) == ["incoming/_SUCCESS", "incoming/data.bin"]


# --------------------------------------------------------------------------------------------------
# airflow-init's script
# --------------------------------------------------------------------------------------------------


def test_init_script_migrates_and_writes_the_admin_and_the_demo_data(
    services: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = services["airflow-init"]
    command = command_list(service)
    assert command[:2] == ["bash", "-c"], "airflow-init runs a bash script through the image's entrypoint"
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    calls = tmp_path / "airflow-calls.txt"
    stub = stub_dir / "airflow"
    stub.write_text('#!/bin/sh\necho "$*" >> "$AIRFLOW_STUB_LOG"\n[ "$1" = version ] && echo 3.3.2\nexit 0\n')
    stub.chmod(0o755)
    (stub_dir / "python").symlink_to(sys.executable)
    env = service_env(service)
    env["AIRFLOW_ADMIN_PASSWORD"] = "Init-Test-Passw0rd"
    passwords_file = tmp_path / "auth" / "passwords.json"
    env.update(
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords_file),
        OSS_DEMO_SOURCE=str(tmp_path / "data" / "big-file.bin"),
        OSS_FOLDER_SOURCE=str(tmp_path / "data" / "outbox"),
        OSS_DEMO_FILE_MB="1",
        AIRFLOW_STUB_LOG=str(calls),
        PATH=f"{stub_dir}{os.pathsep}{os.environ['PATH']}",
        HOME=str(tmp_path),
    )

    def run() -> None:
        result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr.decode()
        assert env["AIRFLOW_ADMIN_PASSWORD"].encode() not in result.stdout + result.stderr

    run()
    assert calls.read_text().splitlines() == ["version", "db migrate"]
    big = tmp_path / "data" / "big-file.bin"
    assert big.stat().st_size == 1024 * 1024
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    outbox = sorted(
        str(path.relative_to(tmp_path / "data" / "outbox"))
        for path in (tmp_path / "data" / "outbox").rglob("*")
        if path.is_file()
    )
    assert outbox == ["images/logo.bin", "orders.csv", "reports/2026-01.txt"]
    run()
    assert hashlib.sha256(big.read_bytes()).hexdigest() == digest, "a second start keeps the demo file"

    # The file is what Airflow's SimpleAuthManager reads, for the user the compose file configures.
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
        SimpleAuthManager,
        SimpleAuthManagerRole,
    )

    for key in ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file))
    users = SimpleAuthManager.get_users()
    assert [user.username for user in users] == ["admin"]
    assert SimpleAuthManagerRole[str(users[0].role).upper()] is SimpleAuthManagerRole.ADMIN
    assert SimpleAuthManager.get_passwords() == {"admin": "Init-Test-Passw0rd"}
    SimpleAuthManager().init()  # what the API server does at start: no new generated password
    assert SimpleAuthManager.get_passwords() == {"admin": "Init-Test-Passw0rd"}


# --------------------------------------------------------------------------------------------------
# The Dockerfile
# --------------------------------------------------------------------------------------------------


def test_dockerfile_pins_airflow_3_3() -> None:
    """The base image is a build argument whose default is the official image (as users get it)."""
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms == ["${AIRFLOW_BASE_IMAGE}"]
    first_from = instructions.index(("FROM", froms[0]))
    base_args = [args for keyword, args in instructions[:first_from] if keyword == "ARG"]
    assert len(base_args) == 1 and base_args[0].startswith("AIRFLOW_BASE_IMAGE=")
    default = base_args[0].split("=", 1)[1]
    match = re.fullmatch(r"apache/airflow:(3\.3\.\d+)-python3\.(\d+)", default)
    assert match, f"the base image must pin Airflow 3.3.x and Python: {default!r}"
    pins = read_constraints(REPO / "constraints.txt")
    assert pins["apache-airflow"] == match.group(1), "the image's Airflow differs from the tested one"


def read_constraints(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_dockerfile_copy_sources_exist_and_reach_the_build() -> None:
    patterns = dockerignore_patterns()
    copies = [copy_args(args) for keyword, args in dockerfile_instructions() if keyword in ("COPY", "ADD")]
    assert copies
    for sources, _ in copies:
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY source {source!r} is not in the repository"
            relative = path.resolve().relative_to(REPO).as_posix()
            assert not is_dockerignored(relative, patterns), f"{source!r} is excluded by .dockerignore"
            if path.is_dir():
                files = [
                    p.relative_to(REPO).as_posix() for p in path.rglob("*.py") if "__pycache__" not in p.parts
                ]
                assert files
                ignored = [f for f in files if is_dockerignored(f, patterns)]
                assert not ignored, f".dockerignore drops source files: {ignored}"
    for cache in (".venv/bin/python", ".git/HEAD", "airflow_provider_oss/__pycache__/x.pyc", "docker/.env"):
        assert is_dockerignored(cache, patterns), f"{cache} should stay out of the build context"


def test_dockerfile_installs_the_package_from_the_repo() -> None:
    workdir = "/"
    user = "root"
    copied: dict[str, str] = {}
    installs = []
    for keyword, args in dockerfile_instructions():
        if keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / args)
        elif keyword == "USER":
            user = args
        elif keyword == "COPY":
            sources, dest = copy_args(args)
            for source in sources:
                target = PurePosixPath(workdir) / dest
                if (dest.endswith("/") and not source.endswith("/")) or len(sources) > 1:
                    target = target / PurePosixPath(source).name
                copied[source.rstrip("/")] = str(target)
        elif keyword == "RUN" and "pip install" in args:
            installs.append((workdir, user, args))
    assert len(installs) == 1
    workdir, user, run = installs[0]
    assert user == "airflow", "pip install runs as the airflow user (the image's venv is his)"
    pip_args = shlex.split(run.split("pip install", 1)[1].split("&&", 1)[0])
    assert "." in pip_args, "the package is installed from the repository (`pip install .`)"
    assert any(arg.startswith("apache-airflow==") for arg in pip_args), "Airflow must stay pinned"
    assert "-c" in pip_args
    assert "--no-cache-dir" in pip_args
    assert "-e" not in pip_args and "--editable" not in pip_args
    assert copied["pyproject.toml"] == f"{workdir}/pyproject.toml"
    assert copied["README.md"] == f"{workdir}/README.md", "pyproject.toml's readme must be in the build"
    assert copied["airflow_provider_oss"] == f"{workdir}/airflow_provider_oss"
    assert copied["constraints.txt"] == f"{workdir}/constraints.txt"
    assert copied["dags"] == DAGS_DIR


def test_named_volume_mount_points_exist_in_the_image(services: dict[str, dict[str, Any]]) -> None:
    """A new named volume copies the image's folder and its owner: it must exist, owned by airflow."""
    created = set()
    for keyword, args in dockerfile_instructions():
        for step in args.split("&&") if keyword == "RUN" else []:
            words = shlex.split(step)
            if words[:2] == ["mkdir", "-p"]:
                created.update(words[2:])
    for name in (*AIRFLOW_SERVICES, "oss-local"):
        for kind, _, target in mounts(services[name]):
            if kind == "volume":
                assert target in created | BASE_IMAGE_DIRS or any(
                    path.startswith(target + "/") for path in created
                ), f"{name}: {target} is not created in the image"


# --------------------------------------------------------------------------------------------------
# docker/constraints_for_image.py
# --------------------------------------------------------------------------------------------------


def _constraints_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "constraints_for_image", DOCKER_DIR / "constraints_for_image.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_constraints_keep_the_image_packages() -> None:
    module = _constraints_module()
    installed = [
        "apache-airflow==3.3.2",
        "Requests==2.31.0",
        "typing_extensions==4.0.0",
        "some-local-package @ file:///tmp/some",
        "pip==26.1.2",
    ]
    project = [
        "# pins",
        "requests==2.32.4",
        "typing-extensions==4.15.0",
        "fastcrc==0.3.2",
        "",
        "some.local.package==1",
    ]
    assert module.merge(installed, project) == [
        "apache-airflow==3.3.2",
        "Requests==2.31.0",
        "typing_extensions==4.0.0",
        "pip==26.1.2",
        "fastcrc==0.3.2",
    ]


def test_image_constraints_from_the_real_files(tmp_path: Path) -> None:
    """The script's command line on the repository's constraints.txt and an image-like freeze."""
    freeze = tmp_path / "freeze.txt"
    freeze.write_text("apache-airflow==3.3.2\nrequests==2.0.0\npendulum==3.0.0\n")
    result = subprocess.run(
        [
            sys.executable,
            str(DOCKER_DIR / "constraints_for_image.py"),
            str(freeze),
            str(REPO / "constraints.txt"),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = result.stdout.decode().splitlines()
    pins = dict(line.split("==", 1) for line in lines)
    assert pins["requests"] == "2.0.0"
    assert pins["pendulum"] == "3.0.0"
    assert pins["fastcrc"] == read_constraints(REPO / "constraints.txt")["fastcrc"]
    names = [name.lower().replace("_", "-") for name in pins]
    assert len(names) == len(set(names)) == len(lines)


# --------------------------------------------------------------------------------------------------
# docker-compose.celery.yaml: the CeleryExecutor variant (an override of docker-compose.yaml)
# --------------------------------------------------------------------------------------------------

CELERY_FILE = DOCKER_DIR / "docker-compose.celery.yaml"
CELERY_WORKERS = ("airflow-worker-1", "airflow-worker-2")
# What the variant may change in a service of docker-compose.yaml.
CELERY_OVERRIDABLE = {"environment", "depends_on"}
DEBIAN_PACKAGES_HINT = "install it with scripts/ensure_debian_packages.sh (Debian's docker-compose)"


def merge_compose(base: Any, override: Any) -> Any:
    """
    Compose's merge of an override file for what these files use: mappings (services,
    environment, depends_on, healthcheck, build) merge key by key, anything else is replaced.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_compose(base[key], value) if key in base else value
        return merged
    return override


@pytest.fixture(scope="module")
def raw_celery() -> dict[str, Any]:
    data = yaml.safe_load(CELERY_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def celery_services(raw_compose: dict[str, Any], raw_celery: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services of both files merged, every variable at its default."""
    merged = resolve(merge_compose(raw_compose, raw_celery), {})
    assert isinstance(merged, dict)
    found: dict[str, dict[str, Any]] = merged["services"]
    return found


def test_celery_variant_adds_redis_and_two_workers_and_only_switches_the_executor(
    raw_compose: dict[str, Any], raw_celery: dict[str, Any], celery_services: dict[str, dict[str, Any]]
) -> None:
    assert set(celery_services) == {*raw_compose["services"], "redis", *CELERY_WORKERS}
    for name, service in raw_celery["services"].items():
        if name in raw_compose["services"]:
            assert set(service) <= CELERY_OVERRIDABLE, f"{name}: the variant changes {set(service)}"
    assert set(raw_celery) <= {"services"} | {key for key in raw_celery if key.startswith("x-")}, (
        "the variant declares no volume or network of its own: it uses docker-compose.yaml's"
    )
    redis = celery_services["redis"]
    assert re.fullmatch(r"redis:7\.\d+-bookworm", redis["image"]), "pin the Redis image's minor version"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "ports" not in redis, "Redis is reachable in the compose network only"


def test_celery_variant_settings_agree_everywhere(celery_services: dict[str, dict[str, Any]]) -> None:
    envs = {name: service_env(celery_services[name]) for name in (*AIRFLOW_SERVICES, *CELERY_WORKERS)}
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW_CONN_OSS_DEFAULT",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    ):
        values = {name: env.get(key) for name, env in envs.items()}
        assert len(set(values.values())) == 1, f"{key} differs: {values}"
    env = envs["airflow-scheduler"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname in celery_services
    assert str(broker.port) in [str(port) for port in celery_services[broker.hostname]["expose"]]
    backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    database = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert backend.startswith("db+postgresql://")
    assert urlsplit(backend.removeprefix("db+")).netloc == database.netloc, "the metadata database"


def test_celery_workers_run_like_the_other_components(celery_services: dict[str, dict[str, Any]]) -> None:
    """Same image, environment and volumes as the scheduler: the checkpoint volume is shared."""
    scheduler = celery_services["airflow-scheduler"]
    names = []
    for worker in CELERY_WORKERS:
        service = celery_services[worker]
        env = service_env(service)
        assert service["image"] == scheduler["image"]
        assert service["build"] == scheduler["build"]
        extra = {"CELERY_WORKER_NAME", "DUMB_INIT_SETSID"}
        assert {k: v for k, v in env.items() if k not in extra} == service_env(scheduler), worker
        assert sorted(mounts(service)) == sorted(mounts(scheduler)), worker
        volumes = {target: source for kind, source, target in mounts(service) if kind == "volume"}
        assert volumes[CHECKPOINT_DIR] == "oss-checkpoints"
        assert env["OSS_CHECKPOINT_DIR"] == CHECKPOINT_DIR
        command = command_list(service)
        assert command[:2] == ["celery", "worker"]
        hostname = command[command.index("--celery-hostname") + 1]
        assert hostname == f"{env['CELERY_WORKER_NAME']}@%h", "the healthcheck pings this name"
        assert "${CELERY_WORKER_NAME}@${HOSTNAME}" in " ".join(service["healthcheck"]["test"])
        assert service.get("restart") == "always"
        names.append(env["CELERY_WORKER_NAME"])
    assert len(set(names)) == len(CELERY_WORKERS), "each worker needs its own Celery hostname"


def test_celery_worker_command_and_healthcheck_app_exist_in_airflow(
    celery_services: dict[str, dict[str, Any]],
) -> None:
    """The worker's command line is accepted by Airflow's CLI (with the Celery provider)."""
    from airflow.cli.cli_parser import get_parser

    for worker in CELERY_WORKERS:
        args = get_parser().parse_args(command_list(celery_services[worker]))
        assert args.celery_hostname.endswith("@%h")
        assert args.func.__name__ == "worker" or "worker" in repr(args.func)
        healthcheck = celery_services[worker]["healthcheck"]["test"][1]
        app_path = shlex.split(healthcheck)[shlex.split(healthcheck).index("--app") + 1]
        module_name, _, attribute = app_path.rpartition(".")
        app = getattr(importlib.import_module(module_name), attribute)
        assert type(app).__name__ == "Celery"


def test_celery_variant_depends_on_is_sound(celery_services: dict[str, dict[str, Any]]) -> None:
    for name, service in celery_services.items():
        for target, condition in depends_on(service).items():
            assert target in celery_services, f"{name} depends on unknown service {target!r}"
            if condition == "service_healthy":
                assert celery_services[target].get("healthcheck"), (
                    f"{name} waits for {target}: no healthcheck"
                )

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for target in depends_on(celery_services[name]):
            visit(target, (*path, name))

    for name in celery_services:
        visit(name, ())
    for name in (*LONG_RUNNING_AIRFLOW, *CELERY_WORKERS):
        deps = depends_on(celery_services[name])
        assert deps["redis"] == "service_healthy", name
        assert deps["postgres"] == "service_healthy", name
        assert deps["airflow-init"] == "service_completed_successfully", name
    assert depends_on(celery_services["airflow-init"]) == {"postgres": "service_healthy"}


def test_celery_variant_variables_are_documented(raw_celery: dict[str, Any]) -> None:
    example = read_env_file(ENV_EXAMPLE)
    assert variables_used(raw_celery) <= set(example), (
        "a variable of the Celery variant is not in .env.example"
    )
    assert resolve(raw_celery, example) == resolve(raw_celery, {}), ".env.example holds its defaults"


def _compose_config(tmp_path: Path, override: Path) -> subprocess.CompletedProcess[bytes]:
    """
    ``docker-compose config`` (Compose v1, offline: no engine, no registry) on docker-compose.yaml
    and ``override``. v1 does not know the top-level ``name:``, so the base file is copied without it.
    """
    executable = shutil.which("docker-compose")
    assert executable, f"docker-compose is not installed: {DEBIAN_PACKAGES_HINT}"
    base = tmp_path / "docker-compose.yaml"
    base.write_text(
        "".join(
            line
            for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
            if not line.startswith("name:")
        ),
        encoding="utf-8",
    )
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("", encoding="utf-8")
    command = [executable, "--project-directory", str(DOCKER_DIR), "--env-file", str(empty_env)]
    return subprocess.run(
        [*command, "-f", str(base), "-f", str(override), "config"],
        capture_output=True,
        timeout=120,
        check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith(("OSS_", "AIRFLOW_"))},
    )


def test_docker_compose_config_accepts_the_celery_variant(
    tmp_path: Path, celery_services: dict[str, dict[str, Any]]
) -> None:
    """Compose's own validation and merge agree with the checks above."""
    result = _compose_config(tmp_path, CELERY_FILE)
    assert result.returncode == 0, result.stderr.decode()
    merged = yaml.safe_load(result.stdout)["services"]
    assert set(merged) == set(celery_services)
    for name, service in merged.items():
        assert depends_on(service) == depends_on(celery_services[name]), name
        env = service_env(service)
        assert set(env) == set(service_env(celery_services[name])), name
        for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CELERY__BROKER_URL", "OSS_CHECKPOINT_DIR"):
            assert env.get(key) == service_env(celery_services[name]).get(key), (name, key)
        assert command_list(service) == command_list(celery_services[name]) or name == "airflow-init"

    broken = tmp_path / "broken.yaml"
    raw = yaml.safe_load(CELERY_FILE.read_text(encoding="utf-8"))
    raw["services"]["airflow-worker-2"]["depends_on"] = {"no-such-service": {"condition": "service_healthy"}}
    broken.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = _compose_config(tmp_path, broken)
    assert result.returncode != 0, "docker-compose config must refuse a dependency on a missing service"
    assert b"no-such-service" in result.stderr
