"""Fixtures for tests that need a real Airflow install: a migrated SQLite metadata database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.run_shared import migrate_airflow_db


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """The session's Airflow metadata database (SQLite in a temporary AIRFLOW_HOME), migrated once."""
    home = os.environ["AIRFLOW_HOME"]
    migrate_airflow_db(dict(os.environ))
    return home


@pytest.fixture
def oss_connection_env(oss_server: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point ``oss_default`` at the test's local OSS server through ``AIRFLOW_CONN_OSS_DEFAULT``."""
    import json

    server = oss_server
    conn = {
        "conn_type": "oss_resumable",
        "login": server.access_key_id,  # type: ignore[attr-defined]
        "password": server.access_key_secret,  # type: ignore[attr-defined]
        "extra": {
            "region": server.region,  # type: ignore[attr-defined]
            "endpoint": server.endpoint,  # type: ignore[attr-defined]
            "addressing_style": "path",
            "bucket": "test-bucket",
            "max_retries": 1,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_OSS_DEFAULT", json.dumps(conn))
    yield "oss_default"


@pytest.fixture
def fresh_object_stores() -> Iterator[None]:
    """Airflow caches one store (and so one client) per scheme and connection: each test has its own server."""
    from airflow.sdk.io import store

    store._STORE_CACHE.clear()
    yield
    store._STORE_CACHE.clear()
