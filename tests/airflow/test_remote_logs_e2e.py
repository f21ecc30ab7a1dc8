"""
Remote task logs on OSS under a real Airflow deployment on 127.0.0.1 (api-server, dag-processor,
scheduler with a LocalExecutor, triggerer), configured as docs/REMOTE_LOGS.md says, on Airflow 3.3 and
on 3.0.6 (a scratch environment). One deployment per version serves every scenario:

- a task's log is read back through the REST log endpoint after its local log folder is deleted;
- a retried task shows try 1 and try 2, each from its own object;
- a deferred task's log holds the lines from before the deferral and after the resume;
- a running task's log is shown live (the object does not exist yet);
- OSS slow: the task ends, the upload is given up after ``upload_timeout``, the local log is kept
  and one warning names it.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import textwrap
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.testing import LocalOssServer, LocalServerControlError
from tests.airflow.chromium import headless_chromium
from tests.airflow.e2e_support import Deployment, airflow_deployment, free_port, query_sqlite
from tests.airflow.remote_log_docs import DOC_PAGE, as_airflow_env, documented_logging_settings
from tests.airflow.test_airflow_versions import AIRFLOW_RELEASES
from tests.package_support import built_wheel, install, scratch_venv

BUCKET = "test-bucket"
PREFIX = "airflow-logs"
UPLOAD_TIMEOUT = 3

DAG_SOURCE = textwrap.dedent(
    """
    import time
    from datetime import datetime, timedelta
    from pathlib import Path

    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
    from airflow.sdk import DAG, BaseOperator, get_current_context, task

    START = datetime(2026, 1, 1)


    class DeferOnce(BaseOperator):
        def execute(self, context):
            print("MARKER before defer")
            self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=1)), method_name="resume")

        def resume(self, context, event=None):
            print("MARKER after resume")


    with DAG(dag_id="logs_plain", schedule=None, start_date=START, catchup=False):
        @task
        def say():
            print("MARKER plain task line")

        say()

    with DAG(
        dag_id="logs_retry", schedule=None, start_date=START, catchup=False,
        default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    ):
        @task
        def flaky():
            try_number = get_current_context()["ti"].try_number
            print(f"MARKER try {try_number}")
            if try_number == 1:
                raise RuntimeError("the first try fails")

        flaky()

    with DAG(dag_id="logs_deferred", schedule=None, start_date=START, catchup=False):
        DeferOnce(task_id="defer_once")

    with DAG(dag_id="logs_live", schedule=None, start_date=START, catchup=False):
        @task
        def wait_for_flag():
            print("MARKER live line")
            flag = Path(get_current_context()["dag_run"].conf["flag"])
            deadline = time.monotonic() + 180
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.5)

        wait_for_flag()

    with DAG(dag_id="logs_oss_slow", schedule=None, start_date=START, catchup=False):
        @task
        def while_slow():
            print("MARKER while OSS is slow")

        while_slow()
    """
)
DAG_IDS = ("logs_plain", "logs_retry", "logs_deferred", "logs_live", "logs_oss_slow")


@pytest.fixture(params=["3.3", "3.0.6"])
def airflow_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """This environment's Airflow 3.3, or a scratch environment with Airflow 3.0.6 and the wheel."""
    version = str(request.param)
    if version == "3.3":
        return sys.executable
    bin_dir = scratch_venv(tmp_path_factory.mktemp("airflow-venv") / "venv")
    release = f"apache-airflow=={version}"
    install(bin_dir, release, constrained=False, extra=("--exclude-newer", AIRFLOW_RELEASES[version]))
    install(bin_dir, built_wheel(), constrained=False, extra=("--no-deps",))
    install(bin_dir, "fastcrc>=0.4", constrained=False)
    return str(bin_dir / "python")


@pytest.fixture
def browser() -> Iterator[Any]:
    with headless_chromium() as web:
        yield web


