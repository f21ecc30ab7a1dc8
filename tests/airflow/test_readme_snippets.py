"""
Every fenced Python and shell block of README.md, run against the local OSS server.

A Python block that makes tasks is a DAG: a block without its own ``DAG`` is placed in one, and each
DAG runs with ``dag.test(logical_date=None)``, as a manual run of a ``schedule=None`` DAG has no
logical date in Airflow 3. Other Python blocks run as scripts. Shell blocks run in ``bash`` with the
environment set. The connection ``oss_default`` points at a local server holding ``my-bucket``;
the README's ``/data/`` and ``/shared/`` paths are mapped into the test's temporary directory.
A block that cannot run here is in ``NOT_RUN`` with the reason and is checked another way; a block
in neither is run, so a new block cannot slip through unrun, and a stale ``NOT_RUN`` entry fails.
"""

from __future__ import annotations

import json
import re
import runpy
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer
from tests.doc_snippets import README, Snippet, fenced_blocks

REPO = README.parent
RUN_LANGUAGES = {"python", "bash", "sh", "console"}
# Blocks of other languages, and the test that checks each.
CHECKED_ELSEWHERE = {
    "ini": "tests/airflow/test_remote_log_io.py (the [logging] settings, in a fresh Airflow)"
}

NOT_RUN: dict[str, str] = {
    "python -m pip wheel --no-deps -w dist/ .    # in the checkout: writes "
    "dist/airflow_provider_oss-<version>-py3-none-any.whl": "builds the wheel (needs the build backend from the "
    "index); tests/packaging/test_package_wheel.py builds and installs it; here: the wheel name it gives is "
    "pyproject's name",
    "pip install airflow-provider-oss": "the package is not on the public index yet; here: the name is pyproject's",
    "pip install 'airflow-provider-oss[celery]'": "not on the public index yet; here: the name and the extra are "
    "pyproject's",
    "make demo   # the main job: a resumable upload on the embedded local OSS server, with a fault and a retry": (
        "the demo (minutes) and the whole suite (which holds this test); here: both are Makefile targets"
    ),
}


def _blocks() -> list[Snippet]:
    return [b for b in fenced_blocks(README) if b.language in RUN_LANGUAGES]


def _run_blocks() -> list[Snippet]:
    return [b for b in _blocks() if b.first_line not in NOT_RUN]


