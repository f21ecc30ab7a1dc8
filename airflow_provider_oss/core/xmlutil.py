"""
XML helpers: parsing OSS response bodies (error documents, list results) with
:mod:`xml.etree.ElementTree`, refusing DTDs and entities, and building request bodies.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.parsers import expat
from xml.sax.saxutils import escape

from airflow_provider_oss.core.errors import OssResponseError
from airflow_provider_oss.core.numbers import ascii_int


class OssXmlError(OssResponseError):
    """A response body that is not the XML document OSS should have sent."""


class _DtdFoundError(Exception):
    """Raised from inside expat when a document declares a DTD, an entity or a notation."""


def _refuse(*_args: object) -> None:
    raise _DtdFoundError


def xml_refusal(body: bytes) -> str | None:
    """
    Why an untrusted XML document must not be parsed, or None when it may be.

    expat decodes the document first (UTF-8, UTF-16, ISO-8859-1, by its byte-order mark or XML
    declaration) and then reports DTD, entity and notation declarations, so no encoding can hide one.
    A document expat itself cannot read (malformed, or in an encoding it does not know, which
    ElementTree might still decode) is refused too.
    """
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.NotationDeclHandler = _refuse
    try:
        parser.Parse(body, True)
    except _DtdFoundError:
        return "has a DOCTYPE or ENTITY declaration"
    except (expat.ExpatError, ValueError, LookupError) as err:
        return f"is not well-formed XML ({err})"
    return None


def parse_xml(body: bytes, root_tag: str | None = None) -> ElementTree.Element:
    """
    Parse an XML document.

    :param body: the response body.
    :param root_tag: the expected root element name, or None for any.
    :raises OssXmlError: for a malformed document, a DTD or entity declaration, or another root.
    """
    refusal = xml_refusal(body)
    if refusal is not None:
        raise OssXmlError(f"The response XML {refusal}; refusing to parse it: {body[:200]!r}")
    try:
        root = ElementTree.fromstring(body)  # noqa: S314  # DTDs and entities refused above (after decoding)
    except ElementTree.ParseError as err:
        raise OssXmlError(f"The response is not well-formed XML ({err}): {body[:200]!r}") from None
    if root_tag is not None and root.tag != root_tag:
        raise OssXmlError(f"Expected an XML document <{root_tag}>, got <{root.tag}>.")
    return root


def find_text(element: ElementTree.Element, path: str, default: str = "") -> str:
    """The text of a child (``""`` for an empty element, ``default`` when it is missing)."""
    child = element.find(path)
    if child is None:
        return default
    return child.text or ""


def find_int(element: ElementTree.Element, path: str, default: int = 0) -> int:
    """The integer text of a child, ``default`` when missing or empty."""
    text = find_text(element, path).strip()
    if not text:
        return default
    value = ascii_int(text)
    if value is None:
        raise OssXmlError(f"Expected a number in ASCII digits in <{path}>, got {text[:80]!r}.")
    return value


def find_bool(element: ElementTree.Element, path: str) -> bool:
    """A ``true``/``false`` child (missing means false)."""
    return find_text(element, path).strip().lower() == "true"


def decode_if(text: str, url_encoded: bool) -> str:
    """Undo ``encoding-type=url`` on a key or prefix when the response says it applied it."""
    return unquote(text) if url_encoded else text


def is_url_encoded(root: ElementTree.Element) -> bool:
    """Whether a list result says ``<EncodingType>url</EncodingType>``."""
    return find_text(root, "EncodingType").strip().lower() == "url"


def parse_error(body: bytes) -> dict[str, str]:
    """
    The children of an OSS ``<Error>`` document as a dict (``Code``, ``Message``, ``RequestId``,
    ``HostId``, ``EC``, plus details such as ``ServerTime``); empty when the body is not one.
    """
    if not body.strip():
        return {}
    try:
        root = parse_xml(body, "Error")
    except OssXmlError:
        return {}
    return {child.tag: (child.text or "") for child in root}


def element_to_dict(element: ElementTree.Element) -> dict[str, Any]:
    """
    An element's children as a dict: leaf text as strings, nested elements as dicts; a repeated
    child name gives a list.
    """
    out: dict[str, Any] = {}
    for child in element:
        value: Any = element_to_dict(child) if len(child) else (child.text or "")
        if child.tag in out:
            existing = out[child.tag]
            if isinstance(existing, list):
                existing.append(value)
            else:
                out[child.tag] = [existing, value]
        else:
            out[child.tag] = value
    return out


def parse_iso_time(text: str) -> datetime:
    """Parse an OSS XML timestamp (``2024-06-01T08:30:00.000Z``) into an aware UTC datetime."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OssXmlError(f"Expected an ISO 8601 time, got {text!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_http_time(text: str | None) -> datetime | None:
    """Parse an HTTP date header (``Sat, 01 Jun 2024 08:30:00 GMT``); None when absent or malformed."""
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def complete_multipart_body(parts: Iterable[tuple[int, str]]) -> bytes:
    """
    The ``CompleteMultipartUpload`` request body.

    :param parts: ``(part number, ETag)`` pairs, already in ascending order; the ETag is sent quoted.
    """
    items = []
    for number, etag in parts:
        quoted = '"' + etag.strip().strip('"') + '"'
        items.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(quoted)}</ETag></Part>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload>'
        + "".join(items)
        + "</CompleteMultipartUpload>"
    ).encode("utf-8")
