"""
``OssTransferOperator``: what the upload, download, copy, folder-upload and distributed plan/range
operators share, so that each of them declares only its own arguments.

Shared: the connection (``oss_conn_id``), where a retry's checkpoint lives (``checkpoint``,
``checkpoint_dir``), the one :class:`~airflow_provider_oss.upload.config.TransferConfig` built and
checked when the DAG is parsed, argument errors that name the task, and whether this try is the
last one. The module imports only the hook, the configs and the checkpoint choice: an operator built
on it reaches no engine internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators._args import checked, task_label
from airflow_provider_oss.operators.checkpointing import check_checkpoint_mode
from airflow_provider_oss.upload.config import TransferConfig
from airflow_provider_oss.version_compat import BaseOperator

_T = TypeVar("_T")


class OssTransferOperator(BaseOperator):
    """
    Base of the OSS transfer operators (not an operator of its own).

    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    :param checkpoint: where a retry finds what an earlier try transferred: ``"auto"``,
        ``"state_store"``, ``"file"`` or ``"discover"`` (see each operator).
    :param checkpoint_dir: directory for file checkpoints, on a volume shared by the workers
        (templated in every subclass).
    """

    ui_color = "#ff6a00"

    def __init__(
        self,
        *,
        oss_conn_id: str = OssHook.default_conn_name,
        checkpoint: str = "auto",
        checkpoint_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.oss_conn_id = oss_conn_id
        self.checkpoint = checkpoint
        self.checkpoint_dir = checkpoint_dir
        #: This try's XCom result, for ``get_openlineage_facets_on_complete`` (None until it succeeds).
        self._lineage_result: dict[str, Any] | None = None

    @property
    def _label(self) -> str:
        """``Operator(task_id='x')``, the prefix of every argument error."""
        return task_label(type(self).__name__, self.task_id)

    def _checked(self, build: Callable[[], _T]) -> _T:
        """``build()``, its ValueError raised again naming this task."""
        return checked(self._label, build)

    def _transfer_config(self, **settings: Any) -> TransferConfig:
        """
        The transfer's :class:`TransferConfig`, built and checked once (at DAG parse time: its
        arguments are not templated).

        :param settings: ``part_size``, ``parallelism``, ``multipart_threshold``, ``traffic_limit``...
        :raises ValueError: naming the task and the argument.
        """
        return self._checked(lambda: TransferConfig(**settings))

    def _check_checkpoint(self) -> None:
        """Check ``checkpoint`` and ``checkpoint_dir`` (call inside :meth:`_checked`)."""
        check_checkpoint_mode(self.checkpoint, self.checkpoint_dir)

    def _require_text(self, rendered: bool, hints: Mapping[str, str | None]) -> None:
        """
        Check that each named attribute is a non-empty string (call inside :meth:`_checked`).

        :param rendered: True after rendering (the message then says "rendered to").
        :param hints: attribute name -> what to give (``"Give the <hint>."``), or None for no hint.
        """
        for name, hint in hints.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                state = "rendered to" if rendered else "is"
                advice = f" Give the {hint}." if hint else ""
                raise ValueError(f"{name} must be a non-empty string; it {state} {value!r}.{advice}")

    def _require_optional_text(self, *names: str) -> None:
        """Check that each named attribute (a bucket) is a string or None (call inside :meth:`_checked`)."""
        for name in names:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or None; got {value!r}.")

    @staticmethod
    def _metadata(metadata: object, *, with_metadata: bool = True) -> dict[str, str]:
        """
        The ``metadata`` argument as a dict for ``ObjectOptions`` (``{}`` while it is an
        unrendered template: ``with_metadata=False``).

        :raises ValueError: when it is not a dict.
        """
        if not with_metadata:
            return {}
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict of str to str; got {metadata!r}.")
        return dict(metadata or {})

    def _is_final_try(self, context: Mapping[str, Any]) -> bool:
        """Whether this try is the task instance's last (no retry follows a failure)."""
        ti = context.get("ti")
        return ti is None or ti.try_number > getattr(ti, "max_tries", self.retries or 0)
