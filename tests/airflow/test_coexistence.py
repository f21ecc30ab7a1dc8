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

_SCRIPT = """
import json, os
from airflow_provider_oss.testing import LocalOssServer
from airflow_provider_oss.hooks.oss import OssHook
from airflow.providers.alibaba.cloud.hooks.oss import OSSHook

with LocalOssServer(buckets=("team-bucket",)) as server:
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
"""


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
