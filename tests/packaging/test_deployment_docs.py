"""
The ``celery`` extra and the README's CeleryExecutor advice: the extra holds what a Celery
deployment needs, the test extra pulls it in (the Celery e2e test), the lint extra does not; the
README's install line names that extra, and every Airflow setting the README's snippet exports is
a real option whose default is the one the README states.
"""

from __future__ import annotations

import re
from importlib.metadata import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _extras() -> dict[str, list[Requirement]]:
    """The installed distribution's requirements per extra (pyproject.toml, as pip reads it)."""
    dist = metadata("airflow-provider-oss")
    extras: dict[str, list[Requirement]] = {name: [] for name in dist.get_all("Provides-Extra") or []}
    for text in dist.get_all("Requires-Dist") or []:
        requirement = Requirement(text)
        for name, requirements in extras.items():
            if requirement.marker is not None and requirement.marker.evaluate({"extra": name}):
                requirements.append(requirement)
    return extras


def _bash_snippets() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.S | re.M)


def test_the_celery_extra_is_offered_and_the_test_extra_uses_it() -> None:
    extras = _extras()
    assert {r.name for r in extras["celery"]} == {"apache-airflow-providers-celery", "celery"}
    assert next(r for r in extras["celery"] if r.name == "celery").extras == {"redis"}
    assert any(r.name == "airflow-provider-oss" and r.extras == {"celery"} for r in extras["test"])
    assert not any("celery" in r.name for r in extras["lint"])
    assert "pip install 'airflow-provider-oss[celery]'" in "".join(_bash_snippets())


def test_the_readmes_heartbeat_settings_are_airflow_options_with_the_stated_defaults() -> None:
    from airflow.configuration import conf

    snippet = next(s for s in _bash_snippets() if "TASK_INSTANCE_HEARTBEAT_TIMEOUT" in s)
    exported = dict(re.findall(r"^export AIRFLOW__([A-Z_]+)=(\S+)$", snippet, flags=re.M))
    assert set(exported) == {
        "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
        "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL",
        "CORE__DEFAULT_TASK_RETRY_DELAY",
    }
    for name in exported:
        section, option = name.lower().split("__", 1)
        assert conf.get_default_value(section, option) is not None, name
    readme = (ROOT / "README.md").read_text()
    stated = {
        ("scheduler", "task_instance_heartbeat_timeout"): "300",
        ("scheduler", "task_instance_heartbeat_timeout_detection_interval"): "10",
        ("core", "default_task_retry_delay"): "300",
        ("workers", "min_heartbeat_interval"): "5",
        ("workers", "max_failed_heartbeats"): "3",
    }
    for (section, option), default in stated.items():
        assert float(conf.get_default_value(section, option)) == float(default), option
        assert option in readme
