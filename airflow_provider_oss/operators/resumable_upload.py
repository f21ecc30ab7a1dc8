"""``ResumableUploadOperator``: a parallel multipart upload that a retried task instance continues."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_oss.core.callback import UploadCallback
from airflow_provider_oss.core.errors import CallbackFailedError
from airflow_provider_oss.core.models import ObjectOptions
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.operators.checkpointing import choose_checkpoint_store
from airflow_provider_oss.operators.openlineage import local_file_dataset, operator_lineage, oss_dataset
from airflow_provider_oss.operators.transfer_base import OssTransferOperator
from airflow_provider_oss.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.operators.openlineage import Lineage
    from airflow_provider_oss.upload.stores import CheckpointStore


class ResumableUploadOperator(OssTransferOperator):
    """
    Upload a local file to OSS in parallel parts; a retry continues the same multipart upload.

    The checkpoint (upload ID, part size, a fingerprint of the source; never credentials) is kept
    in Airflow's metadata database through ``task_state_store`` (Airflow 3.3+) or in a file under
    ``checkpoint_dir`` on a volume that every worker shares. A retried try reads it, asks OSS which
    parts exist (ListParts; the server is the truth), reuses each part whose size and CRC-64 match the
    local bytes, sends the rest and completes. Airflow deletes a task's XComs at the start of every
    try, so XCom cannot carry this state and is not used for it.

    :param filename: the local file to upload (templated).
    :param bucket: the destination bucket (templated); defaults to the connection's ``bucket`` extra.
    :param key: the destination object key (templated).
    :param oss_conn_id: the OSS connection (type ``oss_resumable``, or the official provider's ``oss``).
    :param part_size: bytes per part (100 KiB to 5 GiB, default 8 MiB); grown automatically so the
        file fits in 10,000 parts.
    :param parallelism: parts uploaded at once (1 to 64, default 4). Memory use is about
        ``parallelism * part_size``.
    :param checkpoint: ``"auto"`` (task_state_store when Airflow provides it, else a file under
        ``checkpoint_dir`` when one is given, else ``"discover"``), ``"state_store"``, ``"file"``, or
        ``"discover"``: keep nothing and find the upload to continue by asking OSS
        (ListMultipartUploads + ListParts), for Airflow 3.0-3.2 without a shared volume.
    :param checkpoint_dir: directory for file checkpoints, on a volume shared by the workers (templated).
    :param multipart_threshold: files smaller than this go up in one PutObject (default: ``part_size``;
        at most 5 GiB, the largest PutObject).
    :param content_type: the object's Content-Type.
    :param metadata: user metadata, sent as ``x-oss-meta-*`` headers.
    :param storage_class: ``Standard``, ``IA``, ``Archive``, ``ColdArchive`` or ``DeepColdArchive``.
    :param acl: the object ACL: ``default``, ``private``, ``public-read`` or ``public-read-write``.
    :param server_side_encryption: ``AES256``, ``KMS`` or ``SM4``.
    :param sse_kms_key_id: the KMS key id when ``server_side_encryption="KMS"``.
    :param cache_control: the object's Cache-Control.
    :param content_disposition: the object's Content-Disposition.
    :param content_encoding: the object's Content-Encoding.
    :param traffic_limit: per-request bandwidth cap in bit/s (``x-oss-traffic-limit``), 819200
        (100 KB/s) to 838860800 (100 MB/s).
    :param replace: when False, fail before uploading if the key already exists; an object that
        someone else writes during the upload is never replaced either (OSS enforces it atomically
        at completion with ``x-oss-forbid-overwrite``).
    :param abort_on_final_failure: when True, the last failed try aborts the multipart upload so its
        parts stop costing storage. Default False: the parts are kept (so a manual re-run can still
        resume) and the log says how to abort them or which lifecycle rule removes them.
    :param verify_reused_parts: when True, a retry reads and CRC-checks every part an earlier try
        stored. By default it reuses, unread, a part whose CRC-64 in OSS equals the one the checkpoint
        confirmed when it was sent (the file's size, modification time and sampled bytes having
        matched), so resuming a 1 TB upload at 90% does not re-read 900 GB. Set it for files that
        something may rewrite in place while keeping their size and modification time.
    :param callback: OSS's upload callback (templated): a dict with ``callbackUrl`` and
        ``callbackBody`` (variables such as ``${bucket}``, ``${object}``, ``${etag}``, ``${size}``,
        ``${mimeType}``, ``${crc64}``, ``${x:name}``), optionally ``callbackHost``,
        ``callbackBodyType`` (``application/x-www-form-urlencoded`` or ``application/json``) and
        ``callbackSNI``. OSS POSTs it once the object is stored; the callback server's answer is the
        result's ``callback_response`` (XCom). A retry that finds the object already complete sends
        nothing and so never fires the callback twice. When OSS answers 203 ``CallbackFailed`` (the
        object IS stored, the callback failed) the task fails without retrying, since no retry could
        fire the callback again.
    :param callback_var: the callback's custom variables (templated), ``{"x:name": "value"}``:
        names start with ``x:`` and are lower case.

    Every argument is checked when the DAG is parsed; the templated ones again after rendering.
    """

    template_fields: Sequence[str] = (
        "filename",
        "bucket",
        "key",
        "checkpoint_dir",
        "metadata",
        "callback",
        "callback_var",
    )

    def __init__(
        self,
        *,
        filename: str,
        key: str,
        bucket: str | None = None,
        part_size: int = 8 * 1024 * 1024,
        parallelism: int = 4,
        multipart_threshold: int | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        acl: str | None = None,
        server_side_encryption: str | None = None,
        sse_kms_key_id: str | None = None,
        cache_control: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        traffic_limit: int | None = None,
        replace: bool = True,
        abort_on_final_failure: bool = False,
        verify_reused_parts: bool = False,
        callback: dict[str, Any] | str | None = None,
        callback_var: dict[str, str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filename = filename
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.metadata = metadata
        self.storage_class = storage_class
        self.acl = acl
        self.server_side_encryption = server_side_encryption
        self.sse_kms_key_id = sse_kms_key_id
        self.cache_control = cache_control
        self.content_disposition = content_disposition
        self.content_encoding = content_encoding
        self.replace = replace
        self.abort_on_final_failure = abort_on_final_failure
        self.callback = callback
        self.callback_var = callback_var
        # Not templated: built and checked once, when the DAG is parsed.
        self.transfer_config = self._transfer_config(
            part_size=part_size,
            parallelism=parallelism,
            multipart_threshold=multipart_threshold,
            traffic_limit=traffic_limit,
            verify_reused_parts=verify_reused_parts,
        )
        self._check_arguments(rendered=False)

    def _check_arguments(self, *, rendered: bool) -> None:
        """
        Check the arguments a user can get wrong, at DAG parse time and again after rendering (the
        templated ``filename``, ``bucket``, ``key``, ``checkpoint_dir`` and ``metadata``).

        :param rendered: True in ``execute``: templates have been rendered, so empty values are final.
        """

        def check() -> None:
            self._require_text(
                rendered, {"filename": "local file to upload", "key": "destination object key"}
            )
            self._require_optional_text("bucket")
            self._check_checkpoint()
            if rendered or isinstance(self.metadata, (dict, type(None))):
                self.object_options()
            else:  # a template of the whole dict: its keys are checked after rendering
                self.object_options(with_metadata=False)
            if rendered or not _has_template(self.callback, self.callback_var):
                self.upload_callback()

        self._checked(check)

    def object_options(self, *, with_metadata: bool = True) -> ObjectOptions:
        """
        The object headers (type, metadata, storage class, ACL, encryption) as an :class:`ObjectOptions`.

        :param with_metadata: False to leave out ``metadata`` (a template not rendered yet).
        """
        return ObjectOptions(
            content_type=self.content_type,
            metadata=self._metadata(self.metadata, with_metadata=with_metadata),
            storage_class=self.storage_class,
            acl=self.acl,
            server_side_encryption=self.server_side_encryption,
            sse_kms_key_id=self.sse_kms_key_id,
            cache_control=self.cache_control,
            content_disposition=self.content_disposition,
            content_encoding=self.content_encoding,
        )

    def upload_callback(self) -> UploadCallback | None:
        """The rendered ``callback`` and ``callback_var`` as an :class:`UploadCallback` (None: none)."""
        return UploadCallback.parse(self.callback, self.callback_var)

    def checkpoint_store(self, context: Context, bucket: str, client: OssClient) -> CheckpointStore:
        """Pick the checkpoint store for this try from ``checkpoint`` and what Airflow offers."""
        return choose_checkpoint_store(
            cast("dict[str, Any]", context),
            mode=self.checkpoint,
            checkpoint_dir=self.checkpoint_dir,
            client=client,
            bucket=bucket,
            key=self.key,
            filename=self.filename,
            part_size=self.transfer_config.part_size,
            logger=cast("logging.Logger", self.log),
        )

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_arguments(rendered=True)
        ti = context.get("ti")
        final_try = self._is_final_try(context)
        self.log.info("Try %s of the upload of %s.", getattr(ti, "try_number", "?"), self.filename)
        try:
            result = self._upload(context, final_try)
        except CallbackFailedError as err:
            # A retry would find the object complete and send nothing: the callback cannot be fired
            # again by retrying, so fail now rather than let a retry "succeed" without it.
            raise AirflowFailException(
                f"{err} (not retried: a retry would not fire the callback again)"
            ) from err
        self._lineage_result = result
        return result

    def get_openlineage_facets_on_start(self) -> Lineage:
        """OpenLineage: the local file in, ``oss://bucket`` / key out (the bucket: argument or connection)."""
        bucket = self.bucket or OssHook(self.oss_conn_id).default_bucket or ""
        return operator_lineage([local_file_dataset(self.filename)], [oss_dataset(bucket, self.key)])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """OpenLineage: as on start, with the bucket the upload used and the object's size."""
        result = self._lineage_result
        if result is None:
            return self.get_openlineage_facets_on_start()
        output = oss_dataset(result["bucket"], result["key"], size=result["size"])
        return operator_lineage([local_file_dataset(self.filename)], [output])

    def _upload(self, context: Context, final_try: bool) -> dict[str, Any]:
        """Run the upload through the hook; its result as a JSON-ready dict (the XCom)."""
        return (
            OssHook(self.oss_conn_id)
            .upload_file(
                self.filename,
                self.key,
                self.bucket,
                config=self.transfer_config,
                options=self.object_options(),
                replace=self.replace,
                checkpoint_store=lambda client, bucket: self.checkpoint_store(context, bucket, client),
                abort_on_failure=self.abort_on_final_failure and final_try,
                logger=cast("logging.Logger", self.log),
                callback=self.upload_callback(),
            )
            .to_dict()
        )


def _has_template(*values: Any) -> bool:
    """Whether a value (or a dict's values) holds a Jinja template or an XComArg, known only at run time."""
    for value in values:
        if isinstance(value, dict):
            if _has_template(*value.values()):
                return True
        elif isinstance(value, str):
            if "{{" in value or "{%" in value:
                return True
        elif hasattr(value, "resolve"):  # an XComArg
            return True
    return False
