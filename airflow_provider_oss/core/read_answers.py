"""
What every read checks of OSS's answer, shared by the client's reads (``get_object``,
``head_object``, hence the hook and the fsspec filesystem) and the download engine:

- the answer is OSS's: it carries ``x-oss-request-id`` (a captive portal's ``200 text/html`` does not);
- a ranged answer is exactly the range asked for: ``206`` with a ``Content-Range`` that starts where
  the ``Range`` did and ends where it did, or at the object's last byte when the ``Range`` went past
  it (OSS's ``x-oss-range-behavior: standard``); a server that ignores ``Range`` and sends the whole
  object with ``200`` is refused;
- a whole object's bytes match the ``x-oss-hash-crc64ecma`` OSS sent (the caller computes the CRC-64
  while streaming; no second pass);
- every number in a header is ASCII digits (:mod:`~airflow_provider_oss.core.numbers`).

``require_crc64=False`` (an OSS-compatible server that sends no CRC-64 or request id) is the one
escape hatch: what it lets through is logged as UNVERIFIED.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.errors import CrcMismatchError, OssResponseError
from airflow_provider_oss.core.numbers import ascii_int, header_int

log = logging.getLogger(__name__)

__all__ = ["ReadContext", "parse_content_range", "stream_span"]


def answer_traits(response: requests.Response) -> str:
    """What the answer looked like, for a message about an answer that is not OSS's."""
    traits = []
    content_type = response.headers.get("Content-Type")
    if content_type:
        traits.append(f"Content-Type {content_type.split(';')[0].strip()[:60]}")
    if not response.headers.get("x-oss-request-id"):
        traits.append("no x-oss-request-id")
    return f" ({', '.join(traits)})" if traits else ""


def parse_content_range(value: str | None, context: str) -> tuple[int, int, int] | None:
    """
    ``bytes first-last/total`` as (first, last, total).

    :param value: the ``Content-Range`` header, or None.
    :param context: what was asked of whom, for the message.
    :return: None when the header is absent.
    :raises OssResponseError: when it is there but malformed (another unit, ``*``, non-ASCII digits,
        ``last`` before ``first`` or past the total).
    """
    if value is None:
        return None
    unit, _, rest = value.strip().partition(" ")
    span, _, total_text = rest.strip().partition("/")
    first_text, _, last_text = span.partition("-")
    first, last, total = ascii_int(first_text), ascii_int(last_text), ascii_int(total_text)
    if unit.lower() != "bytes" or first is None or last is None or total is None or not first <= last < total:
        raise OssResponseError(
            f"{context}: the Content-Range header is {value[:80]!r}, not 'bytes first-last/total' in ASCII "
            "digits as OSS sends it: the answer is not trusted. Check the connection's endpoint."
        )
    return first, last, total


