"""
Every read of the Airflow layer against a proxy that ignores ``Range`` (the local server's
``ignore_range`` fault: 200 with the whole object) and a captive portal (``portal``: ``200
text/html`` without ``x-oss-request-id``): the hook's reading methods, the fsspec filesystem's
``cat`` / ``cat_file`` / ``open().read()`` at an offset, and ``ObjectStoragePath.read_bytes``. None
of them returns bytes that are not the object's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oss.core.errors import CrcMismatchError, OssResponseError
from airflow_provider_oss.fs.filesystem import OssFileSystem
from airflow_provider_oss.hooks.oss import OssHook
from airflow_provider_oss.testing import LocalOssServer

BUCKET = "test-bucket"
KEY = "hostile/object.bin"
DATA = os.urandom(300 * 1024)


pytestmark = pytest.mark.usefixtures("fresh_object_stores")


@pytest.fixture
def hook(oss_server: LocalOssServer, oss_connection_env: str) -> OssHook:
    hook = OssHook(oss_connection_env)
    hook.load_bytes(DATA, KEY, BUCKET)
    return hook


def _fs(hook: OssHook) -> OssFileSystem:
    return OssFileSystem(hook.get_client(), block_size=128 * 1024)


def _read_at_offset(fs: OssFileSystem) -> bytes:
    with fs.open(f"{BUCKET}/{KEY}", "rb", cache_type="none") as f:
        f.seek(200_000)
        data: bytes = f.read(16)
        return data


def _object_storage_path(hook: OssHook) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(f"oss://{BUCKET}/{KEY}", conn_id=hook.oss_conn_id)


def _path_read_at_offset(hook: OssHook) -> bytes:
    with _object_storage_path(hook).open("rb", block_size=128 * 1024) as f:
        f.seek(200_000)
        data: bytes = f.read(16)
        return data


#: Each read path: what it returns from a trustworthy server.
READS: dict[str, tuple[Callable[[OssHook, Path], Any], Callable[[], Any]]] = {
    "hook.read_bytes": (lambda h, _: h.read_bytes(KEY, BUCKET), lambda: DATA),
    "hook.read_key": (
        lambda h, _: h.read_key(KEY, BUCKET, encoding="latin-1"),
        lambda: DATA.decode("latin-1"),
    ),
    "hook.head_object": (lambda h, _: h.head_object(KEY, BUCKET).size, lambda: len(DATA)),
    "hook.get_key": (lambda h, _: h.get_key(KEY, BUCKET).size, lambda: len(DATA)),
    "hook.check_for_key": (lambda h, _: h.check_for_key(KEY, BUCKET), lambda: True),
    "hook.download_file": (
        lambda h, tmp: (h.download_file(KEY, tmp / "out.bin", BUCKET), (tmp / "out.bin").read_bytes())[1],
        lambda: DATA,
    ),
    "fs.cat": (lambda h, _: _fs(h).cat(f"{BUCKET}/{KEY}"), lambda: DATA),
    "fs.cat_file": (lambda h, _: _fs(h).cat_file(f"{BUCKET}/{KEY}"), lambda: DATA),
    "fs.cat_file-range": (
        lambda h, _: _fs(h).cat_file(f"{BUCKET}/{KEY}", 1000, 1010),
        lambda: DATA[1000:1010],
    ),
    "fs.open-read-at-offset": (lambda h, _: _read_at_offset(_fs(h)), lambda: DATA[200_000:200_016]),
    "ObjectStoragePath.read_bytes": (lambda h, _: _object_storage_path(h).read_bytes(), lambda: DATA),
    "ObjectStoragePath.open-read-at-offset": (
        lambda h, _: _path_read_at_offset(h),
        lambda: DATA[200_000:200_016],
    ),
    "fs.open-read-whole": (lambda h, _: _fs(h).open(f"{BUCKET}/{KEY}", "rb").read(), lambda: DATA),
}
#: The paths that send a ranged GET (the others read whole objects or only HEAD).
RANGED = (
    "hook.download_file",
    "fs.cat_file-range",
    "fs.open-read-at-offset",
    "ObjectStoragePath.open-read-at-offset",
)
#: The paths that read the whole object: each is checked against the object's CRC-64.
WHOLE = ("hook.read_bytes", "fs.cat", "fs.cat_file", "fs.open-read-whole", "ObjectStoragePath.read_bytes")


@pytest.mark.parametrize("path", sorted(READS))
def test_every_read_path_gives_the_object_from_a_trustworthy_server(
    hook: OssHook, tmp_path: Path, path: str
) -> None:
    read, expected = READS[path]
    assert read(hook, tmp_path) == expected()


#: The local server's hostile faults: (the operations it breaks, what the error says).
HOSTILE = {"ignore_range": ("GetObject", "does not serve byte ranges"), "portal": ("*", "text/html")}


@pytest.mark.parametrize(
    ("fault", "path"),
    [("ignore_range", path) for path in RANGED] + [("portal", path) for path in sorted(READS)],
)
def test_every_read_path_refuses_a_hostile_answer(
    hook: OssHook, oss_server: LocalOssServer, tmp_path: Path, fault: str, path: str
) -> None:
    op, said = HOSTILE[fault]
    oss_server.add_fault(op, fault, times=100)
    read, _ = READS[path]
    with pytest.raises(OssResponseError) as caught:
        read(hook, tmp_path)
    assert oss_server.endpoint in str(caught.value)
    assert said in str(caught.value)
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("path", WHOLE)
def test_every_whole_read_path_checks_the_bytes_against_the_crc64(
    hook: OssHook, oss_server: LocalOssServer, tmp_path: Path, path: str
) -> None:
    oss_server.add_fault("GetObject", "corrupt")  # one byte flipped on the way, headers intact
    read, _ = READS[path]
    with pytest.raises(CrcMismatchError):
        read(hook, tmp_path)
    assert [entry["range"] for entry in oss_server.request_log() if entry["op"] == "GetObject"] == [None]


def test_a_whole_fs_read_of_an_object_that_changed_since_it_was_opened_fails(hook: OssHook) -> None:
    fs = _fs(hook)
    with fs.open(f"{BUCKET}/{KEY}", "rb") as f:
        hook.load_bytes(DATA + b"more", KEY, BUCKET)
        with pytest.raises(OSError, match="changed while it was read"):
            f.read()
