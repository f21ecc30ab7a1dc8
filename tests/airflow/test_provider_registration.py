"""The provider registers with a real Airflow install through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_oss.get_provider_info import get_provider_info


def test_entry_point_points_at_provider_info() -> None:
    eps = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_oss")
    ]
    assert len(eps) == 1
    assert eps[0].load() is get_provider_info


def test_provider_info_is_valid_for_airflow_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-oss"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "oss_resumable"
    assert conn_type["hook-class-name"] == "airflow_provider_oss.hooks.oss.OssHook"
    # The STS token is a secret: the 3.2+ form must render it as a password field.
    assert conn_type["conn-fields"]["security_token"]["schema"]["format"] == "password"


def test_providers_manager_loads_hook_and_form() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "airflow-provider-oss" in manager.providers
    hook_info = ProvidersManagerTaskRuntime().hooks["oss_resumable"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_oss.hooks.oss.OssHook"
    assert hook_info.connection_id_attribute_name == "oss_conn_id"
    widgets = manager.connection_form_widgets
    assert "extra__oss_resumable__region" in widgets
    assert widgets["extra__oss_resumable__security_token"].is_sensitive
    assert not widgets["extra__oss_resumable__region"].is_sensitive
    assert manager.field_behaviours["oss_resumable"]["relabeling"]["login"] == "Access Key ID"


def _airflow_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=180,
        check=True,
    )
    return result.stdout


def test_airflow_cli_lists_provider_and_hook() -> None:
    providers = _airflow_cli("providers", "list", "--output", "json")
    assert any(p["package_name"] == "airflow-provider-oss" for p in json.loads(providers))
    hooks = json.loads(_airflow_cli("providers", "hooks", "--output", "json"))
    (oss,) = [h for h in hooks if h["connection_type"] == "oss_resumable"]
    assert oss["class"] == "airflow_provider_oss.hooks.oss.OssHook"
    assert oss["package_name"] == "airflow-provider-oss"
    assert oss["conn_id_attribute_name"] == "oss_conn_id"
