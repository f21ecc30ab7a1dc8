"""
Where a checkpoint is kept: the :class:`CheckpointStore` protocol and its stores.

:class:`FileCheckpointStore` (a JSON file written atomically, for a directory every worker shares),
:class:`KeyValueCheckpointStore` (any ``get/set/delete`` JSON store, such as Airflow 3.3's
``task_state_store``) and :class:`MemoryCheckpointStore` (tests, library users). The discovery
store, which keeps nothing, is :class:`~airflow_provider_oss.upload.discovery.UploadDiscoveryStore`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar, runtime_checkable

from airflow_provider_oss.upload.checkpoint import MAX_RECORD_BYTES, Checkpoint
from airflow_provider_oss.upload.errors import CheckpointCorruptError

__all__ = [
    "CheckpointStore",
    "FileCheckpointStore",
    "KeyValueCheckpointStore",
    "MemoryCheckpointStore",
]

#: Temp files of a killed writer older than this are removed by the next save.
STALE_TEMP_SECONDS = 3600


@runtime_checkable
class CheckpointStore(Protocol):
    """
    Where the checkpoint of one upload (one bucket, key and source) is kept.
    """

    #: False for a store that keeps nothing (its ``load`` derives the checkpoint from OSS itself):
    #: there is then no record to update with confirmed parts, re-read or delete.
    keeps_record: bool

    def load(self) -> Checkpoint | None:
        """
        Return the stored checkpoint, or None when there is none.

        :raises CheckpointCorruptError: when a record exists but cannot be trusted.
        """

    def save(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` (replacing any earlier one) durably before returning."""

    def delete(self) -> None:
        """Remove the checkpoint; no error when there is none."""

    def describe(self) -> str:
        """Where the checkpoint lives, for logs (never a secret)."""


#: The record a key-value store holds: an upload, download or copy checkpoint.
Record = TypeVar("Record")


def load_kv_record(
    kv: Any, key: str, from_json: Callable[[str | bytes], Record], from_dict: Callable[[Any], Record]
) -> Record | None:
    """
    Read a record stored under ``key`` of a key-value store (``task_state_store``): a JSON object,
    or a JSON document as text. The one reader of the upload's, download's and copy's records there.

    :param kv: the store (``get(key, default)``).
    :param key: the record's key.
    :param from_json: parses a JSON document strictly.
    :param from_dict: parses a decoded object strictly.
    :return: the record, or None when the key holds nothing.
    :raises CheckpointCorruptError: a value larger than any checkpoint, or an invalid record.
    """
    value = kv.get(key, None)
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_RECORD_BYTES:
            raise CheckpointCorruptError(f"the value under {key!r} is larger than any checkpoint")
        return from_json(value)
    return from_dict(value)


def _fsync_dir(directory: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return  # some platforms cannot open a directory; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileCheckpointStore:
    """
    A checkpoint kept as a JSON file in ``directory`` (which every worker that may retry the task
    must see, e.g. a shared volume).

    The file name is the SHA-256 of (bucket, key, absolute source path), so any key, even
    ``../../etc/passwd``, maps to a plain name inside the directory. Writes are atomic: a temp file
    (unique name, created with ``O_EXCL`` and mode 0600) is written, fsynced and renamed over the
    record, then the directory is fsynced; a reader sees the old record or the new one, never a
    mix. Two processes saving at once each rename a complete record, and the last one wins.

    :param directory: the checkpoint directory (with or without a trailing slash; ``~`` expanded);
        created with mode 0700 when missing.
    :param bucket: the destination bucket.
    :param key: the destination object key.
    :param source_path: the source file.
    :param name_prefix: prepended to the file name, so that another kind of transfer (a download
        of the same key to the same path) keeps its own record in the same directory.
    """

    keeps_record = True

    def __init__(
        self,
        directory: str | os.PathLike[str],
        bucket: str,
        key: str,
        source_path: str | os.PathLike[str],
        *,
        name_prefix: str = "",
    ) -> None:
        if not os.fspath(directory):
            raise ValueError("FileCheckpointStore needs a directory; got an empty path.")
        self.directory = os.path.abspath(os.path.expanduser(os.fspath(directory)))
        self.bucket = bucket
        self.key = key
        self.source_path = os.path.abspath(os.fspath(source_path))
        identity = json.dumps([bucket, key, self.source_path], ensure_ascii=False)
        digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
        self.name = f"{name_prefix}{digest}.json"
        self.path = os.path.join(self.directory, self.name)

    def __repr__(self) -> str:
        return f"FileCheckpointStore(path={self.path!r})"

    def describe(self) -> str:
        """The checkpoint file's path."""
        return f"checkpoint file {self.path}"

    def load(self) -> Checkpoint | None:
        """Read the checkpoint file (None when there is none)."""
        text = self.read_text()
        return None if text is None else Checkpoint.from_json(text)

    def read_text(self) -> str | None:
        """
        The checkpoint file's text, whatever record it holds (None when there is none).

        :raises CheckpointCorruptError: a symbolic link, an unreadable, oversized or non-UTF-8 file.
        """
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return None
        except OSError as err:
            if os.path.islink(self.path):
                raise CheckpointCorruptError(
                    f"{self.path} is a symbolic link, not a checkpoint file"
                ) from None
            raise OSError(
                err.errno,
                f"Cannot read the checkpoint file {self.path}: {err.strerror}; check the checkpoint directory "
                "and its permissions",
            ) from None
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_RECORD_BYTES + 1)
        except OSError as err:
            raise CheckpointCorruptError(f"cannot read {self.path}: {err.strerror or err}") from None
        if len(data) > MAX_RECORD_BYTES:
            raise CheckpointCorruptError(
                f"{self.path} is larger than any checkpoint ({MAX_RECORD_BYTES} bytes)"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointCorruptError(f"{self.path} is not UTF-8 text") from None

    def save(self, checkpoint: Checkpoint) -> None:
        """Write the checkpoint atomically and durably (temp file, fsync, rename, fsync of the directory)."""
        self.write_text(checkpoint.to_json())

    def write_text(self, text: str) -> None:
        """Write ``text`` as the record, atomically and durably (temp file, fsync, rename, fsync of the directory)."""
        payload = text.encode("utf-8")
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._remove_stale_temps()
        temp = os.path.join(self.directory, f".{self.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
        fd = os.open(temp, flags, 0o600)
        try:
            try:
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_dir(self.directory)

    def delete(self) -> None:
        """Remove the checkpoint file (and fsync the directory)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        _fsync_dir(self.directory)

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for temp in glob.glob(os.path.join(glob.escape(self.directory), f".{self.name}.*.tmp")):
            with contextlib.suppress(OSError):
                if os.lstat(temp).st_mtime < cutoff:
                    os.unlink(temp)


class KeyValueCheckpointStore:
    """
    A checkpoint kept as a JSON value under one key of a key-value store with
    ``get(key, default=None)``, ``set(key, value, **set_kwargs)`` and ``delete(key)``, such as
    Airflow 3.3's ``context["task_state_store"]`` (kept per DAG run, task and map index across tries).

    :param kv: the store.
    :param key: the key to keep the checkpoint under.
    :param set_kwargs: extra keyword arguments for ``kv.set`` (e.g. ``{"retention": NEVER_EXPIRE}``).
    :param description: how :meth:`describe` names the store (default: the store's type and key).
    """

    keeps_record = True

    def __init__(
        self,
        kv: Any,
        key: str = "oss_resumable_upload",
        *,
        set_kwargs: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> None:
        for method in ("get", "set", "delete"):
            if not callable(getattr(kv, method, None)):
                raise TypeError(
                    f"KeyValueCheckpointStore needs a store with get/set/delete; {kv!r} has no {method}()."
                )
        if not key:
            raise ValueError("KeyValueCheckpointStore needs a non-empty key.")
        self.kv = kv
        self.key = key
        self.set_kwargs = dict(set_kwargs or {})
        self._description = description

    def __repr__(self) -> str:
        return f"KeyValueCheckpointStore(kv={type(self.kv).__name__}, key={self.key!r})"

    def describe(self) -> str:
        """The store's type and key."""
        return self._description or f"key {self.key!r} of {type(self.kv).__name__}"

    def load(self) -> Checkpoint | None:
        """Read the value under the key (None when there is none)."""
        return load_kv_record(self.kv, self.key, Checkpoint.from_json, Checkpoint.from_dict)

    def save(self, checkpoint: Checkpoint) -> None:
        """
        Set the key to the checkpoint (a JSON object). A record marked completed is kept only for
        the mark's retention when the store takes one (``task_state_store``'s ``retention``).
        """
        kwargs = dict(self.set_kwargs)
        if checkpoint.completed is not None and "retention" in kwargs:
            until = datetime.fromisoformat(checkpoint.completed.until)
            kwargs["retention"] = max(until - datetime.now(timezone.utc), timedelta(seconds=1))
        self.kv.set(self.key, checkpoint.to_dict(), **kwargs)

    def delete(self) -> None:
        """Delete the key."""
        self.kv.delete(self.key)


class MemoryCheckpointStore:
    """
    A checkpoint kept in memory as its JSON text (for tests and for library users whose process
    lives on); thread-safe. ``saves`` counts :meth:`save` calls.
    """

    keeps_record = True

    def __init__(self, text: str | None = None) -> None:
        self._lock = threading.Lock()
        self._text = text
        self.saves = 0

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore(has_checkpoint={self._text is not None})"

    def describe(self) -> str:
        """Always ``in-memory checkpoint``."""
        return "in-memory checkpoint"

    @property
    def text(self) -> str | None:
        """The stored JSON text (None when empty); tests may set it to anything."""
        with self._lock:
            return self._text

    @text.setter
    def text(self, value: str | None) -> None:
        with self._lock:
            self._text = value

    def load(self) -> Checkpoint | None:
        """Parse the stored text (None when empty)."""
        text = self.text
        return None if text is None else Checkpoint.from_json(text)

    def save(self, checkpoint: Checkpoint) -> None:
        """Keep the checkpoint's JSON text."""
        text = checkpoint.to_json()
        with self._lock:
            self._text = text
            self.saves += 1

    def delete(self) -> None:
        """Forget the checkpoint."""
        self.text = None
