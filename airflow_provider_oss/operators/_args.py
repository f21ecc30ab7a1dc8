"""Argument checks shared by the OSS operators: at DAG parse time unless a value is a template."""

from __future__ import annotations

from typing import Any


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
