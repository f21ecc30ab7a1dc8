"""
The S3Hook-shaped object methods of :class:`~airflow_provider_oss.hooks.oss.OssHook` (existence,
metadata, small reads and writes, listings, single copy, deletes, presigned URLs), as a mixin.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_oss.core.bulk_delete import MAX_DELETE_BATCH, delete_in_batches
from airflow_provider_oss.core.errors import OssClientError, OssPreconditionError
from airflow_provider_oss.core.keymatch import compile_glob, literal_prefix, split_key
from airflow_provider_oss.core.models import (
    CopyResult,
    ObjectInfo,
    ObjectOptions,
    ObjectSummary,
    PutObjectResult,
)
from airflow_provider_oss.hooks.lineage import record_input, record_output
from airflow_provider_oss.hooks.requirements import OssHookRequirements


class OssObjectMethods(OssHookRequirements):
    """Object methods in the spirit of S3Hook; mixed into :class:`~airflow_provider_oss.hooks.oss.OssHook`."""

    # Convenience methods, in the spirit of S3Hook.

    def check_for_key(self, key: str, bucket_name: str | None = None) -> bool:
        """
        Return True if the object exists, False if OSS answers 404.

        Any other error (wrong credentials, access denied, network) is raised, never hidden as "missing".
        """
        return self.get_client().object_exists(self.resolve_bucket(bucket_name), key)

    def head_object(
        self, key: str, bucket_name: str | None = None, *, version_id: str | None = None
    ) -> ObjectInfo:
        """
        Return the object's size, ETag, CRC-64, type and metadata.

        :param version_id: of this version of the object (a bucket with versioning); None: the current one.
        """
        return self.get_client().head_object(self.resolve_bucket(bucket_name), key, version_id=version_id)

    # -- S3Hook-shaped object methods ------------------------------------------------------------
    # Every ``key`` may also be a full ``oss://bucket/key`` URL (its bucket must then agree with
    # ``bucket_name`` when both are given). Differences from S3Hook: ``bucket_name`` always comes
    # after the key (``delete_objects(keys, bucket_name)``, not ``(bucket, keys)``); ``replace``
    # defaults to True (this provider's earlier behaviour) and, when False, is atomic in OSS
    # (``x-oss-forbid-overwrite``) instead of a check-then-write; ``match_glob`` is path-aware
    # (``*`` stays within a segment, ``**`` crosses ``/``); listing methods return lists. The full
    # table is in docs/OBJECTS_AND_SENSORS.md.

    def get_key(self, key: str, bucket_name: str | None = None) -> ObjectInfo:
        """
        Return the object's metadata (size, ETag, CRC-64, last modified, content type, user metadata).

        :raises OssNotFoundError: when the object does not exist (S3Hook's ``get_key`` raises too).
        """
        bucket, plain = self._locate(key, bucket_name)
        return self.get_client().head_object(bucket, plain)

    def load_bytes(
        self,
        data: bytes,
        key: str,
        bucket_name: str | None = None,
        *,
        replace: bool = True,
        options: ObjectOptions | None = None,
    ) -> PutObjectResult:
        """
        Upload ``data`` as one object (CRC-64 checked).

        :param replace: overwrite an existing object; when False the write fails, atomically, if the
            key exists (S3Hook's default is False; ours stays True for existing DAGs).
        :param options: content type, user metadata, storage class...
        :raises OssClientError: when ``replace`` is False and the key exists.
        """
        bucket, plain = self._locate(key, bucket_name)
        try:
            result = self.get_client().put_object(
                bucket, plain, data, options=options, forbid_overwrite=not replace
            )
        except OssPreconditionError as err:
            if err.code != "FileAlreadyExists":
                raise
            raise OssClientError(
                f"oss://{bucket}/{plain} already exists and replace=False: pass replace=True to overwrite it."
            ) from None
        record_output(self, bucket, plain)
        return result

    def load_string(
        self,
        text: str,
        key: str,
        bucket_name: str | None = None,
        *,
        replace: bool = True,
        encoding: str = "utf-8",
        options: ObjectOptions | None = None,
    ) -> PutObjectResult:
        """Upload ``text`` encoded with ``encoding`` as one object (see :meth:`load_bytes`)."""
        return self.load_bytes(text.encode(encoding), key, bucket_name, replace=replace, options=options)

    def read_bytes(self, key: str, bucket_name: str | None = None, *, version_id: str | None = None) -> bytes:
        """
        Download a whole object into memory, CRC-64 checked (for small objects).

        :param version_id: this version of the object (a bucket with versioning); None: the current one.
        :raises OssNotFoundError: ``NoSuchVersion`` for a version the object does not have.
        """
        bucket, plain = self._locate(key, bucket_name)
        data = self.get_client().get_object(bucket, plain, version_id=version_id)
        record_input(self, bucket, plain)
        return data

    def read_key(self, key: str, bucket_name: str | None = None, *, encoding: str = "utf-8") -> str:
        """
        Download a whole object and decode it as text, like S3Hook's ``read_key``.

        :raises UnicodeDecodeError: when the object is not ``encoding`` text (use :meth:`read_bytes`).
        """
        return self.read_bytes(key, bucket_name).decode(encoding)

    def list_objects(
        self,
        prefix: str = "",
        bucket_name: str | None = None,
        *,
        delimiter: str = "",
        start_after: str = "",
        match_glob: str | None = None,
    ) -> list[ObjectSummary]:
        """
        List the objects under ``prefix`` (all pages), in key order, with size, ETag and time.

        :param prefix: only keys starting with this; may be an ``oss://bucket/prefix`` URL.
        :param delimiter: with ``/``, only the objects directly under ``prefix`` (no "subfolders").
        :param start_after: only keys after this one.
        :param match_glob: only keys matching this path-aware glob (e.g. ``data/**/*.csv``); the
            listing starts at the glob's literal prefix when ``prefix`` is empty.
        """
        bucket, plain = self._locate(prefix, bucket_name)
        if match_glob is not None:
            regex = compile_glob(match_glob)
            plain = plain or literal_prefix(match_glob)
        listing = self.get_client().list_objects_v2(
            bucket, prefix=plain, delimiter=delimiter, start_after=start_after
        )
        if match_glob is None:
            return list(listing)
        return [summary for summary in listing if regex.match(summary.key)]

    def list_keys(
        self,
        prefix: str = "",
        bucket_name: str | None = None,
        *,
        delimiter: str = "",
        start_after: str = "",
        match_glob: str | None = None,
    ) -> list[str]:
        """Return the keys :meth:`list_objects` lists (a list, as S3Hook's ``list_keys``)."""
        objects = self.list_objects(
            prefix, bucket_name, delimiter=delimiter, start_after=start_after, match_glob=match_glob
        )
        return [summary.key for summary in objects]

    def list_prefixes(
        self, prefix: str = "", bucket_name: str | None = None, *, delimiter: str = "/"
    ) -> list[str]:
        """Return the "folders" directly under ``prefix``: the common prefixes up to ``delimiter``."""
        bucket, plain = self._locate(prefix, bucket_name)
        return list(self.get_client().list_common_prefixes(bucket, prefix=plain, delimiter=delimiter))

    def check_for_prefix(self, prefix: str, bucket_name: str | None = None, *, delimiter: str = "/") -> bool:
        """
        Return True when at least one object lies under the "folder" ``prefix``.

        ``prefix`` is completed with ``delimiter`` (``data`` checks ``data/``), as in S3Hook.
        """
        bucket, plain = self._locate(prefix, bucket_name)
        if delimiter and plain and not plain.endswith(delimiter):
            plain += delimiter
        listing = self.get_client().list_objects_v2(bucket, prefix=plain, page_size=1)
        return next(iter(listing), None) is not None

    def copy_object(
        self,
        source_key: str,
        dest_key: str,
        source_bucket_name: str | None = None,
        dest_bucket_name: str | None = None,
        *,
        options: ObjectOptions | None = None,
        source_version_id: str | None = None,
    ) -> CopyResult:
        """
        Copy an object server-side (CopyObject: no bytes pass through the worker; up to 1 GB).

        :param source_key: the source key or ``oss://bucket/key`` URL.
        :param dest_key: the destination key or URL.
        :param source_bucket_name: defaults to the hook's default bucket.
        :param dest_bucket_name: defaults to the source bucket.
        :param options: new properties for the copy; None keeps the source's metadata.
        :param source_version_id: copy this version of the source (a bucket with versioning); None:
            its current version.
        """
        src_bucket, src_key = self._locate(source_key, source_bucket_name)
        dst_bucket_arg, dst_key = split_key(dest_key, dest_bucket_name)
        dst_bucket = dst_bucket_arg or src_bucket
        result = self.get_client().copy_object(
            src_bucket, src_key, dst_bucket, dst_key, options=options, source_version_id=source_version_id
        )
        record_input(self, src_bucket, src_key)
        record_output(self, dst_bucket, dst_key)
        return result

    def delete_objects(
        self, keys: str | Iterable[str], bucket_name: str | None = None, *, batch_size: int = MAX_DELETE_BATCH
    ) -> list[str]:
        """
        Delete keys with DeleteMultipleObjects, ``batch_size`` (at most 1,000) per request.

        A missing key counts as deleted (OSS semantics). Any key OSS does not confirm is reported.

        :param keys: a key or an iterable of keys (consumed lazily, so a listing can be passed).
        :return: the deleted keys.
        :raises OssDeleteError: naming every key OSS did not delete (after all batches ran).
        """
        bucket = self.resolve_bucket(bucket_name)
        client = self.get_client()
        key_list: Iterable[str] = [keys] if isinstance(keys, str) else keys
        return delete_in_batches(
            bucket,
            key_list,
            lambda batch: client.delete_multiple_objects(bucket, batch),
            batch_size=batch_size,
        )

    def delete_object(
        self, key: str, bucket_name: str | None = None, *, version_id: str | None = None
    ) -> None:
        """
        Delete an object (OSS answers success for a missing key too). In a bucket with versioning,
        OSS then keeps its versions and adds a delete marker; ``version_id`` deletes that version
        (or delete marker) for good instead.
        """
        self.get_client().delete_object(self.resolve_bucket(bucket_name), key, version_id=version_id)

    def get_presigned_url(
        self, key: str, bucket_name: str | None = None, *, method: str = "GET", expires: int = 3600
    ) -> str:
        """
        Return a presigned URL (V4 by default) valid for ``expires`` seconds (at most 7 days).

        The URL carries a signature: treat it as a secret and never log it.
        """
        return self.get_client().presign_url(method, self.resolve_bucket(bucket_name), key, expires=expires)
