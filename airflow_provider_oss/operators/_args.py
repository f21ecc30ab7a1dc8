"""Argument checks shared by the OSS operators: at DAG parse time unless a value is a template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


def is_template(value: Any) -> bool:
    """Whether ``value`` is (or holds) a Jinja template, only known after rendering."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple)):
        return any(is_template(item) for item in value)
    return hasattr(value, "resolve")  # an XComArg, resolved when the task runs


def task_label(operator: str, task_id: str) -> str:
    """``Operator(task_id='x')``, the prefix of every argument error."""
    return f"{operator}(task_id={task_id!r})"


def checked(label: str, build: Callable[[], _T]) -> _T:
    """
    ``build()``, its ValueError (OssClientError and TransferConfigError are ValueErrors) raised again
    prefixed with ``label`` (:func:`task_label`), so that a bad argument names its task.
    """
    try:
        return build()
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
