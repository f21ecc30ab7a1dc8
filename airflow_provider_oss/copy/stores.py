"""
Where a copy's checkpoint is kept: the same places as an upload's (a file in a shared directory,
a key of Airflow's ``task_state_store``, memory) and discovery (nothing kept; OSS's list of
in-progress uploads of the destination key is asked instead).

The file store writes through :class:`~airflow_provider_oss.upload.stores.FileCheckpointStore`
(atomic, fsynced, never through a link); its file name is derived from the destination and the
source, so a copy and an upload of the same key never share a record.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_oss.copy.adoption import find_own_copy_upload
from airflow_provider_oss.copy.checkpoint import CopyCheckpoint
from airflow_provider_oss.upload.stores import FileCheckpointStore, load_kv_record

if TYPE_CHECKING:
    from airflow_provider_oss.copy.calls import SourceObject
    from airflow_provider_oss.core.client import OssClient
    from airflow_provider_oss.core.models import PartInfo
    from airflow_provider_oss.upload.plan import PartPlan

#: The ``task_state_store`` key a copy's checkpoint is kept under.
COPY_STATE_KEY = "oss_copy"


@runtime_checkable
class CopyCheckpointStore(Protocol):
    """Where the checkpoint of one copy (one source and destination) is kept."""

    #: False for discovery (nothing kept: there is no record to update or delete).
    keeps_record: bool

    def load(self) -> CopyCheckpoint | None:
        """The stored record, or None. :raises CheckpointCorruptError: a record that cannot be trusted."""

    def save(self, checkpoint: CopyCheckpoint) -> None:
        """Store the record durably (replacing any earlier one)."""

    def delete(self) -> None:
        """Remove the record; no error when there is none."""

    def describe(self) -> str:
        """Where the record lives, for logs (never a secret)."""


def source_identity_path(source_bucket: str, source_key: str) -> str:
    """
    A stable absolute pseudo-path naming the source, for the file store's record name (any key,
    even ``../x`` or one with ``//``, maps to one plain name).
    """
    digest = hashlib.sha256(json.dumps([source_bucket, source_key]).encode("utf-8", "surrogatepass"))
    return "/oss-copy-source/" + digest.hexdigest()


class FileCopyCheckpointStore:
    """
    A copy's checkpoint as a JSON file in ``directory`` (shared by every worker that may retry).

    :param directory: the checkpoint directory (created with mode 0700 when missing).
    :param source_bucket: the source bucket.
    :param source_key: the source key.
    :param bucket: the destination bucket.
    :param key: the destination key.
    """

    keeps_record = True

    def __init__(
        self, directory: str | os.PathLike[str], source_bucket: str, source_key: str, bucket: str, key: str
    ) -> None:
        self.file = FileCheckpointStore(
            directory, bucket, key, source_identity_path(source_bucket, source_key), name_prefix="copy-"
        )
        self.path = self.file.path

    def __repr__(self) -> str:
        return f"FileCopyCheckpointStore(path={self.path!r})"

    def describe(self) -> str:
        """The checkpoint file's path."""
        return f"copy checkpoint file {self.path}"

    def load(self) -> CopyCheckpoint | None:
        """Read the record (None when there is no file)."""
        text = self.file.read_text()
        return None if text is None else CopyCheckpoint.from_json(text)

    def save(self, checkpoint: CopyCheckpoint) -> None:
        """Write the record atomically and durably."""
        self.file.write_text(checkpoint.to_json())

    def delete(self) -> None:
        """Remove the file."""
        self.file.delete()


