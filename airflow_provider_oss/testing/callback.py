"""
The local server's upload callback (``x-oss-callback`` / ``x-oss-callback-var`` on PutObject and
CompleteMultipartUpload), as OSS performs it.

The headers are checked before the object is stored (``InvalidArgument``, 400). After storing, the
server POSTs the body (its ``${...}`` variables substituted: URL-encoded for a form body, as JSON
strings for a JSON body) to each ``callbackUrl`` in turn until one answers 200 with a JSON body of at
most 1 MiB. The whole callback has one 5-second deadline (a receiver that trickles its answer does
not hold the upload longer). The upload is then answered 200 with that body; otherwise 203
``CallbackFailed`` with OSS's messages, the object staying stored. Unlike OSS, the callback request
carries no ``Authorization``/``x-oss-pub-key-url`` signature (nothing here holds OSS's RSA key).

Callbacks go only to the targets the server's operator allows
(:mod:`~airflow_provider_oss.testing.callback_targets`); a target that is not allowed is answered
exactly like one that cannot be reached (and logged for the operator), so a client learns nothing
about the host's ports from it. Every callback request carries ``User-Agent: aliyun-oss-callback``,
which the server's control API refuses.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import json
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow_provider_oss.testing.apierror import OssApiError, invalid_argument
from airflow_provider_oss.testing.callback_targets import allowed_addresses

if TYPE_CHECKING:
    from airflow_provider_oss.testing.exchange import Exchange

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
#: Seconds OSS waits for the callback server.
CALLBACK_TIMEOUT = 5.0
#: The largest callback answer OSS relays.
MAX_CALLBACK_ANSWER = 1 << 20
#: The ``User-Agent`` of callback requests (the control API refuses it).
CALLBACK_USER_AGENT = "aliyun-oss-callback"
_VAR_NAME = re.compile(r"^x:[a-z0-9_.\-]+$")
#: A ``callbackHost``: a host name or address, optionally with a port (no spaces, no control characters).
_CALLBACK_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+)(:[0-9]{1,5})?$")
_CANNOT_CONNECT = "Error status : -1.OSS can not connect to your callbackUrl, please check it."
_TOO_LONG = "Cost too long time."
log = logging.getLogger(__name__)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class CallbackRequest:
    """A checked ``x-oss-callback`` (and ``x-oss-callback-var``) of one upload request."""

    urls: list[str]
    host: str | None
    body: str
    body_type: str
    variables: dict[str, str]


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback server answered: ``ok`` with its body, or OSS's failure message."""

    ok: bool
    body: bytes = b""
    message: str = ""


