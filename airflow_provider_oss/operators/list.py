"""``OssListOperator``: list the keys under a prefix into XCom, for dynamic task mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.keymatch import compile_glob, split_key
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators._args import is_template, task_label
from airflow_provider_oss.operators.openlineage import operator_lineage, oss_dataset
from airflow_provider_oss.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oss.operators.openlineage import Lineage


class OssListOperator(BaseOperator):
    """
    List the keys under a prefix (all pages, in key order) and return them as a list to XCom.

    Map a downstream task over them with ``.expand(key=list_task.output)``. The listing goes to
    XCom whole: narrow it with ``prefix``, ``delimiter`` or ``match_glob``, or cap it with
    ``max_keys``, which fails the task rather than silently truncate.

    :param prefix: only keys starting with this; may be an ``oss://bucket/prefix`` URL (templated).
    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param delimiter: with ``/``, only the objects directly under ``prefix`` (templated).
    :param match_glob: only keys matching this path-aware glob, e.g. ``in/**/*.csv`` (templated).
    :param start_after: only keys after this one (templated).
    :param return_urls: return ``oss://bucket/key`` URLs instead of bare keys.
    :param max_keys: fail when more keys than this match (None: no cap).
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    """

    template_fields: Sequence[str] = ("prefix", "bucket_name", "delimiter", "match_glob", "start_after")
    ui_color = "#b6d7f4"

    def __init__(
        self,
        *,
        prefix: str = "",
        bucket_name: str | None = None,
        delimiter: str = "",
        match_glob: str | None = None,
        start_after: str = "",
        return_urls: bool = False,
        max_keys: int | None = None,
        oss_conn_id: str = OssHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        self.bucket_name = bucket_name
        self.delimiter = delimiter
        self.match_glob = match_glob
        self.start_after = start_after
        self.return_urls = return_urls
        self.max_keys = max_keys
        self.oss_conn_id = oss_conn_id
        #: The listed location, for OpenLineage: (bucket, prefix).
        self._listed: tuple[str, str] | None = None
        label = task_label(type(self).__name__, self.task_id)
        for name in ("prefix", "delimiter", "start_after"):
            value = getattr(self, name)
            if not isinstance(value, str) and not is_template(value):
                raise ValueError(f"{label}: {name} must be a string; got {value!r}.")
        if match_glob is not None and not is_template(match_glob):
            compile_glob(match_glob)
        if max_keys is not None and (
            isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 0
        ):
            raise ValueError(f"{label}: max_keys must be a non-negative int or None; got {max_keys!r}.")
        if not isinstance(return_urls, bool):
            raise ValueError(f"{label}: return_urls must be True or False; got {return_urls!r}.")

    def execute(self, context: Context) -> list[str]:
        hook = OssHook(self.oss_conn_id)
        bucket_arg, prefix = split_key(self.prefix, self.bucket_name)
        bucket = hook.resolve_bucket(bucket_arg)
        keys = hook.list_keys(
            prefix, bucket, delimiter=self.delimiter, start_after=self.start_after, match_glob=self.match_glob
        )
        if self.max_keys is not None and len(keys) > self.max_keys:
            raise ValueError(
                f"{task_label(type(self).__name__, self.task_id)}: {len(keys)} keys match under "
                f"oss://{bucket}/{prefix}, more than max_keys={self.max_keys}; narrow the listing or raise max_keys."
            )
        self.log.info("Listed %d key(s) under oss://%s/%s", len(keys), bucket, prefix)
        self._listed = (bucket, prefix)
        return [f"oss://{bucket}/{key}" for key in keys] if self.return_urls else keys

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """OpenLineage: the listed "folder" (``oss://bucket``, the prefix; ``/`` for the whole bucket) as input."""
        if self._listed is None:
            return operator_lineage()
        bucket, prefix = self._listed
        return operator_lineage([oss_dataset(bucket, prefix or "/")])
