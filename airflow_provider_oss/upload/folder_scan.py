"""
Which files of a local folder a folder upload sends, and under which keys.

:func:`scan_folder` walks the folder (sorted, so every try sees the same order) and returns the
files to upload with their keys, the entries it *refuses* (the task fails for them, after the
rest is uploaded) and the entries it *ignores* on purpose (logged and counted, never uploaded).

The rules, in the order they apply to each directory entry:

* Hidden entries (a name starting with ``.``, a directory hides everything below it) are left
  out unless ``include_hidden`` is True.
* A name that is not valid UTF-8 (Linux allows any bytes) cannot become an OSS key: refused.
* Symbolic links: with ``follow_symlinks=False`` (the default) they are ignored, each one named in
  the log and the summary. With True, a link is followed only when its target lies inside the
  folder; a link leading outside it, a broken link, or a directory link back to one of its own
  ancestors (a loop) is refused, so that nothing outside the folder is ever sent silently.
* Directories are entered when ``recursive`` is True.
* Regular files whose relative path matches ``pattern`` are selected; FIFOs, sockets and devices
  are ignored (opening a FIFO would block the task).
* Each selected file's key is ``prefix`` + its relative path with ``/`` separators; a key that OSS
  would refuse (over 1,023 bytes of UTF-8, control characters) is refused here, naming the file.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from airflow_provider_oss.core.endpoints import MAX_KEY_BYTES, validate_object_key
from airflow_provider_oss.core.errors import OssClientError
from airflow_provider_oss.core.keymatch import compile_glob

__all__ = [
    "FolderFile",
    "FolderScan",
    "FolderScanError",
    "SkippedEntry",
    "check_prefix",
    "compile_pattern",
    "join_key",
    "scan_folder",
]


class FolderScanError(ValueError):
    """The folder itself cannot be uploaded (missing, not a directory, unreadable); names the path."""


@dataclass(frozen=True)
class FolderFile:
    """
    One file to upload.

    :param path: the path to open (inside the folder; a followed link's own path).
    :param relpath: the path relative to the folder, with ``/`` separators.
    :param key: the destination object key.
    :param size: the size when the folder was scanned.
    :param via_link: True when the entry itself is a symbolic link that was followed.
    :param source_relpath: the path the upload opens, relative to the folder's real path, with
        ``/`` separators: ``relpath`` itself, or the target of a followed link. The upload opens it
        component by component without following any link
        (:func:`~airflow_provider_oss.upload.folder_open.open_in_folder`), so a file or directory
        swapped for a link after the scan cannot lead outside the folder. Empty: ``relpath``.
    """

    path: str
    relpath: str
    key: str
    size: int
    via_link: bool = False
    source_relpath: str = ""

    def __post_init__(self) -> None:
        if not self.source_relpath:
            object.__setattr__(self, "source_relpath", self.relpath)


@dataclass(frozen=True)
class SkippedEntry:
    """
    An entry not uploaded, and why.

    :param relpath: the path relative to the folder (non-UTF-8 bytes shown escaped).
    :param reason: why, in words that say how to change it.
    """

    relpath: str
    reason: str


@dataclass
class FolderScan:
    """
    What :func:`scan_folder` found.

    :param root: the folder's absolute path.
    :param prefix: the normalised key prefix every key starts with.
    :param files: the files to upload, sorted by relative path.
    :param refused: entries that cannot be uploaded as asked: the task fails for them.
    :param ignored: entries left out on purpose (links not followed, FIFOs...): logged, not failures.
    :param root_identity: the folder's ``(st_dev, st_ino)`` when it was scanned: the upload refuses
        to read from a folder replaced since (None: not checked).
    """

    root: str
    prefix: str = ""
    files: list[FolderFile] = field(default_factory=list)
    refused: list[SkippedEntry] = field(default_factory=list)
    ignored: list[SkippedEntry] = field(default_factory=list)
    root_identity: tuple[int, int] | None = None

    @property
    def total_bytes(self) -> int:
        """The bytes of every selected file."""
        return sum(f.size for f in self.files)


def check_prefix(prefix: object) -> str:
    """
    Check a key prefix and return it normalised: empty, or ending with exactly one ``/``
    (``data``, ``data/`` and ``data//`` all give ``data/``), so that no key gets a ``//``.

    :raises ValueError: for a non-string, a prefix starting with ``/`` (OSS keys cannot), one
        containing ``//`` inside, or one that is not a valid key start.
    """
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string (such as 'backups/2026/'); got {prefix!r}.")
    if prefix.startswith(("/", "\\")):
        fixed = prefix.lstrip("/\\")
        raise ValueError(
            f"prefix {prefix!r} starts with {prefix[0]!r}; OSS keys cannot. Remove it (e.g. {fixed!r})."
        )
    stripped = prefix.rstrip("/")
    if not stripped:
        return ""
    if "//" in stripped:
        raise ValueError(
            f"prefix {prefix!r} contains '//', which would give keys with an empty path segment; write it "
            f"with single slashes."
        )
    try:
        validate_object_key(stripped + "/")
    except OssClientError as err:
        raise ValueError(f"prefix {prefix!r} is not a valid key prefix: {err}") from None
    return stripped + "/"


def join_key(prefix: str, relpath: str) -> str:
    """
    The key of a file: the normalised ``prefix`` (see :func:`check_prefix`) + ``relpath``.

    :param prefix: a prefix returned by :func:`check_prefix`.
    :param relpath: the relative path with ``/`` separators.
    """
    return prefix + relpath.lstrip("/")


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """
    Compile a file pattern: a path-aware glob (``*`` within a name, ``**`` across directories).

    :raises ValueError: for an empty pattern, an unclosed ``[``, or a pattern starting with ``/``.
    """
    if pattern is None:
        return None
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"pattern must be a non-empty glob such as '*.csv' or None; got {pattern!r}.")
    if pattern.startswith("/"):
        raise ValueError(
            f"pattern {pattern!r} is matched against paths relative to the folder: drop the '/'."
        )
    try:
        return compile_glob(pattern)
    except OssClientError as err:
        raise ValueError(str(err).replace("match_glob", "pattern")) from None


def _matches(regex: re.Pattern[str] | None, pattern: str | None, relpath: str) -> bool:
    if regex is None or pattern is None:
        return True
    target = relpath if "/" in pattern else relpath.rsplit("/", 1)[-1]
    return regex.match(target) is not None


def _printable(relpath: str) -> str:
    """``relpath`` with bytes that are not UTF-8 shown as ``\\xNN`` escapes."""
    return relpath.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _EntryRefusedError(Exception):
    """An entry that cannot be uploaded as asked (the task fails for it); the message says why."""


class _EntryIgnoredError(Exception):
    """An entry left out on purpose (logged and listed); the message says why."""


class _Walker:
    def __init__(
        self,
        root: str,
        prefix: str,
        *,
        pattern: str | None,
        recursive: bool,
        include_hidden: bool,
        follow_symlinks: bool,
    ) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.prefix = prefix
        self.pattern = pattern
        self.regex = compile_pattern(pattern)
        self.recursive = recursive
        self.include_hidden = include_hidden
        self.follow_symlinks = follow_symlinks
        self.scan = FolderScan(root=root, prefix=prefix)

    def refuse(self, relpath: str, reason: str) -> None:
        self.scan.refused.append(SkippedEntry(_printable(relpath), reason))

    def ignore(self, relpath: str, reason: str) -> None:
        self.scan.ignored.append(SkippedEntry(_printable(relpath), reason))

    def walk(self) -> FolderScan:
        # (directory path, its relative path, real paths of it and its ancestors)
        stack: list[tuple[str, str, frozenset[str]]] = [("", "", frozenset({self.real_root}))]
        while stack:
            directory, rel_dir, ancestors = stack.pop()
            try:
                with os.scandir(os.path.join(self.root, directory) if directory else self.root) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as err:
                self.refuse(rel_dir or ".", f"cannot list this directory: {err.strerror or err}")
                continue
            subdirs: list[tuple[str, str, frozenset[str]]] = []
            for entry in entries:
                child = self.visit(entry, directory, rel_dir, ancestors)
                if child is not None:
                    subdirs.append(child)
            stack.extend(reversed(subdirs))  # depth-first, in name order
        self.scan.files.sort(key=lambda f: f.relpath)
        return self.scan

    def visit(
        self, entry: os.DirEntry[str], directory: str, rel_dir: str, ancestors: frozenset[str]
    ) -> tuple[str, str, frozenset[str]] | None:
        """Handle one entry; return the directory to walk next, if it is one."""
        relpath = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if entry.name.startswith(".") and not self.include_hidden:
            return None
        try:
            return self._visit(entry, os.path.join(directory, entry.name), relpath, ancestors)
        except _EntryRefusedError as why:
            self.refuse(relpath, str(why))
        except _EntryIgnoredError as why:
            self.ignore(relpath, str(why))
        return None

    def _visit(
        self, entry: os.DirEntry[str], path: str, relpath: str, ancestors: frozenset[str]
    ) -> tuple[str, str, frozenset[str]] | None:
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            raise _EntryRefusedError(
                "its name is not valid UTF-8, so it cannot be an OSS key: rename it"
            ) from None
        try:
            info = os.stat(entry.path, follow_symlinks=False)
        except OSError as err:
            raise _EntryRefusedError(f"cannot stat it: {err.strerror or err}") from None
        via_link = stat.S_ISLNK(info.st_mode)
        real = ""
        if via_link:
            info, real = self._follow(entry.path, ancestors)
        if stat.S_ISDIR(info.st_mode):
            if not self.recursive:
                return None
            return path, relpath, ancestors | {real or os.path.realpath(entry.path)}
        if not stat.S_ISREG(info.st_mode):
            raise _EntryIgnoredError("not a regular file (a FIFO, socket or device)")
        if _matches(self.regex, self.pattern, relpath):
            key = self._key(relpath)
            self.scan.files.append(
                FolderFile(
                    os.path.join(self.root, path),
                    relpath,
                    key,
                    info.st_size,
                    via_link,
                    self._source(entry, relpath),
                )
            )
        return None

    def _source(self, entry: os.DirEntry[str], relpath: str) -> str:
        """
        The path the upload opens (relative to the real folder), when it is not ``relpath``: the
        target's own path, for a file reached through a followed link (the file's or a directory's).
        """
        if not self.follow_symlinks:
            return ""
        source = os.path.relpath(os.path.realpath(entry.path), self.real_root).replace(os.sep, "/")
        if source == ".." or source.startswith("../"):
            raise _EntryRefusedError(
                "it leads outside the folder (a directory above it was swapped for a link)"
            )
        return "" if source == relpath else source

    def _follow(self, link: str, ancestors: frozenset[str]) -> tuple[os.stat_result, str]:
        """The stat of a link's target and its real path, when the link may be followed."""
        if not self.follow_symlinks:
            raise _EntryIgnoredError("a symbolic link, not followed (follow_symlinks=False)")
        target = os.path.realpath(link)
        if not _is_within(target, self.real_root):
            raise _EntryRefusedError(
                f"a symbolic link leading outside the folder (to {target}); it is never followed: remove it, "
                "or copy its target into the folder"
            )
        try:
            info = os.stat(link)
        except OSError as err:
            raise _EntryRefusedError(f"a broken symbolic link ({err.strerror or err})") from None
        if stat.S_ISDIR(info.st_mode) and target in ancestors:
            raise _EntryRefusedError(f"a symbolic link loop (back to {target})")
        return info, target

    def _key(self, relpath: str) -> str:
        """The key of a file, checked against OSS's rules."""
        key = join_key(self.prefix, relpath.replace(os.sep, "/") if os.sep != "/" else relpath)
        try:
            validate_object_key(key)
        except OssClientError as err:
            size = len(key.encode("utf-8", "surrogatepass"))
            if size > MAX_KEY_BYTES:
                raise _EntryRefusedError(
                    f"its key would be {size} bytes of UTF-8, over OSS's {MAX_KEY_BYTES}: shorten the path or the prefix"
                ) from None
            raise _EntryRefusedError(str(err)) from None
        return key


def scan_folder(
    folder: str | os.PathLike[str],
    prefix: str = "",
    *,
    pattern: str | None = None,
    recursive: bool = True,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
) -> FolderScan:
    """
    List the files of ``folder`` to upload under ``prefix`` (see the module's rules).

    :param folder: the local directory.
    :param prefix: the key prefix (normalised by :func:`check_prefix`).
    :param pattern: a glob on the relative path (``reports/**/*.csv``); a pattern without ``/`` is
        matched against the file's name alone (``*.csv`` selects CSV files at every depth). None: all.
    :param recursive: walk sub-directories (False: only the files directly in ``folder``).
    :param include_hidden: include names starting with ``.`` (and what hidden directories hold).
    :param follow_symlinks: follow links whose target lies inside the folder.
    :raises FolderScanError: when ``folder`` is missing, not a directory or cannot be listed.
    """
    root = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    if not os.path.exists(root):
        raise FolderScanError(f"The folder {root} does not exist: check the path (and the worker's volumes).")
    if not os.path.isdir(root):
        raise FolderScanError(f"{root} is not a directory: give the folder that holds the files.")
    try:
        os.scandir(root).close()
    except OSError as err:
        raise FolderScanError(f"The folder {root} cannot be listed: {err.strerror or err}.") from None
    identity = os.stat(root)
    walker = _Walker(
        root,
        check_prefix(prefix),
        pattern=pattern,
        recursive=recursive,
        include_hidden=include_hidden,
        follow_symlinks=follow_symlinks,
    )
    scan = walker.walk()
    scan.root_identity = (identity.st_dev, identity.st_ino)
    return scan
