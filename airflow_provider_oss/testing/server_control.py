"""
:class:`LocalServerControl`: the client side of the local server's HTTP control API under
``/_local/`` (fault rules, the request log, the clock, buckets, object records and bytes, uploads),
mixed into :class:`~airflow_provider_oss.testing.server.LocalOssServer`. It works the same for an
in-process, a spawned or an attached server, since it speaks HTTP.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_oss.core import crc64 as crc64_mod


class LocalServerControlError(RuntimeError):
    """A control API call failed (unknown bucket or object, invalid fault...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"local OSS server control API: HTTP {status}: {message}")
        self.status = status


class LocalServerControl:
    """
    The control API methods of a local OSS server. The class it is mixed into provides the
    address (:attr:`port`, :attr:`_client_host`), the TLS certificate (:attr:`tls_cert`) and
    :attr:`running`.
    """

    tls_cert: str | None
    port: int

    @property
    def running(self) -> bool:
        """True while there is a server to talk to (provided by the server class)."""
        raise NotImplementedError

    @property
    def _client_host(self) -> str:
        raise NotImplementedError

    def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        if not self.running:
            raise RuntimeError("The local OSS server is not running: call start() or spawn() first.")
        url = "/_local/" + path + ("?" + urlencode(params, quote_via=quote) if params else "")
        body = json.dumps(payload).encode("utf-8") if payload is not None else None
        conn: http.client.HTTPConnection
        if self.tls_cert:
            # The control API of our own loopback server, on the certificate this object was given.
            context = ssl.create_default_context(cafile=self.tls_cert)
            context.check_hostname = False
            conn = http.client.HTTPSConnection(self._client_host, self.port, timeout=60, context=context)
        else:
            conn = http.client.HTTPConnection(self._client_host, self.port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _control(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        status, data = self._request(method, path, payload, params)
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if status >= 400:
            message = (
                decoded.get("error") if isinstance(decoded, dict) else data[:200].decode("utf-8", "replace")
            )
            raise LocalServerControlError(status, str(message))
        return decoded

    def info(self) -> dict[str, Any]:
        """The server's settings as it reports them (no secret)."""
        return dict(self._control("GET", "info"))

    def add_fault(
        self,
        op: str = "*",
        action: str = "status",
        *,
        nth: int = 1,
        times: int = 1,
        status: int = 503,
        delay: float = 0.0,
        after_bytes: int | None = None,
        part_number: int | None = None,
        key: str | None = None,
        code: str | None = None,
    ) -> int:
        """
        Add a fault rule; rules are tried in the order they were added. A rule counts the requests
        that match ``op`` (``"*"`` for any), ``part_number`` and ``key`` from now on, and fires on the
        ``nth`` of them and the ``times - 1`` after it.

        :param op: an operation name such as ``UploadPart``, or ``*``.
        :param action: ``status`` (answer ``status`` with an OSS error, unprocessed), ``reset`` (TCP
            reset, after reading ``after_bytes`` of the body, or for GetObject after sending
            ``after_bytes`` of the object), ``delay`` (sleep ``delay`` seconds, then process),
            ``bad_crc`` (process, but answer a wrong ``x-oss-hash-crc64ecma``), ``expire_upload``
            (abort the request's upload, then answer ``NoSuchUpload``), ``corrupt`` (GetObject: send
            the object's bytes with the middle one flipped, as a damaged network path would) or
            ``drop_answer`` (process the request fully, then reset the connection instead of
            answering: an answer lost on the way), ``ignore_range`` (GetObject: answer 200 with the
            whole object, as a proxy that drops ``Range`` does) or ``portal`` (answer ``200 text/html``
            with a login page and no ``x-oss-request-id``, as a captive portal does).
        :param code: the OSS error code of a ``status`` fault (derived from ``status`` when None).
        :return: the rule's id.
        """
        spec = {
            "op": op,
            "action": action,
            "nth": nth,
            "times": times,
            "status": status,
            "delay": delay,
            "after_bytes": after_bytes,
            "part_number": part_number,
            "key": key,
            "code": code,
        }
        return int(self._control("POST", "faults", spec)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules with their ``seen`` and ``fired`` counters."""
        return list(self._control("GET", "faults"))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._control("DELETE", "faults")

    def request_log(self) -> list[dict[str, Any]]:
        """
        Every OSS request served so far, in the order they were answered: ``seq``, ``time`` (epoch
        seconds when it arrived, real clock), ``op``,
        ``method``, ``bucket``, ``key``, ``upload_id``, ``part_number``, ``bytes_received``, ``status``
        (0 when no answer was sent: reset or client gone), ``error_code``, ``fault``, plus
        ``request_id``, ``auth`` (``v4``, ``v4-presigned``, ``v1``, ``v1-presigned``, ``anonymous``),
        ``access_key_id``, ``range``, ``client_port`` (one per connection), ``duration`` (seconds).
        """
        return list(self._control("GET", "log"))

    def clear_request_log(self) -> None:
        """Forget the logged requests."""
        self._control("DELETE", "log")

    def set_clock_offset(self, seconds: float) -> None:
        """Make the server clock run ``seconds`` ahead of real time (negative: behind)."""
        self._control("PUT", "clock", {"offset": seconds})

    def create_bucket(self, name: str, *, public_read: bool = False) -> None:
        """Create a bucket (or change whether an existing one is public-read)."""
        self._control("POST", "buckets", {"name": name, "public_read": public_read})

    def object_info(self, bucket: str, key: str) -> dict[str, Any]:
        """
        An object's record: ``size``, ``etag``, ``crc64``, ``object_type``, ``meta``, ``segments``
        (how many files hold its bytes: a completed multipart upload keeps its parts as segments) and
        ``files`` (``[path, size]`` of each, in order).
        """
        return dict(self._control("GET", "object", params={"bucket": bucket, "key": key}))

    def object_path(self, bucket: str, key: str) -> str:
        """
        One file holding the object's bytes (a new file each time the object is rewritten). The
        segments of a multipart object are joined into one file first, a copy of every byte.
        """
        return str(self._control("GET", "object/file", params={"bucket": bucket, "key": key})["path"])

    def stored_crc64(self, bucket: str, key: str) -> int:
        """The CRC-64 of the bytes in the object's files on disk (read now, not the server's record)."""
        value = 0
        for path, size in self.object_info(bucket, key)["files"]:
            value = crc64_mod.combine(value, crc64_mod.crc64_of_file(path, 0, size), size)
        return value

    def object_bytes(self, bucket: str, key: str) -> bytes:
        """The object's bytes (read it from :meth:`object_path` for big objects)."""
        status, data = self._request("GET", "object/data", params={"bucket": bucket, "key": key})
        if status >= 400:
            try:
                message = json.loads(data).get("error", "")
            except ValueError:
                message = ""
            raise LocalServerControlError(status, str(message))
        return data

    def list_uploads(self, bucket: str) -> list[dict[str, Any]]:
        """In-progress multipart uploads: ``key``, ``upload_id``, ``initiated``, ``parts`` (list of dicts)."""
        return list(self._control("GET", "uploads", params={"bucket": bucket}))

    def expire_upload(self, bucket: str, upload_id: str) -> None:
        """Abort an upload as a bucket lifecycle rule would (its parts are deleted)."""
        self._control("POST", "uploads/expire", {"bucket": bucket, "upload_id": upload_id})
