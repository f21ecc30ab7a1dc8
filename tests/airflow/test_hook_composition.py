"""OssHook composed of its mixins keeps the public API it had as one class."""

from __future__ import annotations

import ast
import inspect

from airflow_provider_oss.hooks import bucket_methods, object_methods, transfers
from airflow_provider_oss.hooks.bucket_methods import OssBucketMethods
from airflow_provider_oss.hooks.object_methods import OssObjectMethods
from airflow_provider_oss.hooks.oss import CopyStoreFactory, OssConnectionConfigError, OssHook, StoreFactory
from airflow_provider_oss.hooks.transfers import OssTransferMethods
from airflow_provider_oss.version_compat import BaseHook

#: Every public method of OssHook before the split, with its parameters in order (``version_id`` and
#: ``source_version_id`` were added, keyword-only and last, with object versioning).
PUBLIC_METHODS = {
    "check_for_key": ["key", "bucket_name"],
    "head_object": ["key", "bucket_name", "version_id"],
    "get_key": ["key", "bucket_name"],
    "load_bytes": ["data", "key", "bucket_name", "replace", "options"],
    "load_string": ["text", "key", "bucket_name", "replace", "encoding", "options"],
    "read_bytes": ["key", "bucket_name", "version_id"],
    "read_key": ["key", "bucket_name", "encoding"],
    "list_objects": ["prefix", "bucket_name", "delimiter", "start_after", "match_glob"],
    "list_keys": ["prefix", "bucket_name", "delimiter", "start_after", "match_glob"],
    "list_prefixes": ["prefix", "bucket_name", "delimiter"],
    "check_for_prefix": ["prefix", "bucket_name", "delimiter"],
    "copy_object": [
        "source_key",
        "dest_key",
        "source_bucket_name",
        "dest_bucket_name",
        "options",
        "source_version_id",
    ],
    "delete_objects": ["keys", "bucket_name", "batch_size"],
    "delete_object": ["key", "bucket_name", "version_id"],
    "get_presigned_url": ["key", "bucket_name", "method", "expires"],
    "download_file": [
        "key",
        "local_path",
        "bucket_name",
        "config",
        "checkpoint_store",
        "logger",
        "version_id",
    ],
    "upload_file": [
        "filename",
        "key",
        "bucket_name",
        "config",
        "options",
        "replace",
        "checkpoint_store",
        "abort_on_failure",
        "progress_callback",
        "logger",
        "callback",
        "callback_var",
    ],
    "upload_folder": ["folder", "prefix", "bucket_name", "config", "store_for", "logger", "options"],
    "resumable_copy": [
        "source_key",
        "dest_key",
        "source_bucket_name",
        "dest_bucket_name",
        "config",
        "options",
        "checkpoint_store",
        "abort_on_failure",
        "logger",
        "source_version_id",
    ],
    "bucket_exists": ["bucket_name"],
    "create_bucket": ["bucket_name", "region", "acl", "storage_class", "redundancy_type"],
    "delete_bucket": ["bucket_name", "force"],
    "resolve_bucket": ["bucket_name"],
    "get_client_config": ["overrides"],
    "get_client": ["pool_size"],
    "get_conn": [],
    "test_connection": [],
}


def test_every_public_method_keeps_its_parameters() -> None:
    for name, parameters in PUBLIC_METHODS.items():
        signature = inspect.signature(getattr(OssHook, name))
        assert [p for p in signature.parameters if p != "self"] == parameters, name


def test_the_hook_composes_the_mixins_and_keeps_airflows_logger() -> None:
    assert issubclass(OssHook, OssObjectMethods) and issubclass(OssHook, OssTransferMethods)
    assert issubclass(OssHook, OssBucketMethods)
    assert issubclass(OssHook, BaseHook)
    # The mixins' declarations are for the type checker only: nothing shadows the hook's own members.
    for name in ("log", "get_client", "resolve_bucket", "_locate", "oss_conn_id", "_settings", "credentials"):
        for mixin in (OssObjectMethods, OssTransferMethods, OssBucketMethods):
            assert name not in vars(mixin), (mixin, name)
    hook = OssHook("any_conn")
    assert hook.log.name.endswith("OssHook")
    assert (StoreFactory, CopyStoreFactory) == (transfers.StoreFactory, transfers.CopyStoreFactory)
    assert issubclass(OssConnectionConfigError, ValueError)


def test_the_mixins_do_not_import_the_hook_module() -> None:
    for module in (object_methods, transfers, bucket_methods):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "airflow_provider_oss.hooks.oss" not in imported, module.__name__
