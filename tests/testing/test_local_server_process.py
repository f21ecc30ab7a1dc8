"""The local OSS server in a child process: ``LocalOssServer.spawn`` and the ``oss-local-server`` CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.testing import LocalOssServer, LocalServerControlError
from airflow_provider_oss.testing.cli import build_parser, main
from airflow_provider_oss.testing.rawclient import RawClient, error_code

READY = re.compile(r"^OSS local server ready: endpoint=http://127\.0\.0\.1:(\d+) region=(\S+) buckets=(\S*)$")


def test_spawned_server_is_driven_through_the_control_api() -> None:
    server = LocalOssServer.spawn(buckets=["alpha-bucket", "beta-bucket"], region="eu-central-1")
    try:
        assert server.running
        root = server.root_dir
        assert root is not None
        assert os.path.isdir(root)
        with RawClient(server) as client:
            assert client.request("PUT", "beta-bucket", "k.txt", data=b"spawned").status_code == 200
            server.add_fault("GetObject", "status", status=503)
            assert client.request("GET", "beta-bucket", "k.txt").status_code == 503
            assert client.request("GET", "beta-bucket", "k.txt").content == b"spawned"
        assert Path(server.object_path("beta-bucket", "k.txt")).read_bytes() == b"spawned"
        assert [e["status"] for e in server.request_log()] == [200, 503, 200]
        info = server.info()
        assert (info["region"], info["buckets"]) == ("eu-central-1", ["alpha-bucket", "beta-bucket"])
        assert server.access_key_secret not in str(info)
        with pytest.raises(LocalServerControlError):
            server.object_bytes("beta-bucket", "missing")
    finally:
        server.stop()
    assert not server.running
    assert not os.path.exists(root), "the child removed its temp storage"


def test_spawned_server_checks_sts_tokens_and_extra_keys() -> None:
    with LocalOssServer.spawn(security_token="CAIS.token", extra_credentials={"ak2": "sk2"}) as server:
        with RawClient(server) as good:
            assert good.request("PUT", "test-bucket", "k", data=b"x").status_code == 200
        without = Credentials(server.access_key_id, server.access_key_secret)
        with RawClient(server, credentials=without) as bad:
            assert error_code(bad.request("GET", "test-bucket", "k")) == "InvalidSecurityToken"
        with RawClient(server, credentials=Credentials("ak2", "sk2")) as other:
            assert other.request("GET", "test-bucket", "k").content == b"x"


def test_cli_ready_line_and_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ, OSS_LOCAL_ACCESS_KEY_SECRET="cli-secret-value")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_oss.testing", "--bucket", "one-bucket", "--bucket", "two-bucket",
         "--data-dir", str(tmp_path), "--region", "cn-shanghai"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().rstrip("\n")
        match = READY.match(line)
        assert match, line
        assert (match.group(2), match.group(3)) == ("cn-shanghai", "one-bucket,two-bucket")
        server = LocalOssServer.connect(
            f"http://127.0.0.1:{match.group(1)}", access_key_secret="cli-secret-value"
        )
        assert (server.region, server.buckets, server.root_dir) == (
            "cn-shanghai",
            ("one-bucket", "two-bucket"),
            str(tmp_path),
        )
        with RawClient(server) as client:
            assert client.request("PUT", "two-bucket", "cli.txt", data=b"from cli").status_code == 200
        assert server.object_bytes("two-bucket", "cli.txt") == b"from cli"
        server.stop()  # detaches only
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert b"cli-secret-value" not in out + err
    assert out == b"", "the ready line is the only output"
    assert (tmp_path / "buckets" / "two-bucket").is_dir(), "a --data-dir is kept"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("oss-local-server")
    result = subprocess.run([str(script), "--help"], capture_output=True, timeout=60, check=True)
    assert b"--access-key-secret" in result.stdout
    assert build_parser().parse_args(["--port", "9", "--etag-mode", "crc"]).etag_mode == "crc"


def test_cli_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalOssServer() as busy:
        assert main(["--port", str(busy.port)]) == 1
    assert "cannot start" in capsys.readouterr().err


def test_connect_to_a_running_server(oss_server_module: LocalOssServer) -> None:
    """Another process (an Airflow task, a demo) drives a server it did not start, by its endpoint."""
    other = LocalOssServer.connect(
        oss_server_module.endpoint, access_key_secret=oss_server_module.access_key_secret
    )
    assert (other.port, other.region, other.root_dir) == (
        oss_server_module.port,
        oss_server_module.region,
        oss_server_module.root_dir,
    )
    other.add_fault("PutObject", "status", status=500)
    with RawClient(other) as client:
        assert client.request("PUT", "test-bucket", "via-connect", data=b"x").status_code == 500
        assert client.request("PUT", "test-bucket", "via-connect", data=b"x").status_code == 200
    other.stop()  # detaches; the server keeps running
    assert oss_server_module.object_bytes("test-bucket", "via-connect") == b"x"
    with pytest.raises(ValueError, match="Expected an endpoint"):
        LocalOssServer.connect("127.0.0.1:9000")


def test_bench_script_measures_and_checks_crc(capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_oss.testing import bench

    assert (
        bench.main(
            ["--size-mb", "2", "--part-mb", "1", "--threads", "2", "--etag-mode", "crc", "--repeat", "1"]
        )
        == 0
    )
    assert "MB/s" in capsys.readouterr().out
