"""
Checks of the JSON records the local server reads back from its data directory when it starts.

A record names files; a record the server did not write (planted, or damaged) could name any file
of the host, which the server would then serve and, on a delete, remove. So every record is checked
when it is read: each field has its type, each file it names has the name the server gives such a
file, lies where the server puts it, and resolves (symbolic links followed) inside the data
directory. A record that fails is skipped (and logged), never half used.
"""

from __future__ import annotations

import os
import re
from typing import Any

from airflow_provider_oss.testing.objectdata import Segment
from airflow_provider_oss.testing.records import (
    NULL_VERSION,
    VERSION_ID_RE,
    ObjectRecord,
    PartRecord,
    key_hash,
)

_HEX16 = r"[0-9a-f]{16}"
#: A segment of an object, relative to its ``objects/<xx>`` folder: one data file, or a part of a
#: completed multipart upload in the version's ``.parts`` folder.
_SEGMENT_RE = re.compile(
    rf"^(?P<stem>[0-9a-f]{{40}})\.{_HEX16}(\.data|\.parts/part-[1-9][0-9]{{0,4}}\.data)$"
)
_JOURNAL_TARGET_RE = re.compile(
    rf"^[0-9a-f]{{2}}/[0-9a-f]{{40}}\.{_HEX16}\.parts/part-[1-9][0-9]{{0,4}}\.data$"
)
_JOURNAL_RECORD_RE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{40}(\.[0-9a-f]{32})?\.json$")


class RecordError(ValueError):
    """A record the server did not write as it stands: skipped."""


