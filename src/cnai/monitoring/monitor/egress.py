"""Where a webhook may connect: public addresses for anyone; the server's own neighbourhood only
where the server allows it.

A webhook is a request the *server* makes, from inside the network it runs in. Pointed at
loopback, at a private network, or at the link-local cloud metadata address (169.254.169.254),
it would let whoever applies a Monitor probe and call services that trust the server's network
position (the database's port, an admin API, instance credentials). So every address a webhook's
host resolves to is checked, at apply time and again before each delivery:
:func:`refusal` names the first address that is not public and not on ``--webhook-allowlist``
(host names, IP addresses or CIDR networks). An IPv4-mapped IPv6 address is judged as the IPv4
address it carries, so ``[::ffff:127.0.0.1]`` is loopback too.

Host names are resolved with the system resolver (``getaddrinfo``), which also reads the odd
spellings of an IPv4 address (``127.1``, ``2130706433``, ``0x7f.0.0.1``) the way the HTTP client
would, so none of them slips past as "not an address".
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_class(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address ("loopback", "link-local", ...), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),  # 169.254.0.0/16 (the metadata address), fe80::/10
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return label
    # What is left and still not global: shared address space (100.64.0.0/10), 6to4 and the like.
    return None if ip.is_global else "non-public"


def parse_allowlist(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """``--webhook-allowlist`` entries as (host names, networks); an IP address is a /32 or /128."""
    names: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip().strip("[]")
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            names.add(text.lower().rstrip("."))
    return frozenset(names), tuple(networks)


def allowlisted(host: str, ip: IPAddress, allowlist: Iterable[str]) -> bool:
    """Whether ``--webhook-allowlist`` names the URL's host, or a network holding ``ip``."""
    names, networks = parse_allowlist(allowlist)
    if host.lower().rstrip(".") in names:
        return True
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c in net for c in candidates for net in networks if c.version == net.version)


def refusal(host: str, addresses: Sequence[IPAddress], allowlist: Iterable[str]) -> str | None:
    """A sentence naming the first address of ``host`` that is neither public nor allow-listed."""
    for ip in addresses:
        why = address_class(ip)
        if why is not None and not allowlisted(host, ip, allowlist):
            shown = host if host == str(ip) else f"{host} ({ip})"
            return f"{shown} is a {why} address, which is not on --webhook-allowlist"
    return None


def non_public(addresses: Sequence[IPAddress]) -> bool:
    return any(address_class(ip) is not None for ip in addresses)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself); [] if it does not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return _addresses(infos)


async def resolve_async(host: str, port: int) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return _addresses(infos)


def _addresses(infos: Iterable[tuple[object, ...]]) -> list[IPAddress]:
    out: list[IPAddress] = []
    for info in infos:
        sockaddr = info[4]
        assert isinstance(sockaddr, tuple)
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 zone id
        if ip not in out:
            out.append(ip)
    return out
