"""Imports that differ between Airflow 3.0, 3.1, 3.2 and 3.3, resolved once for the Airflow layer."""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator
except ImportError:  # pragma: no cover - Airflow 3.0 before the public SDK names settled
    from airflow.hooks.base import BaseHook  # type: ignore[attr-defined,no-redef,unused-ignore]
    from airflow.models import BaseOperator  # type: ignore[attr-defined,no-redef,unused-ignore]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[attr-defined,no-redef,unused-ignore]

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - Airflow before the SDK's exceptions module
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,unused-ignore]

try:
    from airflow.sdk.log import mask_secret as _mask_secret
except ImportError:  # pragma: no cover
    try:
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_secret  # type: ignore[no-redef]
    except ImportError:
        from airflow.utils.log.secrets_masker import mask_secret as _mask_secret  # type: ignore[no-redef]

try:
    from airflow.sdk.execution_time.context import NEVER_EXPIRE as _NEVER_EXPIRE
except ImportError:  # pragma: no cover - Airflow < 3.3 has no task state store
    _NEVER_EXPIRE = None  # type: ignore[assignment,unused-ignore]

#: ``task_state_store.set(..., retention=NEVER_EXPIRE)`` keeps a key until it is deleted (Airflow 3.3+).
NEVER_EXPIRE = _NEVER_EXPIRE


def mask_secret(secret: Any) -> None:
    """Register a value with Airflow's secrets masker so it is redacted from task logs."""
    if secret:
        _mask_secret(secret)


__all__ = [
    "NEVER_EXPIRE",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "mask_secret",
]
