"""
:class:`UploadCallback`: OSS's upload callback, the ``x-oss-callback`` and ``x-oss-callback-var``
headers of PutObject and CompleteMultipartUpload.

After storing the object, OSS POSTs ``callbackBody`` (its ``${...}`` variables substituted) to
``callbackUrl`` and answers the upload with the callback server's answer body (HTTP 200), or with
HTTP 203 ``CallbackFailed`` when the callback failed: the object is stored either way, and OSS never
retries a callback. Both headers are base64 of a JSON object; being ``x-oss-*`` headers they are
signed, in V4 and V1 alike.

Everything is checked here, before any byte is sent, with messages naming the field to fix. The
callback URL may carry a token in its query string or user info: :meth:`UploadCallback.describe`
(what logs and errors show) leaves both out, and ``repr`` does too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_oss.core.errors import OssClientError

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
#: The body types OSS accepts for ``callbackBodyType``.
BODY_TYPES = (FORM, JSON)
#: The most URLs ``callbackUrl`` may list, separated by ``;`` (OSS tries them in turn).
MAX_URLS = 5
#: OSS's system variables of ``callbackBody`` (``${bucket}``...); custom ones are ``${x:name}``.
SYSTEM_VARIABLES = frozenset(
    {
        "bucket",
        "object",
        "etag",
        "size",
        "mimeType",
        "crc64",
        "contentMd5",
        "imageInfo.height",
        "imageInfo.width",
        "imageInfo.format",
        "vpcId",
        "clientIp",
        "reqId",
        "operation",
    }
)
_KEYS = {
    "callbackUrl": "url",
    "callbackHost": "host",
    "callbackBody": "body",
    "callbackBodyType": "body_type",
    "callbackSNI": "sni",
}
_VAR_NAME = re.compile(r"^x:[a-z0-9_.\-]+$")


class CallbackConfigError(OssClientError):
    """An upload callback that OSS would refuse (or that would silently lose a value); the message names the field."""


def body_variables(body: str) -> list[str]:
    """
    The ``${name}`` variables of a ``callbackBody``, in order.

    :raises CallbackConfigError: for a ``$`` not followed by ``{`` or a ``${`` never closed (OSS:
        "Left brace must be adjacent to dollar sign").
    """
    names: list[str] = []
    position = 0
    while True:
        dollar = body.find("$", position)
        if dollar < 0:
            return names
        if body[dollar + 1 : dollar + 2] != "{":
            raise CallbackConfigError(
                f"callbackBody has a '$' not followed by '{{' at character {dollar} ({body[dollar : dollar + 12]!r}): "
                "OSS refuses it (a variable is written ${name}, e.g. ${object} or ${x:my_var})."
            )
        end = body.find("}", dollar + 2)
        if end < 0:
            raise CallbackConfigError(f"callbackBody has a '${{' never closed by '}}' at character {dollar}.")
        names.append(body[dollar + 2 : end])
        position = end + 1


def _decode_json(value: str, what: str) -> Any:
    """``value`` as JSON text, or as base64 of JSON text (the header's own form)."""
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise CallbackConfigError(
                f"{what} must be a dict, a JSON object or base64 of a JSON object; got a string that is none of them."
            ) from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise CallbackConfigError(f"{what} is not valid JSON: {err}.") from None


def _b64_json(value: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(dict(value), separators=(",", ":")).encode("utf-8")).decode("ascii")


def describe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of a callback URL: never its query string or user info (tokens live there)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or "?"
    port = f":{parts.port}" if _port(parts) is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def url_secrets(callback: UploadCallback) -> list[str]:
    """The parts of the callback URL(s) that may be secrets (query strings, passwords), to mask in logs."""
    found = []
    for url in callback.urls:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        found += [value for value in (parts.query, parts.password) if value]
    return found


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _check_url(url: str) -> None:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise CallbackConfigError(
            f"callbackUrl {describe_url(url)!r} has a port that is not a number from 0 to 65535."
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackConfigError(
            f"callbackUrl must be an http:// or https:// URL with a host; got {describe_url(url)!r}."
        )


@dataclass(frozen=True)
class UploadCallback:
    """
    The upload callback of one PutObject or CompleteMultipartUpload.

    :param url: ``callbackUrl``: the URL OSS POSTs to, or up to 5 separated by ``;`` (tried in turn).
    :param body: ``callbackBody``, with OSS's variables (``${bucket}``, ``${object}``, ``${etag}``,
        ``${size}``, ``${mimeType}``, ``${crc64}``...) and custom ones (``${x:name}``).
    :param host: ``callbackHost``: the Host header of the callback request (default: the URL's host).
    :param body_type: ``callbackBodyType``: ``application/x-www-form-urlencoded`` (the default;
        values are URL-encoded) or ``application/json`` (values are JSON strings).
    :param sni: ``callbackSNI``: send the SNI of ``host`` on an https callback.
    :param variables: the custom variables (``x-oss-callback-var``): names start with ``x:`` and are
        lower case, values are strings.
    :raises CallbackConfigError: (a ``ValueError``) naming the field to fix.
    """

    url: str
    body: str
    host: str | None = None
    body_type: str = FORM
    sni: bool | None = None
    variables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise CallbackConfigError(
                "The upload callback needs callbackUrl: the http(s) URL that OSS POSTs to after storing the object."
            )
        urls = self.urls
        if len(urls) > MAX_URLS:
            raise CallbackConfigError(f"callbackUrl lists {len(urls)} URLs; OSS accepts at most {MAX_URLS}.")
        for url in urls:
            _check_url(url)
        if not isinstance(self.body, str) or not self.body:
            raise CallbackConfigError(
                "The upload callback needs callbackBody, e.g. 'bucket=${bucket}&object=${object}&etag=${etag}'."
            )
        if self.host is not None and (not isinstance(self.host, str) or not self.host.strip()):
            raise CallbackConfigError(
                f"callbackHost must be a non-empty host name or left out; got {self.host!r}."
            )
        if self.body_type not in BODY_TYPES:
            raise CallbackConfigError(
                f"callbackBodyType must be {FORM!r} or {JSON!r}; got {self.body_type!r}."
            )
        if self.sni is not None and not isinstance(self.sni, bool):
            raise CallbackConfigError(f"callbackSNI must be true or false; got {self.sni!r}.")
        self._check_variables()

    def _check_variables(self) -> None:
        if not isinstance(self.variables, Mapping):
            raise CallbackConfigError(
                f"callback_var must be a dict of 'x:name' to string; got {self.variables!r}."
            )
        for name, value in self.variables.items():
            if not isinstance(name, str) or not _VAR_NAME.match(name):
                raise CallbackConfigError(
                    f"callback_var name {name!r} is not one OSS accepts: a custom variable's name starts with 'x:' "
                    "and is lower case (letters, digits, '_', '-', '.'), e.g. 'x:my_var'."
                )
            if not isinstance(value, str):
                raise CallbackConfigError(
                    f"callback_var {name!r} must be a string; got {type(value).__name__} {value!r}."
                )
        for name in body_variables(self.body):
            if name.startswith("x:"):
                if name not in self.variables:
                    raise CallbackConfigError(
                        f"callbackBody uses ${{{name}}} but callback_var gives no {name!r}: OSS would send it empty. "
                        f"Add {name!r} to callback_var or remove it from callbackBody."
                    )
            elif name not in SYSTEM_VARIABLES:
                raise CallbackConfigError(
                    f"callbackBody uses ${{{name}}}, which is neither an OSS variable ({', '.join(sorted(SYSTEM_VARIABLES))}) "
                    "nor a custom one (${x:name})."
                )

    @classmethod
    def parse(cls, callback: Any, callback_var: Any = None) -> UploadCallback | None:
        """
        Build the callback from what a user gives: a dict with OSS's keys (``callbackUrl``,
        ``callbackBody``, ``callbackHost``, ``callbackBodyType``, ``callbackSNI``), its JSON text, or
        the base64 header value; ``callback_var`` likewise (a dict of ``x:name`` to string). An
        :class:`UploadCallback` is returned as it is; None (no callback) gives None.

        :raises CallbackConfigError: naming what to fix (also for a ``callback_var`` without ``callback``).
        """
        if callback is None:
            if callback_var:
                raise CallbackConfigError("callback_var was given without callback: give the callback too.")
            return None
        if isinstance(callback, UploadCallback):
            if callback_var is None:
                return callback
            return cls(**{**callback.__dict__, "variables": cls._parse_variables(callback_var)})
        spec = _decode_json(callback, "callback") if isinstance(callback, str) else callback
        if not isinstance(spec, Mapping):
            raise CallbackConfigError(
                f"callback must be a dict with callbackUrl and callbackBody; got {type(spec).__name__}."
            )
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise CallbackConfigError(
                f"callback has unknown field(s) {', '.join(map(repr, unknown))}; OSS's fields are {', '.join(_KEYS)}."
            )
        fields = {_KEYS[name]: value for name, value in spec.items() if value is not None}
        fields.setdefault("url", "")
        fields.setdefault("body", "")
        if callback_var is not None:
            fields["variables"] = cls._parse_variables(callback_var)
        return cls(**fields)

    @staticmethod
    def _parse_variables(value: Any) -> dict[str, str]:
        spec = _decode_json(value, "callback_var") if isinstance(value, str) else value
        if not isinstance(spec, Mapping):
            raise CallbackConfigError(
                f"callback_var must be a dict of 'x:name' to string; got {type(spec).__name__}."
            )
        return dict(spec)

    @property
    def urls(self) -> list[str]:
        """The URLs of ``callbackUrl``, in the order OSS tries them."""
        return [url.strip() for url in self.url.split(";") if url.strip()]

    def to_spec(self) -> dict[str, Any]:
        """The ``x-oss-callback`` JSON object (OSS's field names)."""
        spec: dict[str, Any] = {
            "callbackUrl": self.url,
            "callbackBody": self.body,
            "callbackBodyType": self.body_type,
        }
        if self.host is not None:
            spec["callbackHost"] = self.host
        if self.sni is not None:
            spec["callbackSNI"] = self.sni
        return spec

    def headers(self) -> dict[str, str]:
        """The request headers: ``x-oss-callback`` and, with variables, ``x-oss-callback-var``."""
        headers = {"x-oss-callback": _b64_json(self.to_spec())}
        if self.variables:
            headers["x-oss-callback-var"] = _b64_json(self.variables)
        return headers

    def describe(self) -> str:
        """The callback URL(s) for logs and errors, without query strings or user info."""
        return ";".join(describe_url(url) for url in self.urls)

    def __repr__(self) -> str:
        return f"UploadCallback(url={self.describe()!r}, body_type={self.body_type!r}, variables={sorted(self.variables)!r})"


def decode_answer(body: bytes | None) -> Any:
    """
    The callback server's answer as OSS relayed it: the JSON value when it is JSON (OSS requires
    it), else the text (``None`` for an empty body).
    """
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
