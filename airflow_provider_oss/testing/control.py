"""
The control API under ``/_local/``: JSON in and out, unsigned, answered only to loopback clients.

=========  ================================  ===================================================
Method     Path                              Body / query -> answer
=========  ================================  ===================================================
GET        /_local/info                      -> endpoint facts (no secret)
GET        /_local/faults                    -> the fault rules with their counters
POST       /_local/faults                    ``{op, action, nth, times, ...}`` -> ``{"id": n}``
DELETE     /_local/faults                    remove every rule
GET        /_local/log                       -> the request log
DELETE     /_local/log                       clear the request log
GET / PUT  /_local/clock                     ``{"offset": seconds}``: the server clock runs ahead
GET        /_local/buckets                   -> the buckets
POST       /_local/buckets                   ``{"name", "public_read"}`` create (or update) a bucket
GET        /_local/object?bucket=&key=       -> the object's record (size, ETag, CRC, files...)
GET        /_local/object/data?bucket=&key=  -> the object's bytes
GET        /_local/object/file?bucket=&key=  -> ``{"path"}``: one file with its bytes (joined if need be)
GET        /_local/uploads?bucket=           -> in-progress multipart uploads with their parts
POST       /_local/uploads/expire            ``{"bucket", "upload_id"}``: abort, as a lifecycle rule would
=========  ================================  ===================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_oss.testing.apierror import OssApiError
from airflow_provider_oss.testing.body import framed_length
from airflow_provider_oss.testing.callback import CALLBACK_USER_AGENT
from airflow_provider_oss.testing.netaddr import is_loopback_host
from airflow_provider_oss.testing.routing import parse_query, split_host, valid_bucket_name
from airflow_provider_oss.testing.state import ServerState

_MAX_BODY = 1 << 20


class ControlError(Exception):
    """A control request that cannot be served: answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    try:
        length = framed_length(handler.headers)
    except OssApiError:
        length = None
    if length is None or length > _MAX_BODY:
        handler.close_connection = True
        raise ControlError(400, "A control request body needs a (single) Content-Length of at most 1 MiB.")
    return handler.rfile.read(length) if length > 0 else b""


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ControlError(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ControlError(400, "The body must be a JSON object.")
    return data


def _upload_dict(state: ServerState, bucket: str, upload_id: str) -> dict[str, Any]:
    upload = state.store.upload(bucket, upload_id)
    parts = state.store.parts(bucket, upload_id)
    return {
        "bucket": bucket,
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": upload.initiated,
        "parts": [{"part_number": p.number, "size": p.size, "etag": p.etag, "crc64": p.crc64} for p in parts],
    }


def _object_dict(state: ServerState, bucket: str, key: str) -> dict[str, Any]:
    record = state.store.get_object(bucket, key)
    return {
        "bucket": bucket,
        "key": record.key,
        "segments": len(record.segments),
        "files": [[segment.path, segment.size] for segment in record.segments],
        "size": record.size,
        "etag": record.etag,
        "crc64": record.crc64,
        "last_modified": record.last_modified,
        "object_type": record.object_type,
        "meta": dict(record.meta),
    }


def _info(state: ServerState, handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    address = handler.server.server_address
    assert isinstance(address, tuple)  # an AF_INET or AF_INET6 server
    host, port = address[:2]
    config = state.config
    return {
        "host": host,
        "port": port,
        "region": config.region,
        "access_key_id": config.access_key_id,
        "virtual_host_domain": config.virtual_host_domain,
        "default_bucket": config.default_bucket,
        "etag_mode": config.etag_mode,
        "allow_v1": config.allow_v1,
        "max_skew_seconds": config.max_skew_seconds,
        "callback_hosts": list(config.callback_hosts),
        "root_dir": state.store.root,
        "buckets": [b.name for b in state.store.buckets()],
        "clock_offset": state.clock_offset,
    }


@dataclass(frozen=True)
class _Call:
    """One control request: the server's state, the handler, its query and its body."""

    state: ServerState
    handler: BaseHTTPRequestHandler
    params: dict[str, str]
    raw: bytes


_FAULT_FIELDS = frozenset(
    {"op", "action", "nth", "times", "status", "code", "delay", "after_bytes", "part_number", "key"}
)


def _add_fault(call: _Call) -> tuple[int, Any]:
    spec = _json(call.raw)
    unknown = set(spec) - _FAULT_FIELDS
    if unknown:
        raise ControlError(400, f"Unknown fault fields: {', '.join(sorted(unknown))}.")
    try:
        return 200, {"id": call.state.faults.add(**spec)}
    except (TypeError, ValueError) as err:
        raise ControlError(400, str(err)) from None


def _clear_faults(call: _Call) -> tuple[int, Any]:
    call.state.faults.clear()
    return 200, {}


def _clear_log(call: _Call) -> tuple[int, Any]:
    call.state.clear_request_log()
    return 200, {}


def _clock(call: _Call) -> tuple[int, Any]:
    return 200, {"offset": call.state.clock_offset, "now": call.state.now()}


def _set_clock(call: _Call) -> tuple[int, Any]:
    offset = _json(call.raw).get("offset")
    if not isinstance(offset, int | float):
        raise ControlError(400, "The clock needs {'offset': seconds}.")
    call.state.clock_offset = float(offset)
    return _clock(call)


def _list_buckets(call: _Call) -> tuple[int, Any]:
    return 200, [
        {"name": b.name, "public_read": b.public_read, "created": b.created}
        for b in call.state.store.buckets()
    ]


def _create_bucket(call: _Call) -> tuple[int, Any]:
    spec = _json(call.raw)
    name = spec.get("name")
    if not isinstance(name, str) or not valid_bucket_name(name):
        raise ControlError(
            400,
            f"Invalid bucket name {name!r}: 3-63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit.",
        )
    call.state.store.create_bucket(name, public_read=bool(spec.get("public_read", False)))
    return 200, {"name": name}


def _object_address(call: _Call) -> tuple[str, str]:
    bucket, key = call.params.get("bucket", ""), call.params.get("key", "")
    if not bucket or not key:
        raise ControlError(400, "Give the object as ?bucket=...&key=...")
    return bucket, key


def _object(call: _Call) -> tuple[int, Any]:
    return 200, _object_dict(call.state, *_object_address(call))


def _object_file(call: _Call) -> tuple[int, Any]:
    return 200, {"path": call.state.store.object_file(*_object_address(call))}


def _object_data(call: _Call) -> tuple[int, Any]:
    _, reader = call.state.store.open_object(*_object_address(call))
    with reader:
        return 200, reader.read()


def _list_uploads(call: _Call) -> tuple[int, Any]:
    bucket = call.params.get("bucket", "")
    page = call.state.store.list_uploads(bucket, max_uploads=1 << 30)
    uploads = []
    for upload in page.items:
        try:
            uploads.append(_upload_dict(call.state, bucket, upload.upload_id))
        except OssApiError:
            continue  # completed or aborted meanwhile
    return 200, uploads


def _expire_upload(call: _Call) -> tuple[int, Any]:
    spec = _json(call.raw)
    call.state.store.abort_upload(str(spec.get("bucket", "")), str(spec.get("upload_id", "")))
    return 200, {}


_ROUTES: dict[tuple[str, str], Callable[[_Call], tuple[int, Any]]] = {
    ("GET", "info"): lambda call: (200, _info(call.state, call.handler)),
    ("GET", "faults"): lambda call: (200, call.state.faults.rules()),
    ("POST", "faults"): _add_fault,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "log"): lambda call: (200, call.state.request_log()),
    ("DELETE", "log"): _clear_log,
    ("GET", "clock"): _clock,
    ("PUT", "clock"): _set_clock,
    ("POST", "clock"): _set_clock,
    ("GET", "buckets"): _list_buckets,
    ("POST", "buckets"): _create_bucket,
    ("GET", "object"): _object,
    ("GET", "object/data"): _object_data,
    ("GET", "object/file"): _object_file,
    ("GET", "uploads"): _list_uploads,
    ("POST", "uploads/expire"): _expire_upload,
}


def _route(
    handler: BaseHTTPRequestHandler, state: ServerState, path: str, params: dict[str, str], raw: bytes
) -> tuple[int, Any]:
    method = handler.command
    action = _ROUTES.get((method, path))
    if action is None:
        raise ControlError(404, f"No control endpoint {method} /_local/{path}.")
    return action(_Call(state, handler, params, raw))


def _refusal(handler: BaseHTTPRequestHandler) -> str:
    """
    Why a control request is refused ("" when it is not): the client must be on loopback, and the
    ``Host`` (and ``Origin``, when a browser sends one) must name loopback, so that neither a web
    page's cross-site request nor a DNS-rebound name can drive the API.
    """
    if not is_loopback_host(str(handler.client_address[0])):
        return "The control API answers only loopback clients."
    if handler.headers.get("User-Agent", "").strip().lower() == CALLBACK_USER_AGENT:
        return "The control API does not answer upload callbacks."
    host = split_host(handler.headers.get("Host", ""))
    if not is_loopback_host(host):
        return f"The control API answers only requests for a loopback Host, not {host[:100]!r}."
    origin = handler.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname or ""):
            return f"The control API refuses cross-origin requests (Origin {origin[:100]!r})."
    return ""


def handle(handler: BaseHTTPRequestHandler, state: ServerState, raw_path: str, raw_query: str) -> None:
    """Serve one control request (not written to the request log)."""
    refusal = _refusal(handler)
    if refusal:
        handler.close_connection = True
        _send(handler, 403, {"error": refusal})
        return
    path = raw_path[len("/_local/") :].strip("/")
    params = dict(parse_query(raw_query))
    try:
        raw = _read_body(handler)
        status, payload = _route(handler, state, path, params, raw)
    except ControlError as err:
        _send(handler, err.status, {"error": str(err)})
        return
    except OssApiError as err:
        _send(handler, err.status, {"error": err.message, "code": err.code})
        return
    if isinstance(payload, bytes):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        return
    _send(handler, status, payload)
