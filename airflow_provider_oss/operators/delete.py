"""``OssDeleteObjectsOperator``: delete one key, a list of keys, or everything under a prefix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oss.core.bulk_delete import MAX_DELETE_BATCH
from airflow_provider_oss.core.keymatch import compile_glob, split_key
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators._args import is_template, task_label
from airflow_provider_oss.operators.openlineage import capped, operator_lineage, oss_dataset
from airflow_provider_oss.version_compat import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oss.operators.openlineage import Lineage


class OssDeleteObjectsOperator(BaseOperator):
    """
    Delete objects with DeleteMultipleObjects, at most 1,000 keys per request.

    Give exactly one of ``keys`` (a key, or a list, e.g. an upstream task's XCom) and ``prefix``.
    An empty ``prefix`` means "the whole bucket" and is refused unless ``delete_whole_bucket=True``.
    A key missing in OSS counts as deleted; a key OSS does not confirm fails the task, naming it.

    Returns (to XCom) ``{"bucket", "count", "dry_run"}``: the number of keys deleted, or with
    ``dry_run=True`` the number that would be, without deleting anything.

    :param keys: a key or a list of keys; each may be an ``oss://bucket/key`` URL (templated).
    :param prefix: delete every object whose key starts with this (templated).
    :param bucket_name: the bucket (templated); defaults to the connection's ``bucket`` extra.
    :param match_glob: with ``prefix``, only keys matching this path-aware glob (templated).
    :param delete_whole_bucket: allow an empty ``prefix`` (every object of the bucket).
    :param dry_run: count and log what would be deleted; delete nothing.
    :param batch_size: keys per DeleteMultipleObjects request (1..1000).
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    :param version_id: with ``keys`` as one key, delete that version (or delete marker) of it for
        good (a bucket with versioning; templated). Without it, deleting in a bucket with versioning
        adds a delete marker and OSS keeps the earlier versions.
    """

    template_fields: Sequence[str] = ("keys", "prefix", "bucket_name", "match_glob", "version_id")
    ui_color = "#f4a6a6"

    def __init__(
        self,
        *,
        keys: str | list[str] | None = None,
        prefix: str | None = None,
        bucket_name: str | None = None,
        match_glob: str | None = None,
        delete_whole_bucket: bool = False,
        dry_run: bool = False,
        batch_size: int = MAX_DELETE_BATCH,
        oss_conn_id: str = OssHook.default_conn_name,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.version_id = version_id
        self.keys = keys
        self.prefix = prefix
        self.bucket_name = bucket_name
        self.match_glob = match_glob
        self.delete_whole_bucket = delete_whole_bucket
        self.dry_run_only = dry_run
        self.batch_size = batch_size
        self.oss_conn_id = oss_conn_id
        #: What execute deleted, for OpenLineage: (bucket, deleted keys, or None for a prefix).
        self._deleted: tuple[str, list[str] | None] | None = None
        self._check_arguments()

    @property
    def _label(self) -> str:
        return task_label(type(self).__name__, self.task_id)

    def _check_arguments(self) -> None:
        if (self.keys is None) == (self.prefix is None):
            raise ValueError(
                f"{self._label}: give exactly one of keys (a key or a list) and prefix; "
                f"got keys={self.keys!r}, prefix={self.prefix!r}."
            )
        if (
            self.keys is not None
            and not is_template(self.keys)
            and not isinstance(self.keys, (str, list, tuple))
        ):
            raise ValueError(f"{self._label}: keys must be a key or a list of keys; got {self.keys!r}.")
        if self.version_id is not None and not isinstance(self.keys, str):
            raise ValueError(
                f"{self._label}: version_id names a version of one object; give keys as one key "
                f"(not a list or a prefix); got keys={self.keys!r}, prefix={self.prefix!r}."
            )
        if self.version_id is not None and not (isinstance(self.version_id, str) and self.version_id):
            raise ValueError(
                f"{self._label}: version_id must be a non-empty string; got {self.version_id!r}."
            )
        if self.match_glob is not None and self.prefix is None:
            raise ValueError(f"{self._label}: match_glob filters a prefix listing; give prefix with it.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ValueError(f"{self._label}: batch_size must be an int from 1 to {MAX_DELETE_BATCH}.")
        if not 1 <= self.batch_size <= MAX_DELETE_BATCH:
            raise ValueError(f"{self._label}: batch_size must be an int from 1 to {MAX_DELETE_BATCH}.")
        if not isinstance(self.dry_run_only, bool) or not isinstance(self.delete_whole_bucket, bool):
            raise ValueError(f"{self._label}: dry_run and delete_whole_bucket must be True or False.")
        self._check_rendered()

    def _check_rendered(self) -> None:
        """The checks that need the final values: run at parse time when nothing is templated."""
        if self.prefix is not None and not is_template(self.prefix):
            if not isinstance(self.prefix, str):
                raise ValueError(f"{self._label}: prefix must be a string; got {self.prefix!r}.")
            _, plain = split_key(self.prefix, None)
            if plain == "" and not self.delete_whole_bucket:
                raise ValueError(
                    f"{self._label}: prefix={self.prefix!r} would delete every object in the bucket; "
                    "pass delete_whole_bucket=True if that is what you want."
                )
        if self.match_glob is not None and not is_template(self.match_glob):
            compile_glob(self.match_glob)
        if isinstance(self.keys, (list, tuple)) and not is_template(self.keys):
            bad = [key for key in self.keys if not isinstance(key, str) or not key]
            if bad:
                raise ValueError(f"{self._label}: every key must be a non-empty string; got {bad!r}.")
        if isinstance(self.keys, str) and not self.keys:
            raise ValueError(f"{self._label}: keys='' names no object; give a key, a list, or prefix.")

    def _targets(self, hook: OssHook) -> tuple[str, Iterator[str]]:
        if self.prefix is not None:
            bucket_arg, plain = split_key(self.prefix, self.bucket_name)
            bucket = hook.resolve_bucket(bucket_arg)
            # Streamed: each batch is deleted before the next page is listed, so a prefix of
            # millions of keys never sits in memory (listing pages continue after a key, which
            # deleting earlier keys does not disturb).
            listing = (s.key for s in hook.get_client().list_objects_v2(bucket, prefix=plain))
            if self.match_glob is None:
                return bucket, listing
            regex = compile_glob(self.match_glob)
            return bucket, (key for key in listing if regex.match(key))
        raw = [self.keys] if isinstance(self.keys, str) else list(self.keys or [])
        located = [split_key(key, self.bucket_name) for key in raw]
        buckets = {hook.resolve_bucket(bucket) for bucket, _ in located}
        if len(buckets) > 1:
            raise ValueError(
                f"{self._label}: keys name several buckets {sorted(buckets)}; delete one bucket per task."
            )
        bucket = buckets.pop() if buckets else hook.resolve_bucket(self.bucket_name)
        return bucket, (key for _, key in located)

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_rendered()
        hook = OssHook(self.oss_conn_id)
        bucket, keys = self._targets(hook)
        if self.dry_run_only:
            count, examples = 0, list[str]()
            for key in keys:
                count += 1
                if len(examples) < 5:
                    examples.append(key)
            self.log.info(
                "Dry run: would delete %d object(s) from bucket %r, e.g. %s", count, bucket, examples
            )
            return {"bucket": bucket, "count": count, "dry_run": True}
        if self.version_id is not None:  # one key (checked): that version, for good
            deleted = list(keys)
            hook.delete_object(deleted[0], bucket, version_id=self.version_id)
        else:
            deleted = hook.delete_objects(keys, bucket, batch_size=self.batch_size)
        self.log.info("Deleted %d object(s) from bucket %r.", len(deleted), bucket)
        self._deleted = (bucket, None if self.prefix is not None and self.match_glob is None else deleted)
        return {"bucket": bucket, "count": len(deleted), "dry_run": False}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """
        OpenLineage: the deleted objects as input datasets with a ``lifecycleStateChange`` ``DROP``
        facet (the first 1,000; a prefix deleted whole is one dataset named by the prefix). A dry run
        deleted nothing and reports nothing.
        """
        if self._deleted is None:
            return operator_lineage()
        bucket, keys = self._deleted
        if keys is None:
            _, prefix = split_key(str(self.prefix), None)
            return operator_lineage([oss_dataset(bucket, prefix or "/", dropped=True)])
        names = capped(keys, self.log, "deleted")
        return operator_lineage([oss_dataset(bucket, key, dropped=True) for key in names])
