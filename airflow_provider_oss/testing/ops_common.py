"""
Helpers shared by the local server's operations: metadata headers, ``Content-MD5``, ETags, query
parameters, and streaming a request body to a temp file with its CRC-64 (and MD5).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.etree import ElementTree

from airflow_provider_oss.core import crc64 as crc64_mod
from airflow_provider_oss.core.xmlutil import xml_refusal
from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.body import chunk_buffer
from airflow_provider_oss.testing.numbers import is_decimal
from airflow_provider_oss.testing.objectdata import write_all
from airflow_provider_oss.testing.store import PartRecord

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange

KIB = 1024
GIB = 1024**3
MIN_PART_SIZE = 100 * KIB
MAX_OBJECT_SIZE = 5 * GIB
MAX_PART_NUMBER = 10000
MAX_XML_BODY = 8 << 20
MAX_USER_META = 8 * KIB

STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
OBJECT_ACLS = ("default", "private", "public-read", "public-read-write")
SSE_ALGORITHMS = ("AES256", "KMS", "SM4")
#: The key id reported for SSE-KMS without one (there is no KMS here: the bytes are stored as sent).
LOCAL_KMS_KEY_ID = "local-oss-default-kms-key"

# Stored request headers -> the spelling used when they are returned.
STANDARD_HEADERS = {
    "content-type": "Content-Type",
    "cache-control": "Cache-Control",
    "content-disposition": "Content-Disposition",
    "content-encoding": "Content-Encoding",
    "content-language": "Content-Language",
    "expires": "Expires",
}
OSS_HEADERS = (
    "x-oss-storage-class",
    "x-oss-object-acl",
    "x-oss-server-side-encryption",
    "x-oss-server-side-encryption-key-id",
    "x-oss-server-side-data-encryption",
)
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


# -- helpers -------------------------------------------------------------------------------------


def check_key(key: str) -> None:
    """Reject a key OSS would not accept (``InvalidObjectName``)."""
    size = len(key.encode("utf-8", "surrogateescape"))
    if not 1 <= size <= 1023 or key.startswith(("/", "\\")):
        raise OssApiError(
            400,
            "InvalidObjectName",
            "The specified object is not valid: a key is 1-1023 bytes of UTF-8 and does not start with '/' or '\\'.",
            Key=key,
        )


def meta_from_headers(headers: dict[str, str], key: str) -> dict[str, str]:
    """The object metadata in request headers (validated), with a guessed ``content-type`` default."""
    meta = {
        name: value
        for name, value in headers.items()
        if name in STANDARD_HEADERS or name in OSS_HEADERS or name.startswith("x-oss-meta-")
    }
    storage = meta.get("x-oss-storage-class")
    if storage is not None and storage not in STORAGE_CLASSES:
        raise invalid_argument(
            f"Invalid storage class: use one of {', '.join(STORAGE_CLASSES)}.", "x-oss-storage-class", storage
        )
    acl = meta.get("x-oss-object-acl")
    if acl is not None and acl not in OBJECT_ACLS:
        raise invalid_argument(
            f"Invalid object ACL: use one of {', '.join(OBJECT_ACLS)}.", "x-oss-object-acl", acl
        )
    sse = meta.get("x-oss-server-side-encryption")
    if sse is not None and sse not in SSE_ALGORITHMS:
        raise OssApiError(
            400,
            "InvalidEncryptionAlgorithmError",
            f"The encryption request you specified is not valid: use one of {', '.join(SSE_ALGORITHMS)}.",
        )
    if sse == "KMS":  # OSS names the (default) master key it used
        meta.setdefault("x-oss-server-side-encryption-key-id", LOCAL_KMS_KEY_ID)
    else:  # a key id or data algorithm belongs to KMS only
        meta.pop("x-oss-server-side-encryption-key-id", None)
        meta.pop("x-oss-server-side-data-encryption", None)
    user = sum(len(n) + len(v) for n, v in meta.items() if n.startswith("x-oss-meta-"))
    if user > MAX_USER_META:
        raise OssApiError(
            400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed size (8 KB)."
        )
    if "content-type" not in meta:  # never guessed from the key, as OSS
        meta["content-type"] = "application/octet-stream"
    return meta


def meta_headers(meta: dict[str, str]) -> dict[str, str]:
    """The response headers of stored metadata (``x-oss-storage-class`` always)."""
    out = {STANDARD_HEADERS.get(name, name): value for name, value in meta.items()}
    out.setdefault("x-oss-storage-class", "Standard")
    return out


def expected_md5(headers: dict[str, str]) -> bytes | None:
    """The digest in ``Content-MD5``, if any (``InvalidDigest`` when it is not 16 bytes of base64)."""
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise OssApiError(
            400, "InvalidDigest", "The Content-MD5 you specified is not valid.", ContentMD5=value
        )
    return digest


def check_md5(expected: bytes | None, actual: bytes | None) -> None:
    """Compare the received body's MD5 with ``Content-MD5`` (``InvalidDigest`` on a difference, as OSS)."""
    if expected is not None and expected != actual:
        raise OssApiError(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified did not match what we received.",
            ExpectedMD5=base64.b64encode(expected).decode(),
            CalculatedMD5=base64.b64encode(actual or b"").decode(),
        )