@pytest.fixture
def deployment(tmp_path: Path, oss_server: LocalOssServer, airflow_python: str) -> Iterator[Deployment]:
    # docs/REMOTE_LOGS.md's snippet, on the local server's bucket and with a short upload_timeout.
    documented = documented_logging_settings(DOC_PAGE)
    documented["remote_base_log_folder"] = f"oss://{BUCKET}/{PREFIX}"
    documented["remote_task_handler_kwargs"] = json.dumps({"upload_timeout": UPLOAD_TIMEOUT})
    settings = {
        **as_airflow_env(documented),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
    }
    with airflow_deployment(
        tmp_path,
        oss_server,
        {"remote_logs.py": DAG_SOURCE},
        daemons=("api-server", "dag-processor", "scheduler", "triggerer"),
        env_overrides=settings,
        python=airflow_python,
    ) as running:
        yield running


def run_id_of(deployment: Deployment, dag_id: str) -> str:
    ((run_id,),) = query_sqlite(deployment.db, "SELECT run_id FROM dag_run WHERE dag_id = ?", dag_id)
    return str(run_id)


def rest_log(deployment: Deployment, dag_id: str, task_id: str, try_number: int) -> tuple[list[str], str]:
    """The log of a try through the REST API: (its source details, its lines as one text)."""
    port = deployment.env["AIRFLOW__API__PORT"]
    run_id = urllib.parse.quote(run_id_of(deployment, dag_id), safe="")
    url = (
        f"http://127.0.0.1:{port}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        f"/logs/{try_number}?full_content=true"
    )
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # 127.0.0.1 only
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        content: list[dict[str, Any]] = json.loads(answer.read())["content"]
    events = [str(line.get("event", "")) for line in content]
    start, end = events.index("::group::Log message source details"), events.index("::endgroup::")
    # Airflow 3.3 sends each source as a line of the group, 3.0 as the group line's "sources".
    sources = events[start + 1 : end] or [str(source) for source in content[start].get("sources", [])]
    return sources, "\n".join(events[end + 1 :])


def log_holding(deployment: Deployment, dag_id: str, marker: str) -> tuple[list[str], str] | None:
    """The REST log of the DAG's one task, try 1, once it holds ``marker`` (None before)."""
    ((task_id,),) = query_sqlite(
        deployment.db, "SELECT task_id FROM task_instance WHERE dag_id = ?", dag_id
    ) or [(None,)]
    if task_id is None:
        return None
    try:
        log = rest_log(deployment, dag_id, task_id, 1)
    except OSError:
        return None
    return log if marker in log[1] else None


def key_of(deployment: Deployment, dag_id: str, task_id: str, try_number: int) -> str:
    run_id = run_id_of(deployment, dag_id)
    return f"{PREFIX}/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/attempt={try_number}.log"


def stored_log(oss_server: LocalOssServer, key: str) -> bytes | None:
    try:
        return oss_server.object_bytes(BUCKET, key)
    except LocalServerControlError:  # not stored (yet)
        return None


def local_logs(deployment: Deployment, dag_id: str) -> Path:
    return Path(deployment.env["AIRFLOW_HOME"]) / "logs" / f"dag_id={dag_id}"


