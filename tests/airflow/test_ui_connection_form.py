"""
A connection made the way users make it: the Airflow 3.3 UI in a real (headless Chromium) browser,
then the REST API and ``airflow connections test``; each is then used by OssHook against the
local OSS server. Screenshots go to ``$OSS_UI_SCREENSHOTS`` (default: the test's tmp dir).

Chromium and chromedriver come from Debian (``scripts/ensure_debian_packages.sh``, run by ``make test``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer
from tests.airflow.chromium import headless_chromium
from tests.run_shared import migrate_airflow_db

CONN_ID = "oss_ui"


def _form_fields() -> dict[str, Any]:
    from airflow_provider_oss.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    return dict(conn_type["conn-fields"])


#: The connection form's extra fields (provider info ``conn-fields``).
FORM_FIELDS = _form_fields()


def test_every_extra_the_hook_reads_has_a_form_field_and_none_is_prefilled() -> None:
    from airflow_provider_oss.core.connection_settings import EXTRA_TYPES, OFFICIAL_EXTRAS

    # The official provider's own extras belong to its "oss" type; ours are login/password.
    assert set(FORM_FIELDS) == set(EXTRA_TYPES) - set(OFFICIAL_EXTRAS)
    for name, field in FORM_FIELDS.items():
        assert "default" not in field["schema"], name  # Airflow would pre-fill it, and save it
        assert field["label"], name
    for name in ("pool_size", "backoff_base", "backoff_max", "resolve", "require_crc64"):
        assert "Empty:" in FORM_FIELDS[name].get("description", "") or name == "resolve", name
    assert FORM_FIELDS["addressing_style"]["schema"]["enum"] == [None, "virtual", "path", "cname"]


def test_airflow_builds_the_form_with_no_value_in_any_extra_field() -> None:
    from airflow.providers_manager import ProvidersManager

    widgets = {
        key.split("__", 2)[2]: widget.field
        for key, widget in ProvidersManager().connection_form_widgets.items()
        if key.startswith("extra__oss_resumable__")
    }
    assert set(widgets) == set(FORM_FIELDS)
    assert {name: field["value"] for name, field in widgets.items() if field["value"] is not None} == {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, check: Callable[[], Any], timeout: float, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the api-server exited with {proc.returncode} while waiting for {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _http(url: str, *, method: str = "GET", body: Any = None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)  # noqa: S310  # http://127.0.0.1 only
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, data=data, timeout=30) as response:  # noqa: S310
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, None


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real Airflow 3.3 api-server (simple auth manager, connection testing enabled) on a free port."""
    home = tmp_path / "airflow"
    home.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-jwt-secret-0123456789abcdef",
        }
    )
    migrate_airflow_db(env)
    log = (tmp_path / "api-server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for("the api-server", lambda: _http(f"{base}/api/v2/monitor/health")[0] == 200, 240, proc)
        # The simple auth manager writes the generated admin password here (core.simple_auth_manager_passwords_file).
        passwords = home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        status, answer = _http(
            f"{base}/auth/token", method="POST", body={"username": "admin", "password": password}
        )
        assert status in (200, 201), answer
        yield {
            "base": base,
            "env": env,
            "password": password,
            "token": answer["access_token"],
            "log": log.name,
        }
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian's packages, driven by Selenium."""
    with headless_chromium() as web:
        yield web


def _screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OSS_UI_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _export_connection(env: dict[str, str], conn_id: str, tmp_path: Path) -> dict[str, Any]:
    """The stored connection, secrets included, as ``airflow connections export`` writes it."""
    out = tmp_path / f"{conn_id}.json"
    subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "export", str(out), "--file-format", "json"],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    return dict(json.loads(out.read_text())[conn_id])


