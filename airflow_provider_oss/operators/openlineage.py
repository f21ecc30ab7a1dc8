"""
OpenLineage datasets of the operators, named as the Amazon provider names S3's: an object is the
dataset ``namespace="oss://<bucket>", name="<key>"``, a "folder" the same with its prefix as the name,
and a local file ``namespace="file://<host>", name="<absolute path>"``.

The operators' ``get_openlineage_facets_on_*`` methods build their answers here. The OpenLineage
classes are imported only when these run, i.e. when the OpenLineage provider
(``apache-airflow-providers-openlineage``) is installed and calls them: the provider does not need it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    from airflow.providers.common.compat.openlineage.facet import Dataset, RunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    #: What the operators' ``get_openlineage_facets_on_*`` return.
    Lineage: TypeAlias = OperatorLineage[Dataset, RunFacet]

#: The most datasets one event lists; a task deleting more keys reports the first ones and says so.
MAX_DATASETS = 1000


def oss_namespace(bucket: str) -> str:
    """``oss://<bucket>``: the OpenLineage namespace of a bucket."""
    return f"oss://{bucket}"


def oss_dataset(
    bucket: str, name: str, *, size: int | None = None, file_count: int = 1, dropped: bool = False
) -> Dataset:
    """
    The dataset of ``oss://bucket/name`` (an object, or a prefix).

    :param size: the bytes written, as an ``outputStatistics`` facet (an output dataset then).
    :param file_count: the objects written (with ``size``): 1 for an object, the files uploaded under a prefix.
    :param dropped: the object was deleted: a ``lifecycleStateChange`` facet ``DROP``.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        LifecycleStateChange,
        LifecycleStateChangeDatasetFacet,
        PreviousIdentifier,
    )

    namespace = oss_namespace(bucket)
    if size is not None:
        return _written(namespace, name, size, file_count)
    if dropped:
        facet = LifecycleStateChangeDatasetFacet(
            lifecycleStateChange=LifecycleStateChange.DROP,
            previousIdentifier=PreviousIdentifier(namespace=namespace, name=name),
        )
        return Dataset(namespace=namespace, name=name, facets={"lifecycleStateChange": facet})
    return Dataset(namespace=namespace, name=name)


def local_file_dataset(path: str | os.PathLike[str], *, size: int | None = None) -> Dataset:
    """
    The dataset of a local file (or folder): ``file://<this host>`` and its absolute path.

    :param size: the bytes written to it, as an ``outputStatistics`` facet (an output dataset then).
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace = f"file://{socket.gethostname()}"
    name = os.path.abspath(os.fspath(path))
    if size is not None:
        return _written(namespace, name, size, 1)
    return Dataset(namespace=namespace, name=name)


def _written(namespace: str, name: str, size: int, file_count: int) -> Dataset:
    """An output dataset with its ``outputStatistics`` (bytes and files written)."""
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )

    return OutputDataset(
        namespace=namespace,
        name=name,
        outputFacets={
            "outputStatistics": OutputStatisticsOutputDatasetFacet(size=size, fileCount=file_count)
        },
    )


def operator_lineage(inputs: Iterable[Dataset] = (), outputs: Iterable[Dataset] = ()) -> Lineage:
    """An ``OperatorLineage`` of ``inputs`` and ``outputs``."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=list(inputs), outputs=list(outputs))


def capped(keys: list[str], logger: Any, what: str) -> list[str]:
    """The first :data:`MAX_DATASETS` of ``keys``, logging how many were left out of the lineage."""
    if len(keys) > MAX_DATASETS:
        logger.info(
            "OpenLineage lists the first %d of the %d %s objects (one dataset each).",
            MAX_DATASETS,
            len(keys),
            what,
        )
    return keys[:MAX_DATASETS]