@dataclass(frozen=True)
class ReadContext:
    """
    One read of one object: what is checked of each answer, and how errors name it.

    :param op: ``GetObject`` or ``HeadObject``.
    :param bucket: the bucket.
    :param key: the object key.
    :param endpoint: the endpoint URL asked.
    :param require_crc64: the client's ``require_crc64`` (False: an answer without request id or
        CRC-64 is accepted and logged as UNVERIFIED).
    """

    op: str
    bucket: str
    key: str
    endpoint: str
    require_crc64: bool = True

    @property
    def where(self) -> str:
        """``GetObject oss://bucket/key from <endpoint>``."""
        return f"{self.op} oss://{self.bucket}/{self.key} from {self.endpoint}"

    def refuse(self, response: requests.Response, what: str, advice: str = "") -> OssResponseError:
        """The error for an answer that is not OSS's answer to this read."""
        return OssResponseError(
            f"{self.where}: the answer was HTTP {response.status_code}{answer_traits(response)}, {what}. "
            "Its bytes are not the object's and were not returned (a proxy, a captive portal or a wrong "
            f"endpoint?): check the connection's endpoint{advice}."
        )

    def check_is_oss(self, response: requests.Response) -> None:
        """
        The answer carries ``x-oss-request-id``, as every OSS answer does.

        :raises OssResponseError: when it does not (unless ``require_crc64`` is off: then logged).
        """
        if response.headers.get("x-oss-request-id"):
            return
        if self.require_crc64:
            raise self.refuse(
                response,
                "without x-oss-request-id, which OSS always sends",
                "; for an OSS-compatible server that sends none, set require_crc64=false",
            )
        log.warning(
            "%s is UNVERIFIED: the answer has no x-oss-request-id (require_crc64=false), so nothing shows it "
            "came from OSS.",
            self.where,
        )

    def whole_size(self, response: requests.Response) -> int:
        """
        The object's size from a whole answer (HEAD, or GET without ``Range``): its ``Content-Length``.

        :raises OssResponseError: for another status than 200, a missing ``Content-Length`` or a
            ``Content-Range`` (an answer to a range nobody asked for).
        """
        if response.status_code != 200 or response.headers.get("Content-Range") is not None:
            raise self.refuse(response, "not the whole object (200 without Content-Range) asked for")
        size = header_int(response.headers, "Content-Length", self.where)
        if size is None:
            raise self.refuse(response, "without Content-Length, which OSS always sends with an object")
        return size

    def check_range(self, response: requests.Response, first: int, last: int | None) -> tuple[int, int, int]:
        """
        The answer to ``Range: bytes=first-last`` (``last`` None: to the end) is exactly that range:
        ``206`` with ``Content-Range: bytes first-end/total`` where ``end`` is ``last``, or the object's
        last byte when ``last`` is past it (or None); its ``Content-Length``, when sent, is the span's.

        :return: (first, end, total) as the answer gives them.
        :raises OssResponseError: for any other answer (a ``200`` with the whole object above all).
        """
        asked = f"bytes={first}-{'' if last is None else last}"
        span = parse_content_range(response.headers.get("Content-Range"), self.where)
        if response.status_code != 206 or span is None:
            raise self.refuse(
                response,
                f"with Content-Range {response.headers.get('Content-Range')!r}, not the 206 answer to Range "
                f"{asked}: the server (or a proxy) does not serve byte ranges as OSS does",
            )
        start, end, total = span
        end_ok = end == last or (end == total - 1 and (last is None or last > end))
        if start != first or not end_ok:
            raise self.refuse(
                response, f"with Content-Range {response.headers['Content-Range']!r}, not Range {asked}"
            )
        length = header_int(response.headers, "Content-Length", self.where)
        if length is not None and length != end - start + 1:
            raise self.refuse(
                response,
                f"with Content-Length {length} for Content-Range {response.headers['Content-Range']!r}",
            )
        self.check_is_oss(response)
        return span

    def server_crc(self, response: requests.Response) -> int | None:
        """
        The ``x-oss-hash-crc64ecma`` of an answer; None when absent.

        :raises OssResponseError: when it is there but is not an unsigned 64-bit decimal number.
        """
        raw = response.headers.get("x-oss-hash-crc64ecma")
        if raw is None:
            return None
        value = crc64_mod.parse_crc(raw)
        if value is None:
            raise self.refuse(
                response, f"with x-oss-hash-crc64ecma {raw[:80]!r}, not a CRC-64 in ASCII digits"
            )
        return value

    def require_crc(
        self, server_crc: int | None, logger: logging.Logger | logging.LoggerAdapter[Any] | None = None
    ) -> None:
        """
        A whole read needs the object's CRC-64 to check its bytes against.

        :raises OssResponseError: when there is none and ``require_crc64`` is on (off: logged UNVERIFIED).
        """
        if server_crc is not None:
            return
        if self.require_crc64:
            raise OssResponseError(
                f"{self.where}: the answer has no x-oss-hash-crc64ecma, which OSS always sends for an object, so "
                "its bytes could not be verified. Check the connection's endpoint; for an OSS-compatible server "
                "without CRC-64, set require_crc64=false."
            )
        (logger or log).warning(
            "oss://%s/%s from %s has no CRC-64 (require_crc64=false): the read is UNVERIFIED beyond its size.",
            self.bucket,
            self.key,
            self.endpoint,
        )

    def verify_crc(self, server_crc: int | None, local_crc: int, received: int, then: str) -> None:
        """
        The bytes received give the CRC-64 OSS sent.

        :param server_crc: OSS's CRC-64 (None: nothing to check, see :meth:`require_crc`).
        :param local_crc: the CRC-64 of the bytes received, computed as they streamed.
        :param received: how many bytes.
        :param then: what happens now, for the message.
        :raises CrcMismatchError: when they differ.
        """
        if server_crc is None or server_crc == local_crc:
            return
        raise CrcMismatchError(
            f"CRC-64 mismatch downloading oss://{self.bucket}/{self.key}: OSS says {server_crc}, the {received} "
            f"bytes received give {local_crc}. The bytes were damaged in transit; {then}",
            local_crc=local_crc,
            server_crc=server_crc,
            key=self.key,
        )


def stream_span(
    response: requests.Response,
    write_at: Callable[[int, bytes], object],
    position: int,
    end: int,
    crc: int,
    chunk_size: int,
) -> tuple[int, int, Exception | None]:
    """
    Hand a checked answer's body (bytes ``position..end`` of the object) to ``write_at(offset, chunk)``
    as it arrives, its CRC-64 computed on the way; never more than ``end`` is read, whatever the body
    holds.

    :return: the next position, the CRC-64 so far, and what broke the connection (None: all arrived;
        an ``EOFError`` when the body ended early).
    """
    # read1: what has arrived, so a connection cut part-way loses nothing already received.
    read = getattr(response.raw, "read1", response.raw.read)
    while position <= end:
        try:
            chunk = read(min(chunk_size, end + 1 - position))
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as err:
            return position, crc, err
        if not chunk:
            return position, crc, EOFError("the connection closed early")
        write_at(position, chunk)
        crc = crc64_mod.update(crc, chunk)
        position += len(chunk)
    return position, crc, None
