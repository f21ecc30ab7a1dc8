"""Write a DAG file from a template into the test's DAGs folder and import it, for ``dag.test()``."""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path
from typing import Any


def load_dag(template: str, prefix: str, **params: Any) -> Any:
    """
    Format ``template`` with a fresh ``dag_id`` (``<prefix>_<8 hex>``) and ``params``, write it into
    ``AIRFLOW__CORE__DAGS_FOLDER`` (where task subprocesses find it) and return its ``dag``.

    :param template: the DAG file's source, a ``str.format`` template with a ``{dag_id}`` field.
    :param prefix: the start of the DAG's id (and file name).
    :param params: the template's other fields.
    """
    dag_id = f"{prefix}_{uuid.uuid4().hex[:8]}"
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    path.write_text(template.format(dag_id=dag_id, **params))
    spec = importlib.util.spec_from_file_location(dag_id, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag
