"""
The files of the local server's root directory, and the rule that the server removes only what it
wrote: claiming a root (a marker file; a non-empty directory that is not a server root is
refused), the scratch folder, removing a bucket's or an upload's own files by name, the
crash-safe completion journal of multipart uploads and collecting object files no record names.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any

#: The file that marks a directory as a local server root.
MARKER = "oss-local-server.json"
#: The scratch folder (request bodies being received, JSON being written).
SCRATCH = ".oss-local-scratch"
#: The journal of a multipart completion in progress, in the upload's folder.
COMPLETION = "complete.json"

_LEGACY_ENTRIES = {"buckets", "tmp"}  # a root written before the marker existed
_TOKEN_RE = re.compile(r"^[0-9a-f]{16}$")
_OBJECT_FILE_RE = re.compile(r"^[0-9a-f]{40}\.[0-9a-f]{16}\.(data|parts)$")
_UPLOAD_FILE_RE = re.compile(r"^(upload\.json|complete\.json|part-\d+\.json|part-\d+\.[0-9a-f]{16}\.data)$")
_PART_SEGMENT_RE = re.compile(r"^part-\d+\.data$")


class RootDirectoryError(ValueError):
    """A ``--data-dir`` / ``root_dir`` the server will not use."""


def claim_root(root: str) -> None:
    """
    Make ``root`` a server root: a missing or empty directory is created and marked; a marked one
    (or one laid out by an older server: only ``buckets/`` and ``tmp/``) is used as it is.

    :raises RootDirectoryError: for a non-empty directory that is not a server root, or a file.
    """
    if os.path.exists(root) and not os.path.isdir(root):
        raise RootDirectoryError(f"The data directory {root!r} is a file, not a directory.")
    os.makedirs(root, exist_ok=True)
    entries = set(os.listdir(root))
    marked = MARKER in entries
    legacy = "buckets" in entries and entries <= _LEGACY_ENTRIES | {SCRATCH}
    if entries and not marked and not legacy:
        shown = ", ".join(sorted(entries)[:5])
        raise RootDirectoryError(
            f"The data directory {root!r} is not empty and is not a local OSS server root (it has no "
            f"{MARKER}; it holds {shown}...). Give an empty or new directory, or one this server wrote; "
            "the server never writes into, or deletes from, a directory it does not own."
        )
    if not marked:
        with open(os.path.join(root, MARKER), "w", encoding="utf-8") as f:
            json.dump({"format": 1, "written_by": "airflow_provider_oss.testing"}, f)


def clean_scratch(folder: str) -> None:
    """Remove the scratch files a previous run left (only names the server gives them)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if _TOKEN_RE.match(name):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(os.path.join(folder, name))


def remove_own_files(folder: str, pattern: re.Pattern[str]) -> None:
    """Remove the files in ``folder`` whose names match ``pattern``, then the folder if it is empty."""
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(folder):
            if pattern.match(name):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.unlink(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def remove_upload_folder(folder: str) -> None:
    """Remove an upload's own files (its record first, so a crash leaves no half upload) and its folder."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(folder, "upload.json"))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(folder, COMPLETION))
    remove_own_files(folder, _UPLOAD_FILE_RE)


def remove_bucket_folder(folder: str) -> None:
    """Remove an empty bucket's own files and folders; anything else stays (and so does the folder)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(folder, "bucket.json"))
    objects = os.path.join(folder, "objects")
    for sub in os.listdir(objects) if os.path.isdir(objects) else []:
        if re.fullmatch(r"[0-9a-f]{2}", sub):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(objects, sub))
    uploads = os.path.join(folder, "uploads")
    for upload_id in os.listdir(uploads) if os.path.isdir(uploads) else []:
        if re.fullmatch(r"[0-9A-F]{32}", upload_id):
            remove_upload_folder(os.path.join(uploads, upload_id))
    for sub in (objects, uploads, folder):
        with contextlib.suppress(OSError):
            os.rmdir(sub)


def apply_completion(root: str, journal: dict[str, Any], write_json: Any) -> None:
    """
    Carry out a completion journal (again): move each part file that is still in the upload into
    the object's folder, then write the object record. Every step may be repeated after a crash.

    :param root: the server root (journal paths are relative to it).
    :param journal: ``{"moves": [[from, to], ...], "record_path": ..., "record": {...}}``.
    :param write_json: the store's atomic JSON writer ``(path, dict)``.
    """
    for source, target in journal["moves"]:
        source_path, target_path = os.path.join(root, source), os.path.join(root, target)
        os.makedirs(os.path.dirname(target_path), exist_ok=True)
        if os.path.exists(source_path):
            os.replace(source_path, target_path)
        elif not os.path.exists(target_path):
            raise FileNotFoundError(f"A completed upload lost its part file {source_path}.")
    write_json(os.path.join(root, journal["record_path"]), journal["record"])


def collect_unreferenced_object_files(folder: str, referenced: set[str]) -> None:
    """
    Remove the object data files and part folders in ``folder`` that no record names (versions
    replaced just before a crash); only names the server gives them.
    """
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if not _OBJECT_FILE_RE.match(name) or path in referenced:
            continue
        if name.endswith(".parts"):
            if any(p.startswith(path + os.sep) for p in referenced):
                continue
            remove_own_files(path, _PART_SEGMENT_RE)
        else:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(path)
