"""
Where a transfer operator keeps its checkpoint, chosen from its ``checkpoint`` argument and from
what this Airflow offers. One place, so that the upload, download and copy operators agree.

Modes: ``"state_store"`` (Airflow 3.3's ``context["task_state_store"]``, kept per DAG run, task and
map index across tries), ``"file"`` (a JSON file under ``checkpoint_dir`` on a volume every worker
shares), ``"discover"`` (nothing kept: a retry finds the upload through OSS's list of in-progress
uploads of the key) and ``"auto"`` (the first of those that this Airflow and these arguments allow).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.upload.discovery import UploadDiscoveryStore
from airflow_provider_oss.upload.stores import (
    CheckpointStore,
    FileCheckpointStore,
    KeyValueCheckpointStore,
)
from airflow_provider_oss.version_compat import NEVER_EXPIRE

if TYPE_CHECKING:
    from airflow_provider_oss.core.client import OssClient

#: The values of an operator's ``checkpoint`` argument.
CHECKPOINT_MODES = ("auto", "state_store", "file", "discover")
#: The ``task_state_store`` key the upload's checkpoint is kept under.
STATE_STORE_KEY = "oss_resumable_upload"


def check_checkpoint_mode(mode: object, checkpoint_dir: object) -> None:
    """
    Check an operator's ``checkpoint`` and ``checkpoint_dir`` arguments (at DAG parse time, and
    again after rendering, since ``checkpoint_dir`` is templated).

    :param mode: the ``checkpoint`` argument.
    :param checkpoint_dir: the ``checkpoint_dir`` argument.
    :raises ValueError: naming the argument and the fix.
    """
    if mode not in CHECKPOINT_MODES:
        raise ValueError(f"checkpoint must be one of {CHECKPOINT_MODES}; got {mode!r}.")
    if checkpoint_dir is not None and not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise ValueError(f"checkpoint_dir must be a directory path; got {checkpoint_dir!r}.")
    if mode == "file" and not checkpoint_dir:
        raise ValueError(
            "checkpoint='file' needs checkpoint_dir (a directory shared by the workers); it is missing or "
            "rendered empty."
        )


def resolve_mode(mode: str, context: Mapping[str, Any], checkpoint_dir: str | None) -> str:
    """
    The concrete mode for this try: ``"auto"`` becomes ``"state_store"`` when Airflow provides
    ``task_state_store`` (3.3+), else ``"file"`` when ``checkpoint_dir`` is set, else ``"discover"``.

    :param mode: the ``checkpoint`` argument.
    :param context: the task's Airflow context.
    :param checkpoint_dir: the rendered ``checkpoint_dir``.
    """
    if mode != "auto":
        return mode
    if context.get("task_state_store") is not None:
        return "state_store"
    return "file" if checkpoint_dir else "discover"


def is_retry(context: Mapping[str, Any]) -> bool:
    """
    Whether this run is a retry or a re-run of the task instance (``try_number > 1``): only then may
    a discovering transfer adopt an in-progress upload it finds in OSS.

    :param context: the task's Airflow context.
    """
    ti = context.get("ti") or context.get("task_instance")
    try_number = getattr(ti, "try_number", None)
    return isinstance(try_number, int) and try_number > 1


def choose_checkpoint_store(
    context: Mapping[str, Any],
    *,
    mode: str,
    checkpoint_dir: str | None,
    client: OssClient,
    bucket: str,
    key: str,
    filename: str,
    part_size: int,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    state_key: str = STATE_STORE_KEY,
) -> CheckpointStore:
    """
    The checkpoint store for this try of a transfer of ``filename`` to ``oss://bucket/key``.

    :param context: the task's Airflow context.
    :param mode: the ``checkpoint`` argument (one of :data:`CHECKPOINT_MODES`).
    :param checkpoint_dir: the rendered ``checkpoint_dir``.
    :param client: the OSS client (the ``"discover"`` mode asks OSS).
    :param bucket: the bucket.
    :param key: the object key.
    :param filename: the local file.
    :param part_size: the requested part size (``"discover"`` plans the same parts on every try).
    :param logger: where to say which store was chosen when ``"auto"`` fell back to discovery.
    :param state_key: the ``task_state_store`` key.
    :raises ValueError: ``"state_store"`` on an Airflow without ``task_state_store``, or ``"file"``
        without a directory, naming the fix.
    """
    check_checkpoint_mode(mode, checkpoint_dir)
    concrete = resolve_mode(mode, context, checkpoint_dir)
    if concrete == "discover":
        if mode == "auto":
            logger.info(
                "No task_state_store (Airflow < 3.3) and no checkpoint_dir: a retry will find this upload "
                "through OSS's list of in-progress uploads of the key."
            )
        return UploadDiscoveryStore(
            client, bucket, key, filename, part_size, retry=is_retry(context), logger=logger
        )
    if concrete == "state_store":
        state_store = context.get("task_state_store")
        if state_store is None:
            raise ValueError(
                "checkpoint='state_store' needs Airflow 3.3+ (context['task_state_store']); this Airflow has "
                "none. Use checkpoint='file' with checkpoint_dir on a volume shared by the workers."
            )
        set_kwargs = {"retention": NEVER_EXPIRE} if NEVER_EXPIRE is not None else {}
        return KeyValueCheckpointStore(state_store, key=state_key, set_kwargs=set_kwargs)
    assert checkpoint_dir  # checked above
    return FileCheckpointStore(checkpoint_dir, bucket, key, os.path.abspath(filename))
