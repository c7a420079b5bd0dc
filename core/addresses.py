"""Public addresses: a host Parley is told to call must resolve only to global addresses.

A URL a webhook, a provider or a tenant names could point at Parley's own network (loopback,
private, link-local such as the cloud metadata service, multicast, reserved ranges). ``public``
resolves the host and refuses it if any address is not global, so callers connect to an
address that was checked rather than resolving again (DNS can change between the two).
"""

from __future__ import annotations

import ipaddress
import socket

from core.errors import ParleyError


class AddressRefused(ParleyError):
    """The host does not resolve, or resolves to an address that is not public."""


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve") from exc
    addresses = [str(address[0]) for *_, address in found]
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    return addresses


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    # ``is_global`` alone lets multicast through (224.0.0.0/4 is not in its private table).
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def public(host: str, port: int) -> list[str]:
    """``host``'s addresses, refused unless every one is public."""
    addresses = resolve(host, port)
    if not all(is_public(address) for address in addresses):
        raise AddressRefused(
            f"{host} points at a private address (loopback, private, link-local, multicast or"
            " reserved)"
        )
    return addresses