def forbid_overwrite(headers: dict[str, str]) -> bool:
    """Whether ``x-oss-forbid-overwrite: true`` was sent."""
    return headers.get("x-oss-forbid-overwrite", "").lower() == "true"


def etag_of(ex: Exchange, md5: bytes | None, crc: int) -> str:
    """The quoted ETag of a body: upper-case hex MD5, or hex CRC-64 in ``crc`` mode."""
    if ex.state.config.etag_mode == "md5" and md5 is not None:
        return f'"{md5.hex().upper()}"'
    return f'"{crc:016X}"'


def multipart_etag(parts: list[PartRecord]) -> str:
    """The ETag of a completed multipart object: MD5 of the parts' binary ETags, then ``-N``."""
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(bytes.fromhex(part.etag.strip('"')))
    return f'"{digest.hexdigest().upper()}-{len(parts)}"'


def normal_etag(value: str) -> str:
    """An ETag without quotes, upper-case, for comparisons."""
    return value.strip().strip('"').upper()


def int_param(ex: Exchange, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``low..high`` (``InvalidArgument`` otherwise)."""
    raw = ex.params.get(name)
    if raw is None or raw == "":
        return default
    if not is_decimal(raw) or not low <= int(raw) <= high:
        raise invalid_argument(f"{name} must be an integer from {low} to {high}.", name, raw)
    return int(raw)


def url_encoding_requested(ex: Exchange) -> bool:
    """Whether ``encoding-type=url`` was asked for (any other value is ``InvalidArgument``)."""
    value = ex.params.get("encoding-type")
    if value in (None, ""):
        return False
    if value != "url":
        raise invalid_argument("encoding-type must be 'url'.", "encoding-type", value or "")
    return True


def require_length(ex: Exchange, limit: int) -> None:
    """Demand a declared body length (``MissingContentLength``) within ``limit`` (``EntityTooLarge``)."""
    if not ex.body.declared:
        raise OssApiError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    if ex.body.length is not None and ex.body.length > limit:
        raise OssApiError(
            400,
            "EntityTooLarge",
            f"Your proposed upload exceeds the maximum allowed size ({limit} bytes).",
            MaxSizeAllowed=limit,
            ProposedSize=ex.body.length,
        )


@dataclass
class Received:
    """A request body saved to a temp file."""

    path: str
    size: int
    crc64: int
    md5: bytes | None


def receive_body(ex: Exchange, *, md5: bool, limit: int) -> Received:
    """Stream the request body to a temp file, computing its CRC-64 (and MD5 when asked)."""
    view = chunk_buffer()
    temp = ex.store.new_temp()
    hasher = hashlib.md5(usedforsecurity=False) if md5 else None
    crc = 0
    size = 0
    try:
        with open(temp, "wb", buffering=0) as f:
            while True:
                n = ex.body.readinto(view)
                if not n:
                    break
                chunk = view[:n]
                crc = crc64_mod.update(crc, chunk)
                if hasher is not None:
                    hasher.update(chunk)
                write_all(f, chunk)
                size += n
                if size > limit:
                    raise OssApiError(
                        400, "EntityTooLarge", f"Your upload exceeds {limit} bytes.", close=True
                    )
    except BaseException:
        ex.store.discard(temp)
        raise
    return Received(temp, size, crc, hasher.digest() if hasher is not None else None)


def want_md5(ex: Exchange, expected: bytes | None) -> bool:
    """Whether the body's MD5 is needed (for the ETag or to check ``Content-MD5``)."""
    return ex.state.config.etag_mode == "md5" or expected is not None


def upload_headers(
    ex: Exchange, etag: str, got: Received, meta: dict[str, str] | None = None
) -> dict[str, str]:
    """The response headers of a stored body: ETag, CRC-64, Content-MD5, encryption."""
    headers = {"ETag": etag, "x-oss-hash-crc64ecma": str(got.crc64)}
    if got.md5 is not None:
        headers["Content-MD5"] = base64.b64encode(got.md5).decode()
    headers.update(sse_headers(meta or {}))
    return headers


def sse_headers(meta: dict[str, str]) -> dict[str, str]:
    """The server-side encryption headers OSS echoes for an object or upload with this metadata."""
    names = (
        "x-oss-server-side-encryption",
        "x-oss-server-side-encryption-key-id",
        "x-oss-server-side-data-encryption",
    )
    return {name: meta[name] for name in names if name in meta}


def location(ex: Exchange, key: str) -> str:
    """The ``Location`` of an object in a CompleteMultipartUpload result."""
    if ex.target.virtual_hosted:
        return f"http://{ex.host}/{quote(key, safe='/')}"
    return f"http://{ex.host}/{ex.bucket}/{quote(key, safe='/')}"


def malformed(why: str = "") -> OssApiError:
    """``MalformedXML`` (400)."""
    message = "The XML you provided was not well-formed or did not validate against our published schema."
    return OssApiError(400, "MalformedXML", f"{message} {why}".strip())


_CHAR_REF_RE = re.compile(rb"&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});")
_RAW_CONTROL_RE = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f]")