def is_inside(root: str, path: str) -> bool:
    """Whether ``path`` (symbolic links resolved) is ``root`` or lies under it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not str):
        raise RecordError(f"the field {name!r} is missing or not a {kind}")
    return value


def _text_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RecordError(f"the field {name!r} is not an object of strings")
    return dict(value)


def _relative(path: str) -> str:
    """A stored relative path in ``/`` form (a record written on Windows uses ``\\``)."""
    return path.replace("\\", "/")


def _version_fields(data: dict[str, Any], digest: str, record_file: str) -> tuple[str, bool]:
    """The version id and delete-marker flag of an object record, checked against its file name."""
    version_id = data.get("version_id", NULL_VERSION)
    if not isinstance(version_id, str) or not (version_id == NULL_VERSION or VERSION_ID_RE.match(version_id)):
        raise RecordError("the field 'version_id' is not a version id of this server")
    expected_name = f"{digest}.json" if version_id == NULL_VERSION else f"{digest}.{version_id}.json"
    if (
        os.path.basename(os.path.dirname(record_file)) != digest[:2]
        or os.path.basename(record_file) != expected_name
    ):
        raise RecordError("the record is not its key's record file")
    delete_marker = data.get("delete_marker", False)
    if not isinstance(delete_marker, bool):
        raise RecordError("the field 'delete_marker' is not a boolean")
    return version_id, delete_marker


def checked_object(data: dict[str, Any], record_file: str, root: str) -> ObjectRecord:
    """
    The object record ``data`` of the file ``record_file`` (``objects/<xx>/<key hash>.json`` of the
    store under ``root`` for the ``null`` version, ``<key hash>.<version id>.json`` for another
    version), checked; a delete marker names no file.

    :raises RecordError: for a record the server did not write as it stands.
    """
    key = _field(data, "key", str)
    digest = key_hash(key)
    folder = os.path.dirname(record_file)
    version_id, delete_marker = _version_fields(data, digest, record_file)
    raw_segments = data.get("segments")
    if raw_segments is None and "data_file" in data:  # a record from before segments: one file
        raw_segments = [[data["data_file"], data.get("size")]]
    if not isinstance(raw_segments, list):
        raise RecordError("the field 'segments' is not a list")
    segments: list[Segment] = []
    for item in raw_segments:
        if not (
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and type(item[1]) is int
        ):
            raise RecordError("a segment is not [path, size]")
        found = _SEGMENT_RE.match(_relative(item[0]))
        path = os.path.join(folder, *_relative(item[0]).split("/"))
        if found is None or found.group("stem") != digest or item[1] < 0 or not is_inside(root, path):
            raise RecordError(f"the segment {item[0][:80]!r} is not a file of this object")
        segments.append(Segment(path, item[1]))
    size = _field(data, "size", int)
    if size != sum(segment.size for segment in segments):
        raise RecordError("the size is not the sum of the segments' sizes")
    if delete_marker and segments:
        raise RecordError("a delete marker names files")
    last_modified = float(_field(data, "last_modified", (int, float)))
    stamp = data.get("stamp", int(last_modified * 1e9))  # records from before versioning have none
    if type(stamp) is not int or stamp < 0:
        raise RecordError("the field 'stamp' is not a non-negative integer")
    return ObjectRecord(
        key,
        segments,
        size,
        _field(data, "etag", str),
        _field(data, "crc64", int),
        last_modified,
        _field(data, "object_type", str),
        _text_map(data.get("meta"), "meta"),
        version_id=version_id,
        delete_marker=delete_marker,
        stamp=stamp,
    )


def checked_part(data: dict[str, Any], folder: str, number: int) -> PartRecord:
    """
    The part record ``data`` of part ``number`` (from its file name) in the upload ``folder``, checked.

    :raises RecordError: for a record the server did not write as it stands.
    """
    data_file = _field(data, "data_file", str)
    if _field(data, "number", int) != number or not re.fullmatch(
        rf"part-{number}\.{_HEX16}\.data", data_file
    ):
        raise RecordError(f"the part file {data_file[:80]!r} is not a file of part {number}")
    path = os.path.join(folder, data_file)
    if not is_inside(folder, path):
        raise RecordError(f"the part file {data_file[:80]!r} is outside its upload")
    size = _field(data, "size", int)
    if size < 0:
        raise RecordError("the part size is negative")
    return PartRecord(
        number,
        path,
        size,
        _field(data, "etag", str),
        _field(data, "crc64", int),
        float(_field(data, "last_modified", (int, float))),
    )


def checked_upload_head(data: dict[str, Any]) -> tuple[str, float, dict[str, str]]:
    """
    The key, initiation time and metadata of an upload record, checked.

    :raises RecordError: for a record the server did not write as it stands.
    """
    return (
        _field(data, "key", str),
        float(_field(data, "initiated", (int, float))),
        _text_map(data.get("meta"), "meta"),
    )


def checked_journal(journal: dict[str, Any], root: str, upload_dir: str) -> None:
    """
    Check a multipart completion journal of the upload in ``upload_dir``: each move takes a part file
    of that upload into a ``.parts`` folder of the same bucket, and the record it writes is one of
    that bucket's object records (and itself a valid record of those files).

    :raises RecordError: for a journal the server did not write as it stands.
    """
    objects = os.path.join(os.path.dirname(os.path.dirname(upload_dir)), "objects")
    moves = journal.get("moves")
    record_path = journal.get("record_path")
    record = journal.get("record")
    if not isinstance(moves, list) or not isinstance(record_path, str) or not isinstance(record, dict):
        raise RecordError("the journal is not {moves, record_path, record}")
    for move in moves:
        if not (isinstance(move, list) and len(move) == 2 and all(isinstance(p, str) for p in move)):
            raise RecordError("a move is not [from, to]")
        source = os.path.join(root, *_relative(move[0]).split("/"))
        target = os.path.join(root, *_relative(move[1]).split("/"))
        target_in_objects = _relative(os.path.relpath(target, objects))
        if (
            os.path.realpath(os.path.dirname(source)) != os.path.realpath(upload_dir)
            or not re.fullmatch(rf"part-[1-9][0-9]{{0,4}}\.{_HEX16}\.data", os.path.basename(source))
            or not _JOURNAL_TARGET_RE.match(target_in_objects)
            or not is_inside(objects, target)
        ):
            raise RecordError(f"the move {move!r:.200} is not one of this upload's parts into its bucket")
    record_file = os.path.join(root, *_relative(record_path).split("/"))
    if not _JOURNAL_RECORD_RE.match(_relative(os.path.relpath(record_file, objects))) or not is_inside(
        objects, record_file
    ):
        raise RecordError(f"the record path {record_path[:80]!r} is not an object record of this bucket")
    checked_object(record, record_file, root)