def _decode(value: str, header: str) -> Any:
    try:
        return json.loads(base64.b64decode(value.strip(), validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument(
            f"The {header} is not a base64 encoded json string.", header, value[:64]
        ) from None


def _check_syntax(body: str) -> None:
    position = 0
    while (dollar := body.find("$", position)) >= 0:
        if body[dollar + 1 : dollar + 2] != "{":
            raise invalid_argument("Left brace must be adjacent to dollar sign.", "callbackBody", body)
        end = body.find("}", dollar)
        if end < 0:
            raise invalid_argument("Right brace is missing.", "callbackBody", body)
        position = end + 1


def read_callback(ex: Exchange) -> CallbackRequest | None:
    """
    The request's callback, checked as OSS checks it before storing anything; None without one
    (no header, or an empty ``callbackUrl``, which OSS reads as no callback).

    :raises OssApiError: ``InvalidArgument`` (400) for a header OSS refuses.
    """
    raw = ex.headers.get("x-oss-callback")
    if raw is None:
        return None
    spec = _decode(raw, "callback")
    if not isinstance(spec, dict):
        raise invalid_argument("The callback must be a json object.", "callback")
    url = spec.get("callbackUrl")
    if not url:
        return None
    urls = _check_urls(url)
    body = spec.get("callbackBody")
    if not isinstance(body, str) or not body:
        raise invalid_argument("The callbackBody is empty.", "callbackBody")
    _check_syntax(body)
    body_type = spec.get("callbackBodyType") or FORM
    if body_type not in (FORM, JSON):
        raise invalid_argument("The callbackBodyType is invalid.", "callbackBodyType", str(body_type))
    host = spec.get("callbackHost")
    if host is not None and host != "" and not (isinstance(host, str) and _CALLBACK_HOST.match(host)):
        raise invalid_argument("The callbackHost is invalid.", "callbackHost", str(host)[:64])
    variables = _read_variables(ex.headers.get("x-oss-callback-var"))
    return CallbackRequest(urls, host or None, body, body_type, variables)


def _check_urls(url: Any) -> list[str]:
    """The URLs of a ``callbackUrl`` (at most 5, each http(s) with a host), or ``InvalidArgument``."""
    if not isinstance(url, str):
        raise invalid_argument("The callbackUrl is invalid.", "callbackUrl", str(url))
    urls = [u.strip() for u in url.split(";") if u.strip()]
    if len(urls) > 5:
        raise invalid_argument("The callbackUrl has too many urls.", "callbackUrl")
    for each in urls:
        if not each.isascii() or not each.isprintable() or " " in each:
            raise invalid_argument("The callbackUrl is invalid.", "callbackUrl")
        parts = urlsplit(each if "://" in each else f"http://{each}")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise invalid_argument("The callbackUrl is invalid.", "callbackUrl") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid_argument("The callbackUrl is invalid.", "callbackUrl")
    return urls


def _read_variables(raw: str | None) -> dict[str, str]:
    """The ``x-oss-callback-var`` variables (names ``x:`` and lower case, values strings), or ``InvalidArgument``."""
    if raw is None:
        return {}
    decoded = _decode(raw, "callback-var")
    if not isinstance(decoded, dict):
        raise invalid_argument("The callback-var must be a json object.", "callback-var")
    for name, value in decoded.items():
        if not _VAR_NAME.match(name) or not isinstance(value, str):
            raise invalid_argument(
                "The callback-var key must start with x: and be lower case, its value a string.",
                "callback-var",
                name,
            )
    return dict(decoded)


def render_body(callback: CallbackRequest, values: dict[str, str]) -> bytes:
    """The callback body with every ``${name}`` replaced (unknown names by an empty value)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = callback.variables.get(name, "") if name.startswith("x:") else values.get(name, "")
        return json.dumps(value) if callback.body_type == JSON else quote(value, safe="")

    return _VARIABLE.sub(substitute, callback.body).encode("utf-8")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address that verifies the certificate of the URL's host name."""

    def __init__(self, address: str, port: int | None, server_name: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(address, port, timeout=timeout, context=self._tls)
        self._server_name = server_name

    def connect(self) -> None:
        """Connect to the checked address, then TLS with the URL's host name (SNI and verification)."""
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_name)


def _connect(
    url: str, deadline: float, own: tuple[str, int], allowed: tuple[str, ...]
) -> http.client.HTTPConnection | None:
    """
    A connection to one of ``url``'s checked addresses (each tried in turn, as a client does), or
    None when the allow-list does not allow the URL.

    :raises OSError: when no address could be connected.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    hostname = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = allowed_addresses(hostname, port, allowed, own)
    if not addresses:
        log.warning(
            "The local OSS server did not send an upload callback to %s:%s: it is the server itself, does "
            "not resolve, or is not in the server's callback_hosts (oss-local-server --callback-host).",
            hostname,
            port,
        )
        return None
    failure: OSError = ConnectionError(f"no address of {hostname}")
    for address in addresses:
        timeout = max(deadline - time.monotonic(), 0.001)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = _PinnedHTTPSConnection(str(address), port, hostname, timeout)
        else:
            connection = http.client.HTTPConnection(str(address), port, timeout=timeout)
        try:
            connection.connect()
        except OSError as err:
            connection.close()
            failure = err
            continue
        return connection
    raise failure


def _cut(connection: http.client.HTTPConnection, fired: threading.Event) -> None:
    """The deadline passed: end whatever the connection is waiting for."""
    fired.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _post(
    url: str,
    callback: CallbackRequest,
    body: bytes,
    deadline: float,
    own: tuple[str, int],
    allowed: tuple[str, ...],
) -> CallbackOutcome:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        connection = _connect(url, deadline, own, allowed)
    except OSError as err:
        return CallbackOutcome(False, message=_TOO_LONG if isinstance(err, TimeoutError) else _CANNOT_CONNECT)
    if connection is None:
        return CallbackOutcome(False, message=_CANNOT_CONNECT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": callback.body_type,
        "Content-Length": str(len(body)),
        "Host": callback.host or parts.netloc,
        "User-Agent": CALLBACK_USER_AGENT,
    }
    fired = threading.Event()
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _cut, (connection, fired))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(MAX_CALLBACK_ANSWER + 1)
    except (OSError, http.client.HTTPException, ValueError) as err:
        late = isinstance(err, TimeoutError) or fired.is_set()
        return CallbackOutcome(False, message=_TOO_LONG if late else _CANNOT_CONNECT)
    finally:
        watchdog.cancel()
        connection.close()
    if fired.is_set():  # cut at the deadline part-way through the answer
        return CallbackOutcome(False, message=_TOO_LONG)
    return _judge(response.status, answer)


def _judge(status: int, answer: bytes) -> CallbackOutcome:
    """What OSS makes of a callback server's whole answer (at most one byte over the limit read)."""
    if status != 200:
        return CallbackOutcome(False, message=f"Error status : {status}.")
    if len(answer) > MAX_CALLBACK_ANSWER:
        return CallbackOutcome(
            False, message="Error status : 400.User server return too long content-length value."
        )
    try:
        json.loads(answer)
    except ValueError:
        return CallbackOutcome(False, message="Response body is not valid json format.")
    return CallbackOutcome(True, body=answer)


def fire(
    callback: CallbackRequest, values: dict[str, str], *, own: tuple[str, int], allowed: tuple[str, ...]
) -> CallbackOutcome:
    """
    POST the callback to each URL in turn until one succeeds, all within one
    :data:`CALLBACK_TIMEOUT`; the last failure otherwise.

    :param own: the server's listening address and port (never a callback target).
    :param allowed: the operator's allow-list (see :mod:`~airflow_provider_oss.testing.callback_targets`).
    """
    body = render_body(callback, values)
    deadline = time.monotonic() + CALLBACK_TIMEOUT
    outcome = CallbackOutcome(False, message="Error status : -1.")
    for url in callback.urls:
        if time.monotonic() >= deadline:
            return CallbackOutcome(False, message=_TOO_LONG)
        outcome = _post(url, callback, body, deadline, own, allowed)
        if outcome.ok:
            break
    return outcome


def respond_after_callback(
    ex: Exchange, callback: CallbackRequest, values: dict[str, str], headers: dict[str, str]
) -> None:
    """
    Fire ``callback`` for the stored object and answer the upload: 200 with the callback server's
    body, or 203 ``CallbackFailed`` (the object stays stored), both with the object's ``headers``.

    :param values: the system variables (``bucket``, ``object``, ``etag``, ``size``...).
    :param headers: the upload's response headers (ETag, CRC-64...).
    """
    address = ex.handler.server.server_address
    assert isinstance(address, tuple)  # an AF_INET or AF_INET6 server
    own = (str(address[0]), int(address[1]))
    outcome = fire(callback, values, own=own, allowed=ex.state.config.callback_hosts)
    if outcome.ok:
        ex.respond(200, {**headers, "Content-Type": "application/json"}, outcome.body)
        return
    err = OssApiError(203, "CallbackFailed", outcome.message)
    err.headers.update(headers)
    ex.respond_error(err)


def system_values(
    ex: Exchange, *, etag: str, size: int, crc64: int, mime_type: str, content_md5: str = ""
) -> dict[str, str]:
    """The system variables of a stored object (``${bucket}``, ``${object}``, ``${etag}``...)."""
    return {
        "bucket": ex.bucket,
        "object": ex.key,
        "etag": etag.strip('"'),
        "size": str(size),
        "mimeType": mime_type,
        "crc64": str(crc64),
        "contentMd5": content_md5,
        "reqId": ex.request_id,
        "operation": ex.op,
        "clientIp": str(ex.handler.client_address[0]),
    }