def _use_with_hook(
    conn: dict[str, Any], key: str, server: LocalOssServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{key.upper()}", json.dumps(conn))
    hook = OssHook(key)
    assert hook.credentials.security_token is None
    assert hook.get_client_config().verify is True
    hook.load_string(f"written through {key}", f"{key}.txt")
    assert server.object_bytes("test-bucket", f"{key}.txt") == f"written through {key}".encode()


def _test_request_bodies(web: Any) -> list[tuple[dict[str, Any], str]]:
    """The Test button's request bodies and answers, from Chromium's network log."""
    sent: dict[str, dict[str, Any]] = {}
    answers = []
    for entry in web.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent" and params["request"]["url"].endswith(
            "/api/v2/connections/test"
        ):
            sent[params["requestId"]] = json.loads(params["request"].get("postData") or "{}")
        elif message["method"] == "Network.loadingFinished" and params["requestId"] in sent:
            body = web.execute_cdp_cmd("Network.getResponseBody", {"requestId": params["requestId"]})["body"]
            answers.append((sent[params["requestId"]], body))
    return answers


@pytest.mark.slow
@pytest.mark.airflow
def test_connection_made_in_the_ui_works(  # noqa: PLR0915  # one browser session: fill the form, save, then use the connection
    api_server: dict[str, Any],
    browser: Any,
    oss_server: LocalOssServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, env, token = api_server["base"], api_server["env"], api_server["token"]
    screens = _screens(tmp_path)
    web, wait = browser, WebDriverWait(browser, 60)

    def button(label: str) -> Any:
        return wait.until(
            lambda d: next(
                (
                    b
                    for b in d.find_elements(By.CSS_SELECTOR, "button")
                    if label in (b.text, b.get_attribute("aria-label"))
                ),
                None,
            )
        )

    # Log in with the password the simple auth manager generated.
    web.get(f"{base}/")
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    web.find_element(By.NAME, "password").send_keys(api_server["password"])
    web.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "login" not in d.current_url)

    # Create the connection in the form: only what a user must type; the rest stays as the form has it.
    web.get(f"{base}/connections")
    button("Add Connection").click()
    wait.until(ec.presence_of_element_located((By.NAME, "connection_id"))).send_keys(CONN_ID)
    conn_type = web.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    conn_type.click()
    conn_type.send_keys("Alibaba Cloud OSS (resumable)")
    wait.until(lambda d: d.find_elements(By.XPATH, "//*[text()='Alibaba Cloud OSS (resumable)']"))
    conn_type.send_keys(Keys.ENTER)
    login = wait.until(ec.presence_of_element_located((By.NAME, "login")))
    assert login.get_attribute("placeholder") == "LTAI5t..."
    assert web.find_element(By.NAME, "password").get_attribute("placeholder") == "AccessKeySecret"
    assert web.find_elements(By.XPATH, "//*[text()='Access Key ID']")
    web.save_screenshot(str(screens / "0-form-placeholders.png"))
    login.send_keys(oss_server.access_key_id)
    web.find_element(By.NAME, "password").send_keys(oss_server.access_key_secret)
    button("Extra Fields").click()
    region = wait.until(ec.visibility_of_element_located((By.NAME, "element_region")))
    web.save_screenshot(str(screens / "0b-form-every-field.png"))
    marked = web.find_elements(
        By.XPATH, "//*[starts-with(@id, 'element_') or starts-with(@name, 'element_')]"
    )
    shown = {a for e in marked for a in (e.get_attribute("id"), e.get_attribute("name")) if a}
    missing = {f"element_{name}" for name in FORM_FIELDS} - shown
    assert not missing, (sorted(missing), sorted(shown))
    assert "(default: v4)" in web.find_element(By.TAG_NAME, "body").text
    for number in (
        "connect_timeout",
        "read_timeout",
        "max_retries",
        "pool_size",
        "backoff_base",
        "backoff_max",
    ):
        assert web.find_element(By.NAME, f"element_{number}").get_attribute("value") == "", number
    assert region.get_attribute("placeholder") == "Start typing to see options"  # a datalist of regions
    hints = web.find_element(By.TAG_NAME, "body").text
    assert "leave empty when the endpoint names it" in hints
    assert "Only for temporary (STS) credentials" in hints
    region.send_keys(oss_server.region)
    web.find_element(By.NAME, "element_endpoint").send_keys(oss_server.endpoint)
    web.find_element(By.NAME, "element_bucket").send_keys("test-bucket")
    web.save_screenshot(str(screens / "1-form-filled.png"))
    button("Save").click()
    wait.until(lambda d: d.find_elements(By.XPATH, f"//*[text()='{CONN_ID}']"))
    wait.until(lambda d: "oss_resumable" in d.find_element(By.TAG_NAME, "body").text)
    web.save_screenshot(str(screens / "2-saved-list.png"))

    # What the form stored: only what was typed. Airflow's form writes every field it shows, a field
    # left alone as JSON null (the hook reads null as unset); no default is pre-filled, so none is saved.
    status, stored = _http(f"{base}/api/v2/connections/{CONN_ID}", token=token)
    assert status == 200, stored
    assert stored["conn_type"] == "oss_resumable"
    extras = json.loads(stored["extra"])
    typed = {"region": oss_server.region, "endpoint": oss_server.endpoint, "bucket": "test-bucket"}
    assert {name: value for name, value in extras.items() if value is not None} == typed
    assert set(extras) == set(FORM_FIELDS)

    # The Test button.
    web.get_log("performance")
    button("Test Connection").click()
    wait.until(lambda d: "Test Connection" in d.find_element(By.TAG_NAME, "body").text.replace("\n", " "))
    time.sleep(1)
    web.save_screenshot(str(screens / "3-test-button.png"))
    ((sent, answer),) = _test_request_bodies(web)
    from airflow.api_fastapi.core_api.routes.public import connections as route

    if route._same_endpoint(sent["port"], None):
        assert json.loads(answer) == {
            "status": True,
            "message": "Connection successfully tested: bucket 'test-bucket' is reachable.",
        }
    else:
        # Airflow 3.3.2's button sends port Number(null) == 0 for every connection without a port, and
        # the API refuses it before any hook runs (apache/airflow#73298, fixed after 3.3.2).
        assert sent["port"] == 0
        assert "host or port to test differs" in answer
    # The same test with the stored connection as it is (port null): the API runs OssHook.test_connection.
    status, tested = _http(
        f"{base}/api/v2/connections/test",
        method="POST",
        body={"connection_id": CONN_ID, "conn_type": "oss_resumable"},
        token=token,
    )
    assert (status, tested) == (
        200,
        {"status": True, "message": "Connection successfully tested: bucket 'test-bucket' is reachable."},
    )
    web.execute_script(
        "document.body.insertAdjacentHTML('afterbegin', arguments[0]);",
        "<pre id='api-test' style='position:fixed;bottom:8px;left:80px;z-index:9999;background:#dfd;"
        f"padding:8px'>POST /api/v2/connections/test {CONN_ID}: {json.dumps(tested)}</pre>",
    )
    web.save_screenshot(str(screens / "4-test-result.png"))

    # The UI-made connection, used by OssHook against the local server.
    _use_with_hook(_export_connection(env, CONN_ID, tmp_path), CONN_ID, oss_server, monkeypatch)

    # Through the REST API, as the form would send it (nulls for the empty fields), then the CLI test.
    api_extras = dict.fromkeys(extras)
    api_extras.update(region=oss_server.region, endpoint=oss_server.endpoint, bucket="test-bucket")
    status, created = _http(
        f"{base}/api/v2/connections",
        method="POST",
        body={
            "connection_id": "oss_api",
            "conn_type": "oss_resumable",
            "login": oss_server.access_key_id,
            "password": oss_server.access_key_secret,
            "extra": json.dumps(api_extras),
        },
        token=token,
    )
    assert status == 201, created
    cli = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "oss_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Connection success!" in cli.stdout, cli.stdout + cli.stderr
    _use_with_hook(_export_connection(env, "oss_api", tmp_path), "oss_api", oss_server, monkeypatch)
