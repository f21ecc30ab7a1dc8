"""
The logging configuration that selects :class:`OssRemoteLogIO` for ``oss://`` task logs::

    [logging]
    logging_config_class = airflow_provider_oss.log.logging_config.LOGGING_CONFIG

Airflow's own default configuration imports the official ``apache-airflow-providers-alibaba`` for
an ``oss://`` folder, and fails when that provider is not installed; and where it is, its handler
would be chosen. This module is Airflow's default configuration read with remote logging off, plus
``REMOTE_TASK_LOG`` (read by Airflow 3.0-3.3 from the module of ``logging_config_class``), so ours
is chosen on every version, with or without the official provider installed.
"""

from __future__ import annotations

import copy
import importlib
import os
from typing import Any

from airflow.configuration import conf

from airflow_provider_oss.log.oss_remote_log import DEFAULT_CONN_ID, OssRemoteLogIO

_AIRFLOW_SETTINGS = "airflow.config_templates.airflow_local_settings"
_REMOTE_LOGGING_ENV = "AIRFLOW__LOGGING__REMOTE_LOGGING"


def airflow_default_logging_config() -> dict[str, Any]:
    """
    A copy of Airflow's ``DEFAULT_LOGGING_CONFIG``, its module imported with remote logging off
    (so it does not import another provider's handler for the ``oss://`` folder).
    """
    saved = os.environ.get(_REMOTE_LOGGING_ENV)
    os.environ[_REMOTE_LOGGING_ENV] = "False"
    try:
        settings = importlib.import_module(_AIRFLOW_SETTINGS)
    finally:
        if saved is None:
            del os.environ[_REMOTE_LOGGING_ENV]
        else:
            os.environ[_REMOTE_LOGGING_ENV] = saved
    return copy.deepcopy(settings.DEFAULT_LOGGING_CONFIG)


#: The dict Airflow passes to ``logging.config.dictConfig``.
LOGGING_CONFIG: dict[str, Any] = airflow_default_logging_config()
#: The remote log IO Airflow uploads with and reads from (None while remote logging is off).
REMOTE_TASK_LOG: OssRemoteLogIO | None = (
    OssRemoteLogIO.from_config() if conf.getboolean("logging", "remote_logging", fallback=False) else None
)
#: The connection of the remote logs, which the worker fetches before storing a log.
DEFAULT_REMOTE_CONN_ID: str = conf.get("logging", "remote_log_conn_id", fallback="") or DEFAULT_CONN_ID
