"""
Where a download's checkpoint is kept: the upload's own stores (a file, a key-value store such as
``task_state_store``, memory), holding a :class:`DownloadCheckpoint` instead of an upload record.

:class:`DownloadCheckpointStore` wraps one of them. A file store for a download is named with the
``download-`` prefix (:func:`file_store`), so an upload of the same path to the same key, sharing the
checkpoint directory, keeps its own record; a key-value store takes its own key
(:data:`STATE_STORE_KEY`). A record that is not a download record is corrupt to a download.
"""

from __future__ import annotations

import os

from airflow_provider_oss.download.record import DownloadCheckpoint
from airflow_provider_oss.upload.stores import (
    FileCheckpointStore,
    KeyValueCheckpointStore,
    MemoryCheckpointStore,
    load_kv_record,
)

__all__ = ["FILE_PREFIX", "STATE_STORE_KEY", "DownloadCheckpointStore", "file_store"]

#: The ``task_state_store`` key of a download's checkpoint.
STATE_STORE_KEY = "oss_resumable_download"
#: The name prefix of a download's checkpoint file.
FILE_PREFIX = "download-"

Backend = FileCheckpointStore | KeyValueCheckpointStore | MemoryCheckpointStore


def file_store(
    directory: str | os.PathLike[str],
    bucket: str,
    key: str,
    destination: str | os.PathLike[str],
    *,
    hidden: bool = False,
) -> DownloadCheckpointStore:
    """
    A download checkpoint kept as a JSON file in ``directory`` (written atomically by
    :class:`FileCheckpointStore`), named from the bucket, key and absolute destination.

    :param directory: the checkpoint directory (created with mode 0700 when missing).
    :param bucket: the bucket.
    :param key: the object key.
    :param destination: the local destination file.
    :param hidden: name the file with a leading dot (for a record kept in the destination's directory).
    """
    prefix = "." + FILE_PREFIX if hidden else FILE_PREFIX
    return DownloadCheckpointStore(
        FileCheckpointStore(directory, bucket, key, destination, name_prefix=prefix)
    )


class DownloadCheckpointStore:
    """
    A download checkpoint in one of the upload's stores.

    :param backend: a :class:`FileCheckpointStore` (see :func:`file_store` for the right name), a
        :class:`KeyValueCheckpointStore` (use :data:`STATE_STORE_KEY` as its key) or a
        :class:`MemoryCheckpointStore`.
    """

    def __init__(self, backend: Backend) -> None:
        if not isinstance(backend, (FileCheckpointStore, KeyValueCheckpointStore, MemoryCheckpointStore)):
            raise TypeError(
                "DownloadCheckpointStore needs a FileCheckpointStore, KeyValueCheckpointStore or "
                f"MemoryCheckpointStore; got {backend!r}."
            )
        self.backend = backend

    def __repr__(self) -> str:
        return f"DownloadCheckpointStore({self.backend!r})"

    def describe(self) -> str:
        """Where the record lives, for logs (never a secret)."""
        return self.backend.describe()

    def load(self) -> DownloadCheckpoint | None:
        """
        The stored record, or None when there is none.

        :raises CheckpointCorruptError: when a record exists but is not a valid download record.
        """
        backend = self.backend
        if isinstance(backend, FileCheckpointStore):
            text = backend.read_text()
            return None if text is None else DownloadCheckpoint.from_json(text)
        if isinstance(backend, MemoryCheckpointStore):
            text = backend.text
            return None if text is None else DownloadCheckpoint.from_json(text)
        return load_kv_record(
            backend.kv, backend.key, DownloadCheckpoint.from_json, DownloadCheckpoint.from_dict
        )

    def save(self, record: DownloadCheckpoint) -> None:
        """Store ``record`` durably, replacing any earlier one."""
        backend = self.backend
        if isinstance(backend, FileCheckpointStore):
            backend.write_text(record.to_json())
        elif isinstance(backend, MemoryCheckpointStore):
            backend.text = record.to_json()
            backend.saves += 1
        else:
            backend.kv.set(backend.key, record.to_dict(), **backend.set_kwargs)

    def delete(self) -> None:
        """Remove the record; no error when there is none."""
        self.backend.delete()
