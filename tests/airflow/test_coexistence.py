"""
The built wheel installs beside ``apache-airflow-providers-alibaba`` in a clean environment: both
providers load without a warning, each has its connection type, and OssHook works on a connection
in the official provider's format against the local server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.package_support import airflow_env, built_wheel, install, run, scratch_venv

OFFICIAL = "apache-airflow-providers-alibaba==3.5.2"

_REGISTRY_SCRIPT = """
import json
from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

hooks = ProvidersManagerTaskRuntime().hooks
manager = ProvidersManager()
print(json.dumps({
    "hooks": {t: hooks[t].hook_class_name for t in ("oss", "oss_resumable")},
    "our_form": sorted(k for k in manager.connection_form_widgets if k.startswith("extra__oss_resumable__")),
    "behaviours": sorted(t for t in manager.field_behaviours if "oss" in t),
}))
"""

#: Script lines (inside ``with LocalOssServer(...) as server:``) setting ``oss_default`` in the
#: official provider's format (the bucket in the schema), on the local server.
_OFFICIAL_CONNECTION = """\
    os.environ["AIRFLOW_CONN_OSS_DEFAULT"] = json.dumps({
        "conn_type": "oss",
        "schema": "team-bucket",
        "extra": {
            "auth_type": "AK",
            "access_key_id": server.access_key_id,
            "access_key_secret": server.access_key_secret,
            "region": server.region,
            "endpoint": server.endpoint,
        },
    })
"""

_SCRIPT = """
import json, os
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.hooks.oss import OssHook
from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

with LocalOssServer(buckets=("team-bucket",)) as server:
OFFICIAL_CONNECTION
    official = OSSHook()  # the official hook accepts the same connection
    ours = OssHook()
    tested = ours.test_connection()
    ours.load_string("beside the official provider", "coexist.txt")
    print(json.dumps({
        "official_region": official.region,
        "official_key_id": official.get_credential().get_credentials().access_key_id,
        "tested": tested,
        "stored": server.object_bytes("team-bucket", "coexist.txt").decode(),
    }))
""".replace("OFFICIAL_CONNECTION\n", _OFFICIAL_CONNECTION)


@pytest.mark.slow
def test_wheel_installs_beside_the_official_provider(tmp_path: Path) -> None:
    bin_dir = scratch_venv(tmp_path / "venv")
    install(bin_dir, built_wheel(), OFFICIAL)
    env = airflow_env(tmp_path / "home")

    listed = run(bin_dir / "airflow", "providers", "list", "--output", "json", env=env)
    assert "already registered" not in listed
    assert "WARNING" not in listed.upper().replace("WARNINGS", "")
    payload = listed[listed.index("[") : listed.rindex("]") + 1]
    packages = {p["package_name"] for p in json.loads(payload)}
    assert {"airflow-provider-oss", "apache-airflow-providers-alibaba"} <= packages

    hooks_out = run(bin_dir / "airflow", "providers", "hooks", "--output", "json", env=env)
    assert "already registered" not in hooks_out
    hooks = json.loads(hooks_out[hooks_out.index("[") : hooks_out.rindex("]") + 1])
    by_type = {h["connection_type"]: h["class"] for h in hooks}
    assert by_type["oss_resumable"] == "airflow_provider_oss.hooks.oss.OssHook"
    assert by_type["oss"] == "airflow.providers.alibaba.cloud.hooks.oss.OSSHook"

    registry_out = run(bin_dir / "python", "-c", _REGISTRY_SCRIPT, env=env)
    assert "already registered" not in registry_out  # Airflow's warning when two providers share a type
    registry = json.loads(registry_out.strip().splitlines()[-1])
    assert registry["hooks"] == {
        "oss": "airflow.providers.alibaba.cloud.hooks.oss.OSSHook",
        "oss_resumable": "airflow_provider_oss.hooks.oss.OssHook",
    }
    assert "extra__oss_resumable__region" in registry["our_form"]
    assert "oss_resumable" in registry["behaviours"]

    result = json.loads(run(bin_dir / "python", "-c", _SCRIPT, env=env).strip().splitlines()[-1])
    assert result["official_region"] == "cn-hangzhou"
    assert result["official_key_id"] == "local-access-key"
    assert result["tested"] == [True, "Connection successfully tested: bucket 'team-bucket' is reachable."]
    assert result["stored"] == "beside the official provider"


_REMOTE_LOG_SCRIPT = """
import json, os
from pathlib import Path
from airflow_provider_oss.testing import LocalOssServer

with LocalOssServer(buckets=("team-logs",)) as server:
OFFICIAL_CONNECTION
    from airflow.logging_config import configure_logging, get_remote_task_log
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.log import load_remote_log_handler

    configure_logging()
    claimant = ProvidersManager().remote_logging_handler_by_scheme("oss")
    api_server, worker = get_remote_task_log(), load_remote_log_handler()
    relative = "dag_id=d/run_id=r/task_id=t/attempt=1.log"
    local = Path(os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / relative
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text("a line beside the official provider\\n")
    worker.upload(relative)
    print(json.dumps({
        "claimant": claimant.package_name,
        "api_server": type(api_server).__module__,
        "worker": type(worker).__module__,
        "stored": server.object_bytes("team-logs", "airflow/" + relative).decode(),
        "read": api_server.read(relative, None),
    }))
""".replace("OFFICIAL_CONNECTION\n", _OFFICIAL_CONNECTION)


@pytest.mark.slow
@pytest.mark.parametrize(
    "logging_config_class", ["", "airflow_provider_oss.log.logging_config.LOGGING_CONFIG"]
)
def test_remote_task_logs_beside_the_official_provider(tmp_path: Path, logging_config_class: str) -> None:
    """
    Both providers claim the ``oss`` remote-logging scheme. Airflow 3.3 keeps the first claimant in
    package-name order (ours, ``airflow-provider-oss``) and warns about the other; with our
    ``logging_config_class`` ours is chosen whatever the order. Either way the worker stores and
    the api-server reads through OssRemoteLogIO, on a connection in the official format.
    """
    bin_dir = scratch_venv(tmp_path / "venv")
    install(bin_dir, built_wheel(), OFFICIAL)
    env = airflow_env(tmp_path / "home")
    env.update(
        {
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "oss://team-logs/airflow",
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "oss_default",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
        }
    )
    if logging_config_class:
        env["AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS"] = logging_config_class

    output = run(bin_dir / "python", "-c", _REMOTE_LOG_SCRIPT, env=env)

    result = json.loads(output.strip().splitlines()[-1])
    assert result["claimant"] == "airflow-provider-oss"
    assert result["api_server"] == result["worker"] == "airflow_provider_oss.log.oss_remote_log"
    assert result["stored"] == "a line beside the official provider\n"
    assert result["read"] == [
        ["oss://team-logs/airflow/dag_id=d/run_id=r/task_id=t/attempt=1.log"],
        ["a line beside the official provider\n"],
    ]
    assert (
        "Remote logging scheme 'oss' is already registered by airflow-provider-oss; ignoring duplicate "
        "registration from apache-airflow-providers-alibaba" in output
    )