class KeyValueCopyCheckpointStore:
    """
    A copy's checkpoint as a JSON value under one key of a ``get/set/delete`` store such as
    Airflow 3.3's ``task_state_store``.

    :param kv: the store.
    :param key: the key (default :data:`COPY_STATE_KEY`).
    :param set_kwargs: extra keyword arguments of ``kv.set`` (e.g. a retention).
    """

    keeps_record = True

    def __init__(
        self, kv: Any, key: str = COPY_STATE_KEY, *, set_kwargs: dict[str, Any] | None = None
    ) -> None:
        for method in ("get", "set", "delete"):
            if not callable(getattr(kv, method, None)):
                raise TypeError(
                    f"KeyValueCopyCheckpointStore needs get/set/delete; {kv!r} has no {method}()."
                )
        if not key:
            raise ValueError("KeyValueCopyCheckpointStore needs a non-empty key.")
        self.kv = kv
        self.key = key
        self.set_kwargs = dict(set_kwargs or {})

    def describe(self) -> str:
        """The store's type and key."""
        return f"key {self.key!r} of {type(self.kv).__name__}"

    def load(self) -> CopyCheckpoint | None:
        """The value under the key (None when there is none)."""
        return load_kv_record(self.kv, self.key, CopyCheckpoint.from_json, CopyCheckpoint.from_dict)

    def save(self, checkpoint: CopyCheckpoint) -> None:
        """Set the key to the record (a JSON object)."""
        self.kv.set(self.key, checkpoint.to_dict(), **self.set_kwargs)

    def delete(self) -> None:
        """Delete the key."""
        self.kv.delete(self.key)


class MemoryCopyCheckpointStore:
    """A copy's checkpoint kept in memory as JSON text (tests, library users); ``saves`` counts saves."""

    keeps_record = True

    def __init__(self, text: str | None = None) -> None:
        self.text = text
        self.saves = 0

    def describe(self) -> str:
        """Always ``in-memory copy checkpoint``."""
        return "in-memory copy checkpoint"

    def load(self) -> CopyCheckpoint | None:
        """Parse the text (None when empty)."""
        return None if self.text is None else CopyCheckpoint.from_json(self.text)

    def save(self, checkpoint: CopyCheckpoint) -> None:
        """Keep the record's JSON text."""
        self.text = checkpoint.to_json()
        self.saves += 1

    def delete(self) -> None:
        """Forget the record."""
        self.text = None


class CopyDiscoveryStore:
    """
    Keep nothing; a retry asks OSS for the in-progress uploads of the destination key.

    A retry adopts only an upload proven to hold this source's parts
    (:func:`~airflow_provider_oss.copy.adoption.find_own_copy_upload`): a whole one whose parts'
    CRC-64s combine to the source's, or a partial one (a try killed mid-copy) whose parts are all of
    the planned sizes and whose highest part has the CRC-64 a server-side probe copy of that source
    range gets; the copy then copies only the missing parts. Any other upload (another writer's, an
    earlier version of the source) is left alone, never aborted, and the copy starts its own.

    :param client: the OSS client.
    :param bucket: the destination bucket.
    :param key: the destination key.
    :param retry: whether this run is a retry (only a retry adopts).
    """

    keeps_record = False

    def __init__(self, client: OssClient, bucket: str, key: str, *, retry: bool) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.retry = retry

    def describe(self) -> str:
        """Where the "record" comes from."""
        return f"OSS's in-progress uploads of oss://{self.bucket}/{self.key} (ListMultipartUploads)"

    def load(self) -> CopyCheckpoint | None:
        """Always None: the engine asks :meth:`adoptable` once it knows the source and the plan."""
        return None

    def adoptable(
        self, source: SourceObject, plan: PartPlan, *, traffic_limit: int | None = None
    ) -> tuple[str, dict[int, PartInfo]] | None:
        """
        On a retry, the in-progress upload of this key proven to hold this source's parts (with its
        usable parts); None on a first try or when none proves itself. Every other upload is left alone.

        :param source: the source version.
        :param plan: the copy's part plan.
        :param traffic_limit: the bandwidth cap (bit/s) of the proof's probe copy.
        """
        if not self.retry:
            return None
        return find_own_copy_upload(
            self.client, source, self.bucket, self.key, plan, traffic_limit=traffic_limit
        )

    def save(self, checkpoint: CopyCheckpoint) -> None:
        """Nothing to write."""

    def delete(self) -> None:
        """Nothing to delete."""
