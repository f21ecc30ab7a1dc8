"""
:class:`LocalOssServer`: a strict OSS-compatible HTTP server on 127.0.0.1 for tests, benchmarks
and demos, run in a background thread (:meth:`LocalOssServer.start`) or in a child process
(:meth:`LocalOssServer.spawn`). Its control methods are clients of the HTTP control API under
``/_local/``, so they work the same for both, and from other processes too.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import IO, Any

from airflow_provider_oss.core.credentials import Credentials
from airflow_provider_oss.testing.callback_targets import DEFAULT_CALLBACK_HOSTS, parse_allowed
from airflow_provider_oss.testing.netaddr import is_loopback_host
from airflow_provider_oss.testing.routing import valid_bucket_name
from airflow_provider_oss.testing.server_control import LocalServerControl, LocalServerControlError
from airflow_provider_oss.testing.state import ETAG_MODES, ServerConfig, ServerState

__all__ = [
    "ENV_EXTRA_CREDENTIALS",
    "ENV_SECRET",
    "ENV_TOKEN",
    "READY_PREFIX",
    "LocalOssServer",
    "LocalServerControlError",
    "RemoteBindWarning",
]

#: Environment variables through which :meth:`LocalOssServer.spawn` hands secrets to the CLI
#: (never on the command line, where ``ps`` would show them).
ENV_SECRET = "OSS_LOCAL_ACCESS_KEY_SECRET"  # noqa: S105  # a variable name
ENV_TOKEN = "OSS_LOCAL_SECURITY_TOKEN"  # noqa: S105  # a variable name
ENV_EXTRA_CREDENTIALS = "OSS_LOCAL_EXTRA_CREDENTIALS"

READY_PREFIX = "OSS local server ready: "
_READY_RE = re.compile(r"endpoint=(\S+) region=(\S+) buckets=(\S*)")


class RemoteBindWarning(UserWarning):
    """The local server listens on an address other machines may reach."""


def _checked_callback_hosts(entries: Sequence[str]) -> tuple[str, ...]:
    """The ``callback_hosts`` entries, checked now (a ValueError names a malformed one)."""
    if isinstance(entries, str):
        raise TypeError("callback_hosts is a sequence of entries, not a single string.")
    parse_allowed(tuple(entries))
    return tuple(entries)


class LocalOssServer(LocalServerControl):
    """
    A local OSS-compatible server with strict V4/V1 signature checks, multipart uploads, CRC-64
    headers, fault injection and a request log. Its control methods (:meth:`add_fault`,
    :meth:`request_log`, :meth:`object_info`...) come from
    :class:`~airflow_provider_oss.testing.server_control.LocalServerControl`.

    :param access_key_id: the access key id clients sign with.
    :param access_key_secret: its secret (random when None; read it from :attr:`access_key_secret`).
    :param security_token: when set, requests signed with ``access_key_id`` must carry exactly this STS token.
    :param extra_credentials: more access key id -> secret pairs.
    :param region: the server's region; V4 signatures must be scoped to it.
    :param buckets: buckets to create at start.
    :param public_buckets: public-read buckets to create at start (anonymous GET/HEAD and listing).
    :param root_dir: where objects and parts are stored (a temp dir, removed at stop, when None).
    :param host: the address to listen on.
    :param port: the port (0 picks a free one).
    :param virtual_host_domain: ``Host: <bucket>.<domain>[:port]`` selects virtual-hosted addressing.
    :param default_bucket: the bucket of CNAME-style requests: a request whose first path segment is
        not an existing bucket addresses a key of this bucket (and ``GET /`` lists it, not the buckets).
    :param etag_mode: ``md5`` (quoted upper-case hex MD5, like OSS) or ``crc`` (cheap, for benchmarks).
    :param allow_v1: accept V1 (HMAC-SHA1) signatures.
    :param max_skew_seconds: how far a request's time may be from the server clock.
    :param tls_cert: serve HTTPS with this PEM certificate (in-process servers only; see
        :func:`airflow_provider_oss.testing.tls.make_self_signed_cert`).
    :param tls_key: the certificate's PEM private key.
    :param idle_timeout: seconds a connection may stay silent (TLS handshake included) before the
        server closes it.
    :param allow_remote: allow a ``host`` that is not a loopback address (the server then warns:
        anyone who can reach it can use the data with the configured keys).
    :param callback_hosts: where upload callbacks (``x-oss-callback``) may go: entries ``HOST`` or
        ``HOST:PORT`` (``[IPv6]:PORT``), HOST an address, a network (``10.0.0.0/8``), a host name or
        ``*``. The default allows loopback only; ``()`` allows none. The server itself (its own port)
        is never a callback target; a target not allowed answers 203 like one that cannot be reached.
    """

    def __init__(
        self,
        *,
        access_key_id: str = "local-access-key",
        access_key_secret: str | None = None,
        security_token: str | None = None,
        extra_credentials: Mapping[str, str] | None = None,
        region: str = "cn-hangzhou",
        buckets: Sequence[str] = ("test-bucket",),
        public_buckets: Sequence[str] = (),
        root_dir: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        virtual_host_domain: str = "oss-local.test",
        default_bucket: str | None = None,
        etag_mode: str = "md5",
        allow_v1: bool = True,
        max_skew_seconds: int = 900,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        idle_timeout: float = 120.0,
        allow_remote: bool = False,
        callback_hosts: Sequence[str] = DEFAULT_CALLBACK_HOSTS,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both tls_cert and tls_key.")
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be a positive number of seconds; got {idle_timeout!r}.")
        self.idle_timeout = float(idle_timeout)
        if etag_mode not in ETAG_MODES:
            raise ValueError(f"etag_mode must be one of {', '.join(ETAG_MODES)}; got {etag_mode!r}.")
        if not access_key_id:
            raise ValueError("access_key_id must not be empty.")
        if isinstance(buckets, str) or isinstance(public_buckets, str):
            raise TypeError("buckets and public_buckets are sequences of names, not a single string.")
        for name in [*buckets, *public_buckets, *([default_bucket] if default_bucket else [])]:
            if not valid_bucket_name(name):
                raise ValueError(
                    f"Invalid bucket name {name!r}: 3-63 lower-case letters, digits and hyphens, "
                    "starting and ending with a letter or digit."
                )
        if not is_loopback_host(host) and not allow_remote:
            raise ValueError(
                f"host {host!r} is not a loopback address: other machines could reach this test server. "
                "Pass allow_remote=True (oss-local-server --allow-remote) if that is what you want."
            )
        self.allow_remote = allow_remote
        self.callback_hosts = _checked_callback_hosts(callback_hosts)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535; got {port}.")
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret or secrets.token_urlsafe(24)
        self.security_token = security_token
        self._extra_credentials = dict(extra_credentials or {})
        self.region = region
        self.buckets = tuple(buckets)
        self.public_buckets = tuple(public_buckets)
        self.host = host
        self.port = port
        self.virtual_host_domain = virtual_host_domain
        self.default_bucket = default_bucket
        self.etag_mode = etag_mode
        self.allow_v1 = allow_v1
        self.max_skew_seconds = max_skew_seconds
        self._root_dir = root_dir
        self.root_dir: str | None = root_dir
        self._owns_root = False
        self._httpd: Any = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._attached = False

    def __repr__(self) -> str:
        return (
            f"LocalOssServer(endpoint={self.endpoint if self.running else None!r}, region={self.region!r}, "
            f"access_key_id={self.access_key_id!r}, buckets={list(self.buckets)!r})"
        )

    # -- facts -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between start/spawn/connect and stop."""
        return self._httpd is not None or self._process is not None or self._attached

    @property
    def _client_host(self) -> str:
        if self.host in ("", "0.0.0.0"):  # noqa: S104  # a wildcard listener is reached on loopback
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the endpoint clients use (path-style addressing)."""
        host = self._client_host
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"

    @property
    def credentials(self) -> Credentials:
        """The main access key (and STS token) as signing credentials."""
        return Credentials(self.access_key_id, self.access_key_secret, self.security_token)

    def virtual_host(self, bucket: str) -> str:
        """The ``Host`` header value that addresses ``bucket`` virtual-hosted on this server."""
        return f"{bucket}.{self.virtual_host_domain}:{self.port}"

    def _secrets(self) -> dict[str, str]:
        found = dict(self._extra_credentials)
        found[self.access_key_id] = self.access_key_secret
        return found

    def _config(self) -> ServerConfig:
        return ServerConfig(
            access_key_id=self.access_key_id,
            region=self.region,
            virtual_host_domain=self.virtual_host_domain,
            default_bucket=self.default_bucket,
            etag_mode=self.etag_mode,
            allow_v1=self.allow_v1,
            max_skew_seconds=self.max_skew_seconds,
            callback_hosts=self.callback_hosts,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LocalOssServer:
        """Serve from a background thread of this process; returns self."""
        from airflow_provider_oss.testing.httpd import OssHTTPServer

        if self.running:
            return self
        root = self._root_dir
        if root is None:
            root = tempfile.mkdtemp(prefix="oss-local-server-")
            self._owns_root = True
        self.root_dir = root
        tokens = {self.access_key_id: self.security_token} if self.security_token else {}
        try:
            state = ServerState(self._config(), self._secrets(), tokens, root)
            for name in self.buckets:
                state.store.create_bucket(name)
            for name in self.public_buckets:
                state.store.create_bucket(name, public_read=True)
            if self.default_bucket and not state.store.bucket_exists(self.default_bucket):
                state.store.create_bucket(self.default_bucket)
            context = None
            if self.tls_cert and self.tls_key:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(self.tls_cert, self.tls_key)
            httpd = OssHTTPServer(
                (self.host, self.port), state, tls_context=context, idle_timeout=self.idle_timeout
            )
        except BaseException:
            self._remove_root()
            raise
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        if not is_loopback_host(self.host):
            warnings.warn(
                f"The local OSS server listens on {self.host}:{self.port}, beyond loopback: anyone who "
                "can reach it can read and write its data with the configured access key. It is a test "
                "server, not a production service.",
                RemoteBindWarning,
                stacklevel=2,
            )
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="oss-local-server", daemon=True
        )
        self._thread.start()
        return self

    @classmethod
    def spawn(cls, *, startup_timeout: float = 30.0, **kwargs: Any) -> LocalOssServer:
        """
        Start a server in a child process (the ``oss-local-server`` CLI) and wait until it is ready.

        :param startup_timeout: seconds to wait for the ready line.
        :param kwargs: the same keyword arguments as the constructor.
        """
        server = cls(**kwargs)
        server._spawn(startup_timeout)
        return server

    @classmethod
    def connect(cls, endpoint: str, *, access_key_secret: str | None = None) -> LocalOssServer:
        """
        Attach to a server that is already running (started by another process: the CLI, a test
        driving an Airflow task subprocess...) to use its control methods. :meth:`stop` only
        detaches; it does not stop that server.

        :param endpoint: its ``http://127.0.0.1:PORT``.
        :param access_key_secret: its secret, if the caller knows it (the server never tells).
        """
        match = re.fullmatch(r"http://(\[[^\]]+\]|[^:/]+):(\d+)/?", endpoint)
        if match is None:
            raise ValueError(f"Expected an endpoint like http://127.0.0.1:PORT, got {endpoint!r}.")
        server = cls(access_key_secret=access_key_secret, buckets=())
        server.host = match.group(1).strip("[]")
        server.port = int(match.group(2))
        server._attached = True
        try:
            info = server.info()
        except BaseException:
            server._attached = False
            raise
        server.access_key_id = str(info["access_key_id"])
        server.region = str(info["region"])
        server.virtual_host_domain = str(info["virtual_host_domain"])
        server.default_bucket = info["default_bucket"]
        server.etag_mode = str(info["etag_mode"])
        server.allow_v1 = bool(info["allow_v1"])
        server.max_skew_seconds = int(info["max_skew_seconds"])
        server.callback_hosts = tuple(info.get("callback_hosts", DEFAULT_CALLBACK_HOSTS))
        server.buckets = tuple(info["buckets"])
        server.root_dir = str(info["root_dir"])
        return server

    def _cli_args(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "airflow_provider_oss.testing",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--region",
            self.region,
            "--access-key-id",
            self.access_key_id,
            "--virtual-host-domain",
            self.virtual_host_domain,
            "--etag-mode",
            self.etag_mode,
            "--max-skew-seconds",
            str(self.max_skew_seconds),
            "--idle-timeout",
            str(self.idle_timeout),
        ]
        for name in self.buckets:
            args += ["--bucket", name]
        if not self.buckets:
            args.append("--no-buckets")
        for name in self.public_buckets:
            args += ["--public-bucket", name]
        if self.default_bucket:
            args += ["--default-bucket", self.default_bucket]
        if self._root_dir:
            args += ["--data-dir", self._root_dir]
        if not self.allow_v1:
            args.append("--no-v1")
        if self.allow_remote:
            args.append("--allow-remote")
        if self.callback_hosts != DEFAULT_CALLBACK_HOSTS:
            args += ["--callback-host", ",".join(self.callback_hosts)]
        return args

    def _spawn(self, startup_timeout: float) -> None:
        if self.running:
            raise RuntimeError("This LocalOssServer is already running.")
        if self.tls_cert:
            raise ValueError("TLS is supported for in-process servers (start()), not spawn().")
        env = dict(os.environ)
        env[ENV_SECRET] = self.access_key_secret
        env.pop(ENV_TOKEN, None)
        if self.security_token:
            env[ENV_TOKEN] = self.security_token
        env[ENV_EXTRA_CREDENTIALS] = json.dumps(self._extra_credentials)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # kept open while the child runs
        process = subprocess.Popen(
            self._cli_args(), stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, env=env
        )
        self._process = process
        try:
            line = self._read_ready_line(process, startup_timeout)
        except BaseException:
            self.stop()
            raise
        match = _READY_RE.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(f"Unexpected ready line from the local OSS server: {line!r}")
        self.port = int(match.group(1).rsplit(":", 1)[1])
        self.root_dir = str(self._control("GET", "info")["root_dir"])

    def _read_ready_line(self, process: subprocess.Popen[bytes], timeout: float) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"The local OSS server did not get ready within {timeout} s.")
                if not selector.select(left):
                    continue
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    process.wait(5)
                    raise RuntimeError(
                        f"The local OSS server exited with code {process.returncode} before it was ready: "
                        f"{self._stderr_text()}"
                    )
                buffer += chunk
        line = buffer.split(b"\n", 1)[0].decode("utf-8", "replace")
        if not line.startswith(READY_PREFIX):
            raise RuntimeError(f"Unexpected output from the local OSS server: {line!r}")
        return line

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-4000:].decode("utf-8", "replace").strip()

    def stop(self) -> None:
        """Stop serving (and remove the temp root directory the server created)."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.state.stopping.set()
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
            if self._thread is not None:
                self._thread.join(10)
            self._thread = None
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._attached = False
        self._remove_root()

    def _remove_root(self) -> None:
        if self._owns_root and self.root_dir:
            shutil.rmtree(self.root_dir, ignore_errors=True)
        if self._owns_root:
            self.root_dir = None
        self._owns_root = False

    def __enter__(self) -> LocalOssServer:
        return self.start() if not self.running else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