@pytest.mark.slow
@pytest.mark.airflow
def test_task_logs_live_in_oss(
    deployment: Deployment, oss_server: LocalOssServer, tmp_path: Path, browser: Any
) -> None:
    for dag_id in DAG_IDS:
        deployment.wait_until_parsed(dag_id, 180)
    flag = tmp_path / "live.flag"
    for dag_id in ("logs_plain", "logs_retry", "logs_deferred"):
        deployment.trigger(dag_id)
    deployment.trigger("logs_live", {"flag": str(flag)})

    # While the task runs, the UI's endpoint shows its live log; nothing is in OSS yet.
    sources, text = deployment.wait_for(
        "the running task's live log", lambda: log_holding(deployment, "logs_live", "MARKER live line"), 180
    )
    assert any(source.startswith("No log in OSS at") for source in sources), sources
    flag.touch()

    last_tries = {"logs_plain": ("say", 1), "logs_retry": ("flaky", 2), "logs_deferred": ("defer_once", 1)}
    last_tries["logs_live"] = ("wait_for_flag", 1)
    for dag_id, (task_id, try_number) in last_tries.items():
        assert deployment.wait_for_run_end(dag_id, 240) == "success", dag_id
        # The worker reports the state, then stores the log: wait for it before its disk goes.
        key = key_of(deployment, dag_id, task_id, try_number)
        deployment.wait_for(f"{key} in OSS", functools.partial(stored_log, oss_server, key), 60)
        shutil.rmtree(local_logs(deployment, dag_id))  # the worker and its disk are gone

    sources, text = rest_log(deployment, "logs_plain", "say", 1)
    assert sources == [f"oss://{BUCKET}/{key_of(deployment, 'logs_plain', 'say', 1)}"]
    assert "MARKER plain task line" in text

    first, second = (rest_log(deployment, "logs_retry", "flaky", n) for n in (1, 2))
    assert (
        "MARKER try 1" in first[1]
        and "Task failed with exception" in first[1]
        and "MARKER try 2" not in first[1]
    )
    assert "MARKER try 2" in second[1] and "MARKER try 1" not in second[1]
    for n in (1, 2):
        assert b"MARKER try %d" % n in oss_server.object_bytes(
            BUCKET, key_of(deployment, "logs_retry", "flaky", n)
        )

    stored = oss_server.object_bytes(BUCKET, key_of(deployment, "logs_deferred", "defer_once", 1)).decode()
    assert stored.index("MARKER before defer") < stored.index("MARKER after resume")
    assert stored.count("MARKER before defer") == 1, "the second upload appended only the new lines"
    _, text = rest_log(deployment, "logs_deferred", "defer_once", 1)
    assert "MARKER before defer" in text and "MARKER after resume" in text

    assert "MARKER live line" in rest_log(deployment, "logs_live", "wait_for_flag", 1)[1]

    # The UI in headless Chromium, the worker's logs gone: the log comes from OSS.
    screens = tmp_path / "screens"
    screens.mkdir()
    uri = f"oss://{BUCKET}/{key_of(deployment, 'logs_plain', 'say', 1)}"
    page = ui_log_text(browser, deployment, "logs_plain", "say", [uri], screens)  # its source: OSS
    assert "No log in OSS" not in page and "Could not read" not in page
    second_try = f"oss://{BUCKET}/{key_of(deployment, 'logs_retry', 'flaky', 2)}"
    page = ui_log_text(browser, deployment, "logs_retry", "flaky", [second_try], screens)  # the latest try
    assert "attempt=1.log" not in page

    # OSS answers nothing for a minute: the task ends, the upload gives up, the local log is kept.
    oss_server.add_fault("*", "delay", delay=60, times=100)
    deployment.trigger("logs_oss_slow")
    assert deployment.wait_for_run_end("logs_oss_slow", 120) == "success"
    warning = deployment.wait_for(
        "the warning about the log not stored",
        lambda: [line for line in scheduler_log(tmp_path) if "Task log not stored in" in line],
        60,
    )
    oss_server.clear_faults()
    (kept,) = local_logs(deployment, "logs_oss_slow").rglob("attempt=1.log")
    assert "MARKER while OSS is slow" in kept.read_text()
    assert len(warning) == 1
    assert f"oss://{BUCKET}/{key_of(deployment, 'logs_oss_slow', 'while_slow', 1)}" in warning[0]
    assert f"within {UPLOAD_TIMEOUT} s" in warning[0] and str(kept) in warning[0]
    secret = oss_server.access_key_secret
    assert not [p for p in tmp_path.rglob("*.log") if secret in p.read_text(errors="replace")]


def ui_log_text(
    web: Any, deployment: Deployment, dag_id: str, task_id: str, wanted: list[str], screens: Path
) -> str:
    """
    The task instance page's text, its source details opened, once it shows every ``wanted`` text;
    its screenshot goes to ``screens`` (also when it never does).
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    port = deployment.env["AIRFLOW__API__PORT"]
    run_id = urllib.parse.quote(run_id_of(deployment, dag_id), safe="")
    web.get(f"http://127.0.0.1:{port}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}")

    def showing() -> str | None:
        try:
            for group in web.find_elements(By.XPATH, "//*[text()='Log message source details']"):
                if "oss://" not in web.find_element(By.TAG_NAME, "body").text:
                    group.click()
            body: str = web.find_element(By.TAG_NAME, "body").text
        except WebDriverException:  # the page is still being drawn
            return None
        return body if all(text in body for text in wanted) else None

    try:
        text: str = deployment.wait_for(f"the UI to show {wanted}", showing, 90)
    finally:
        web.save_screenshot(str(screens / f"{dag_id}.png"))
    return text


def scheduler_log(tmp_path: Path) -> list[str]:
    return (tmp_path / "scheduler.log").read_text(errors="replace").splitlines()