def _is_xml_char(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _protect_control_refs(body: bytes) -> tuple[bytes, str]:
    """
    Replace character references to characters XML 1.0 forbids (``&#1;``: OSS accepts them in
    keys) by a placeholder that cannot occur in the body, to be restored after parsing.
    """
    marker = "ossctl" + secrets.token_hex(6)
    while marker.encode() in body:
        marker = "ossctl" + secrets.token_hex(6)
    if b"\x00" not in body:  # raw control characters too (oss2 writes them unescaped); not UTF-16
        body = _RAW_CONTROL_RE.sub(lambda m: f"{marker}.{m.group(0)[0]:x}.".encode(), body)

    def swap(match: re.Match[bytes]) -> bytes:
        text = match.group(1).decode("ascii")
        code = int(text[1:], 16) if text.startswith("x") else int(text)
        if code == 0 or code > 0x10FFFF or _is_xml_char(code):
            return match.group(0)  # &#0; is no character in any XML version: the parser refuses it
        return f"{marker}.{code:x}.".encode()

    return _CHAR_REF_RE.sub(swap, body), marker


def _restore_control_refs(root: ElementTree.Element, marker: str) -> None:
    pattern = re.compile(re.escape(marker) + r"\.([0-9a-f]+)\.")
    for element in root.iter():
        if element.text and marker in element.text:
            element.text = pattern.sub(lambda m: chr(int(m.group(1), 16)), element.text)


def parse_xml_body(body: bytes, root_tag: str) -> ElementTree.Element:
    """
    Parse a small XML request body whose root must be ``root_tag`` (``MalformedXML`` otherwise).
    Character references to control characters (``&#1;``) are accepted in text, as OSS does; ``&#0;``
    (a character no XML version has) is ``MalformedXML``.
    """
    body, marker = _protect_control_refs(body)
    refusal = xml_refusal(body)  # judged after decoding, whatever the document's encoding
    if refusal is not None:
        raise malformed(f"The body {refusal} (document type declarations are not accepted).")
    try:
        root = ElementTree.fromstring(body)  # noqa: S314  # no DTDs/entities (refused above)
    except ElementTree.ParseError:
        raise malformed() from None
    if root.tag != root_tag:
        raise malformed(f"The root element must be {root_tag}.")
    _restore_control_refs(root, marker)
    return root
