"""
An object's bytes as the local server stores them: one or more segment files read in order.

A simple upload or a copy stores one file; a completed multipart upload keeps its part files as the
object's segments (completion moves files, it does not copy bytes), so completing a 1 GiB upload
costs metadata, as it does on OSS. :class:`ObjectReader` reads across the segments.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO


@dataclass(frozen=True)
class Segment:
    """A file holding ``size`` bytes of an object, from its start."""

    path: str
    size: int


def copy_open_file_into(src: IO[bytes], dst: IO[bytes], size: int, offset: int = 0) -> None:
    """
    Append ``size`` bytes of the open file ``src`` (from ``offset``) at the position of the open
    file ``dst`` (unbuffered), in the kernel when possible (``copy_file_range``, then
    ``sendfile``), else by reading and writing.
    """
    dst.flush()
    remaining = size
    src_fd, dst_fd = src.fileno(), dst.fileno()
    for name in ("copy_file_range", "sendfile"):
        func = getattr(os, name, None)
        if func is None:
            continue
        try:
            while remaining > 0:
                at = offset + size - remaining
                if name == "copy_file_range":
                    sent = func(src_fd, dst_fd, min(remaining, 1 << 30), at)
                else:
                    sent = func(dst_fd, src_fd, at, min(remaining, 1 << 30))
                if sent <= 0:
                    break
                remaining -= sent
        except OSError:
            pass
        if remaining == 0:
            return
    src.seek(offset + size - remaining)
    while remaining > 0:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise OSError(f"{getattr(src, 'name', 'a stored file')} is shorter than its record says")
        write_all(dst, chunk)
        remaining -= len(chunk)


def write_all(f: IO[bytes], data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``f`` (an unbuffered file may write less than asked)."""
    view = memoryview(data)
    while view:
        written = f.write(view)
        if written is None:  # only non-blocking files return None
            raise OSError("write would block")
        view = view[written:]


def remove_segments(segments: list[Segment]) -> None:
    """Delete segment files (missing ones are fine) and the per-version folder that held them."""
    folders = set()
    for segment in segments:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(segment.path)
        folders.add(os.path.dirname(segment.path))
    for folder in folders:
        if folder.endswith(".parts"):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


class ObjectReader:
    """
    Reads one stored version of an object across its segments. The store keeps the segment files
    until the reader is closed, even if the object is replaced or deleted meanwhile.

    :param segments: the object's segments, in order.
    :param on_close: called once, when the reader is closed.
    """

    def __init__(self, segments: list[Segment], on_close: Callable[[], None]) -> None:
        self.segments = list(segments)
        self.size = sum(s.size for s in self.segments)
        self._on_close: Callable[[], None] | None = on_close

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the version (its files may be deleted from now on)."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def _pieces(self, offset: int, length: int) -> Iterator[tuple[str, int, int]]:
        """(path, offset in the file, byte count) of the segments covering ``offset..offset+length``."""
        start = 0
        end = offset + length
        for segment in self.segments:
            stop = start + segment.size
            if stop > offset and start < end:
                begin = max(offset, start)
                yield segment.path, begin - start, min(end, stop) - begin
            start = stop
            if start >= end:
                return

    def send(self, sock: socket.socket, offset: int, length: int) -> None:
        """Send ``length`` bytes from ``offset`` on a socket (``sendfile`` per segment)."""
        for path, at, count in self._pieces(offset, length):
            with open(path, "rb") as f:
                sent = sock.sendfile(f, at, count)
            if sent != count:
                raise OSError(f"{path} is shorter than its record says")

    def read_range(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (for small answers only: fault injection)."""
        out = bytearray()
        for path, at, count in self._pieces(offset, length):
            with open(path, "rb") as f:
                f.seek(at)
                out += f.read(count)
        return bytes(out)

    def copy_into(self, dst: IO[bytes]) -> None:
        """Append every byte of the object to the open unbuffered file ``dst``."""
        for path, at, count in self._pieces(0, self.size):
            with open(path, "rb") as f:
                copy_open_file_into(f, dst, count, at)

    def whole_segment(self, offset: int, length: int) -> str | None:
        """The path of the segment file that is exactly ``offset..offset+length``, or None."""
        start = 0
        for segment in self.segments:
            if start == offset and segment.size == length:
                return segment.path
            start += segment.size
            if start > offset:
                return None
        return None

    def range_chunks(self, offset: int, length: int, size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes ``offset..offset+length`` of the object, ``size`` bytes at a time."""
        for path, at, count in self._pieces(offset, length):
            with open(path, "rb") as f:
                f.seek(at)
                left = count
                while left > 0:
                    data = f.read(min(size, left))
                    if not data:
                        raise OSError(f"{path} is shorter than its record says")
                    left -= len(data)
                    yield data

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """Every byte of the object, ``size`` bytes at a time."""
        for path, at, count in self._pieces(0, self.size):
            with open(path, "rb") as f:
                f.seek(at)
                left = count
                while left > 0:
                    data = f.read(min(size, left))
                    if not data:
                        raise OSError(f"{path} is shorter than its record says")
                    left -= len(data)
                    yield data

    def read(self) -> bytes:
        """Every byte of the object (for small objects: the control API)."""
        out = bytearray()
        for path, at, count in self._pieces(0, self.size):
            with open(path, "rb") as f:
                f.seek(at)
                out += f.read(count)
        return bytes(out)
