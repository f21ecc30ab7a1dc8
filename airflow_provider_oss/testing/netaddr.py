"""Which addresses and ``Host`` names are this machine's loopback (IPv4-mapped IPv6 included)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """
    Whether an address or host name is loopback: ``127.0.0.0/8``, ``::1``, ``::ffff:127.0.0.1``
    (an IPv4 client of a dual-stack listener), ``localhost``; brackets and a zone are ignored.
    """
    name = host.strip().strip("[]").split("%", 1)[0].lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))
