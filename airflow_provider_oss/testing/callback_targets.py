"""
Where the local server's upload callback may go: the operator's allow-list (``callback_hosts`` of
:class:`~airflow_provider_oss.testing.LocalOssServer`, ``--callback-host`` of the CLI), and never
the server itself.

An entry is ``HOST`` (any port) or ``HOST:PORT`` (``[IPv6]:PORT`` for an IPv6 address), where HOST
is an IP address, a network (``10.0.0.0/8``), a host name matched as written, or ``*`` (any host).
The default, :data:`DEFAULT_CALLBACK_HOSTS`, allows loopback only. A callback URL's host name is
resolved once; every address it resolves to must be allowed, and the callback connects to the
address that was checked (a name cannot be re-resolved elsewhere in between). A target on the
server's own port on loopback, on the server's address, or anywhere when the server listens on a
wildcard address, is refused whatever the list says.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Loopback only: a test's or a demo's callback receiver on this machine.
DEFAULT_CALLBACK_HOSTS = ("127.0.0.0/8", "::1", "localhost")


@dataclass(frozen=True)
class AllowedTarget:
    """One allow-list entry: a network or a host name (neither: any host), and a port (None: any)."""

    network: IPNetwork | None
    name: str | None
    port: int | None

    def admits(self, name: str, addresses: Sequence[IPAddress], port: int) -> bool:
        """Whether a URL host ``name`` that resolved to ``addresses``, on ``port``, is this entry's."""
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return self.name == name
        network = self.network
        return network is None or all(address in network for address in addresses)


def _parse_entry(entry: str) -> AllowedTarget:
    text = entry.strip()
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"callback host {entry!r}: expected [IPv6]:PORT")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"callback host {entry!r}: the port is not a number")
        port = int(port_text)
    else:
        host = text
    if not host or (port is not None and not 0 < port < 65536):
        raise ValueError(f"callback host {entry!r}: expected HOST, HOST:PORT, a network or *")
    if host == "*":
        return AllowedTarget(None, None, port)
    try:
        return AllowedTarget(ipaddress.ip_network(host, strict=False), None, port)
    except ValueError:
        return AllowedTarget(None, host.lower(), port)


@functools.lru_cache(maxsize=16)
def parse_allowed(entries: tuple[str, ...]) -> tuple[AllowedTarget, ...]:
    """
    The allow-list ``entries`` as targets.

    :raises ValueError: for an entry that is not ``HOST``, ``HOST:PORT``, a network or ``*``.
    """
    return tuple(_parse_entry(entry) for entry in entries)


def _plain(address: IPAddress) -> IPAddress:
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def resolve(name: str, port: int) -> list[IPAddress]:
    """The addresses ``name`` resolves to (an IP literal: itself); empty when it does not resolve."""
    try:
        return [_plain(ipaddress.ip_address(name))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        address = _plain(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        if address not in found:
            found.append(address)
    return found


def is_the_server(address: IPAddress, port: int, own: tuple[str, int]) -> bool:
    """Whether ``address:port`` reaches the server listening on ``own`` (its host and port)."""
    own_host, own_port = own
    if port != own_port:
        return False
    try:
        listening = _plain(ipaddress.ip_address(own_host.split("%", 1)[0] or "0.0.0.0"))  # noqa: S104
    except ValueError:
        return True  # a named listener: refuse its port everywhere
    return address.is_loopback or address == listening or listening.is_unspecified


def allowed_addresses(
    name: str, port: int, entries: tuple[str, ...], own: tuple[str, int]
) -> list[IPAddress]:
    """
    The addresses a callback to ``name:port`` may connect to, in resolution order; empty when the
    allow-list ``entries`` does not allow it (or it is the server itself, or it does not resolve).
    """
    addresses = resolve(name, port)
    if not addresses or any(is_the_server(address, port, own) for address in addresses):
        return []
    if not any(target.admits(name.lower(), addresses, port) for target in parse_allowed(entries)):
        return []
    return addresses