def _project_name_and_extras() -> tuple[str, set[str]]:
    """pyproject.toml's distribution name and the names of its extras (read without tomllib: Python 3.10)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    name = re.search(r'^name = "([^"]+)"', text, flags=re.M)
    extras = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    assert name is not None
    return name.group(1), set(re.findall(r"^([\w-]+) = \[", extras, flags=re.M))


def test_every_block_is_run_or_listed_with_a_reason() -> None:
    blocks = fenced_blocks(README)
    unknown = [b for b in blocks if b.language not in RUN_LANGUAGES | set(CHECKED_ELSEWHERE)]
    assert not unknown, f"README blocks of a language this test neither runs nor names: {unknown}"
    assert all(b.language for b in blocks), "a README block without a language tag"
    stale = set(NOT_RUN) - {b.first_line for b in _blocks()}
    assert not stale, f"NOT_RUN names blocks the README no longer has: {stale}"


def test_the_blocks_not_run_are_true_another_way() -> None:
    name, extras = _project_name_and_extras()
    text = "\n".join(b.text for b in _blocks() if b.first_line in NOT_RUN)
    assert f"pip install {name}\n" in text
    assert f"pip install '{name}[celery]'" in text and "celery" in extras
    wheel_prefix = re.sub(r"[-.]+", "_", name) + "-"
    assert f"dist/{wheel_prefix}*.whl" in README.read_text(encoding="utf-8")
    targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(encoding="utf-8"), flags=re.M)
    assert {"demo", "test"} <= set(targets)


# --- running them ----------------------------------------------------------------------------------


def _days() -> list[str]:
    now = datetime.now(timezone.utc)
    return [(now + timedelta(days=d)).strftime("%Y-%m-%d") for d in (0, 1)]  # a run that crosses midnight


@pytest.fixture
def readme_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_object_stores: None) -> Any:
    """A local server with ``my-bucket``, ``oss_default`` pointing at it, and the files the blocks read."""
    with LocalOssServer(buckets=("my-bucket",)) as server:
        conn = {
            "conn_type": "oss_resumable",
            "login": server.access_key_id,
            "password": server.access_key_secret,
            "extra": {
                "region": server.region,
                "endpoint": server.endpoint,
                "bucket": "my-bucket",
                "max_retries": 1,
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
        from airflow_provider_oss.hooks.oss import OssHook

        hook = OssHook()
        for day in _days():
            (tmp_path / "data" / "outbox" / day).mkdir(parents=True)
            (tmp_path / "data" / "outbox" / day / "a.csv").write_bytes(b"a,b\n1,2\n")
            (tmp_path / "data" / f"backup-{day}.tar").write_bytes(b"backup " + day.encode() * 1000)
            hook.load_bytes(b"parquet " + day.encode(), f"exports/{day}.parquet", "my-bucket")
            hook.load_bytes(b"part", f"exports/{day}/part-0.parquet", "my-bucket")
        (tmp_path / "data" / "in").mkdir()
        (tmp_path / "data" / "daily.csv").write_bytes(b"id,total\n1,42\n")
        (tmp_path / "shared" / "exports").mkdir(parents=True)
        (tmp_path / "shared" / "exports" / "big.bin").write_bytes(bytes(range(256)) * 4096)
        yield server, tmp_path


def _localised(text: str, root: Path) -> str:
    return text.replace('"/data/', f'"{root}/data/').replace('"/shared/', f'"{root}/shared/')


def _dags_of(source: str, name: str) -> list[Any]:
    """Write ``source`` into the DAGs folder (where task subprocesses find it), import it, return its DAGs."""
    import importlib.util
    import os

    from airflow.sdk.definitions._internal.contextmanager import DagContext

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.current_autoregister_module_name = name  # as Airflow's DAG-file parser does
    try:
        spec.loader.exec_module(module)
    finally:
        DagContext.current_autoregister_module_name = None
        del sys.modules[name]
    return [dag for dag, mod in DagContext.autoregistered_dags if mod is module]


def _as_dag_file(block: Snippet, root: Path, stamp: str) -> str:
    """The block as a DAG file, with fresh DAG ids; a block without a DAG is placed in one."""
    text = _localised(block.text, root)
    text = re.sub(r'DAG\("(\w+)"', lambda m: f'DAG("{m.group(1)}_{stamp}"', text)
    if "DAG(" not in text:
        body = "".join(f"    {line}" if line.strip() else line for line in text.splitlines(keepends=True))
        text = f'from airflow.sdk import DAG\n\nwith DAG("readme_{stamp}", schedule=None):\n{body}'
    return text


@pytest.mark.airflow
@pytest.mark.parametrize("block", _run_blocks(), ids=lambda b: f"line{b.line}")
def test_the_readme_block_runs(block: Snippet, airflow_db: str, readme_world: Any, tmp_path: Path) -> None:
    server, root = readme_world
    if block.language == "python" and "task_id=" in block.text:
        stamp = f"{block.line}_{time.monotonic_ns() % 10**8}"
        dags = _dags_of(_as_dag_file(block, root, stamp), f"readme_line{stamp}")
        assert dags
        for dag in dags:
            if dag.task_dict:
                run = dag.test(logical_date=None)
                assert run.state == "success", f"README line {block.line}: {dag.dag_id} ended {run.state}"
        _check_what_landed(block, root)
    elif block.language == "python":
        script = tmp_path / "block.py"
        script.write_text(_localised(block.text, root))
        runpy.run_path(str(script))  # its own asserts check the outcome
    else:
        _run_shell(block, server)
    assert all(e["status"] < 500 for e in server.request_log())


def _run_shell(block: Snippet, server: LocalOssServer) -> None:
    if block.first_line.startswith(".venv/bin/oss-local-server"):
        _run_local_server_command(block)
        return
    import os
    import tempfile

    script = block.text + '\nenv -0 > "$README_ENV_OUT"\n'
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "env.out"
        subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "README_ENV_OUT": str(out)},
            check=True,
            timeout=60,
        )
        env = dict(item.split("=", 1) for item in out.read_text().split("\0") if "=" in item)
    exported = re.findall(r"^\s*export (\w+)=", block.text, flags=re.M)
    assert exported, f"README line {block.line}: a shell block this test does not know how to check"
    from airflow.models.connection import Connection

    for name in exported:
        if name.startswith("AIRFLOW_CONN_"):
            value = env[name]
            conn = Connection(conn_id="oss_default", **json.loads(value)) if value.startswith("{") else None
            conn = conn or Connection(conn_id="oss_default", uri=value)
            assert conn.conn_type == "oss_resumable" and conn.login == "LTAI5tKEY"
            assert conn.extra_dejson["bucket"] == "my-bucket"
        else:
            assert env[name].isdigit(), f"{name}={env[name]!r}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_local_server_command(block: Snippet) -> None:
    """The server command, on a free port instead of 9000: it must answer a signed request."""
    port = _free_port()
    command = block.text.strip().replace("--port 9000", f"--port {port}").replace(".venv/bin/", "")
    args = command.split()
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / args[0]), *args[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.1)
        else:
            pytest.fail("oss-local-server did not listen within 30 s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _check_what_landed(block: Snippet, root: Path) -> None:
    """The bytes the transfer blocks move, where they land (the day the run was due is today or tomorrow)."""
    from airflow_provider_oss.hooks.oss import OssHook

    hook = OssHook()
    keys = set(hook.list_keys(bucket_name="my-bucket"))
    day = next(d for d in _days() if f"exports/{d}.parquet" in keys or f"archive/{d}.parquet" in keys)
    if "ResumableUploadOperator(" in block.text and "backups/" in block.text:
        assert (
            hook.read_bytes(f"backups/{day}.tar", "my-bucket")
            == (root / "data" / f"backup-{day}.tar").read_bytes()
        )
    if "OssDownloadOperator(" in block.text:
        assert (root / "data" / "in" / f"{day}.parquet").read_bytes() == f"parquet {day}".encode()
    if "OssCopyObjectOperator(" in block.text:
        assert hook.read_bytes(f"archive/{day}.parquet", "my-bucket") == f"parquet {day}".encode()
        assert not {k for k in keys if k.startswith("exports/") and k.endswith(".parquet")}, keys
    if "OssFolderUploadOperator(" in block.text:
        assert hook.read_bytes(f"outbox/{day}/a.csv", "my-bucket") == b"a,b\n1,2\n"
    if "distributed_upload(" in block.text:
        assert (
            hook.read_bytes("raw/big.bin", "my-bucket")
            == (root / "shared" / "exports" / "big.bin").read_bytes()
        )
    if "Asset(" in block.text:
        assert hook.read_bytes("reports/daily.csv", "my-bucket") == b"id,total\n1,42\n"


def test_the_connection_table_names_every_extra_and_every_value_it_takes() -> None:
    from airflow_provider_oss.core.client_config import CNAME_STYLE
    from airflow_provider_oss.core.connection_settings import _FALSE, _TRUE, EXTRA_TYPES, OFFICIAL_EXTRAS
    from airflow_provider_oss.core.endpoints import ADDRESSING_STYLES, SCHEMES, SIGNATURE_VERSIONS

    readme = README.read_text(encoding="utf-8")
    section = readme.split("### The connection", 1)[1].split("Every `ClientConfig` field is an extra", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)`[^|]* \| (.*) \|$", section, flags=re.M)}
    named = set(re.findall(r"`(\w+)`", " ".join(re.findall(r"^\| ([^|]+) \|", section, flags=re.M))))
    assert (
        set(EXTRA_TYPES) - set(OFFICIAL_EXTRAS) <= named
    )  # the official type's extras have their own paragraph
    for extra, values in (
        ("addressing_style", (*ADDRESSING_STYLES, CNAME_STYLE)),
        ("signature_version", SIGNATURE_VERSIONS),
        ("scheme", SCHEMES),
    ):
        assert all(f"`{v}`" in rows[extra] for v in values), (extra, rows[extra])
    assert all(f"`{v}`" in section for v in _TRUE | _FALSE)
