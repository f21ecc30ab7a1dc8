"""Small helpers to write OSS XML response bodies and to format OSS timestamps."""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import formatdate
from urllib.parse import quote
from xml.sax.saxutils import escape

from airflow_provider_oss.testing.apierror import OssApiError

XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
OWNER_ID = "1234567890123456"


def iso_time(epoch: float) -> str:
    """
    ``2024-06-01T08:30:00.000Z``: the form of ``LastModified`` and ``ServerTime`` in OSS XML. OSS
    gives whole seconds with ``.000``, and oss2 accepts nothing else.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(epoch)))


def http_time(epoch: float) -> str:
    """An RFC 7231 date for ``Date`` and ``Last-Modified`` headers."""
    return formatdate(epoch, usegmt=True)


def el(name: str, value: object) -> str:
    """One element with escaped text."""
    return f"<{name}>{escape(str(value))}</{name}>"


def url_encode(text: str, enabled: bool) -> str:
    """Apply ``encoding-type=url`` to a key or prefix when ``enabled``."""
    return quote(text, safe="/") if enabled else text


def document(root: str, children: Iterable[str]) -> bytes:
    """A whole XML document with one root element."""
    return (XML_HEADER + f"<{root}>" + "".join(children) + f"</{root}>").encode("utf-8")


def owner() -> str:
    """The ``Owner`` element of list results."""
    return "<Owner>" + el("ID", OWNER_ID) + el("DisplayName", OWNER_ID) + "</Owner>"


def error_document(err: OssApiError, request_id: str, host_id: str) -> bytes:
    """The OSS error body: ``Error/{Code,Message,RequestId,HostId,...details,EC}``."""
    children = [el("Code", err.code), el("Message", err.message), el("RequestId", request_id)]
    children.append(el("HostId", host_id))
    children += [el(name, value) for name, value in err.details.items()]
    children.append(el("EC", err.ec))
    return document("Error", children)
