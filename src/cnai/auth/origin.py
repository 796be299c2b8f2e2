"""Where a request may come from: the Host it names and the browser origin that sent it.

**Host (DNS rebinding).** A page on ``evil.example`` whose DNS name is re-pointed at 127.0.0.1
makes the victim's browser talk to a loopback server as if it were same-origin with the attacker;
the only trace is ``Host: evil.example``. So the Host (port ignored) must be a loopback name, the
address the server binds, a name in ``allowed_hosts`` (``*`` any, ``.example.com`` that domain
and its subdomains) or an IP literal: a rebinding attack needs a name the attacker controls, and
a browser sends an IP as Host only when the page itself was loaded from that IP, which makes
its origin the server's own (this keeps ``cnai server --host 0.0.0.0`` reachable by address).

**Origin (cross-site requests).** A browser attaches ``Origin`` to every cross-origin request
and to same-origin non-GET ones; a write whose Origin is neither the server's own (the scheme's
``host:port`` equal to the Host header) nor in ``allowed_origins`` is refused, and so is one
marked ``Sec-Fetch-Site: cross-site``. Reads are not checked: without CORS headers the
attacker's page cannot read the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cnai.settings import LOOPBACK_HOSTS

_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
_MAX_CACHED = 1024


def host_name(header: str) -> str:
    """The name part of a Host header, lower-case: ``[::1]:8080`` -> ``::1``, ``a.b:80`` -> ``a.b``."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Decides whether a Host header names this server; decisions are cached per header value
    (bounded), so the request path pays one dict lookup."""

    def __init__(self, bind_host: str, allowed: Iterable[str]) -> None:
        names = {host_name(a) if not a.startswith(".") else a.lower() for a in allowed if a.strip()}
        self.any = "*" in names
        self.suffixes = tuple(n for n in names if n.startswith("."))
        self.names = {n for n in names if not n.startswith(".")} | set(LOOPBACK_HOSTS)
        if bind_host not in _ANY_ADDRESS:
            self.names.add(host_name(bind_host))
        self._cache: dict[bytes, bool] = {}

    def allows(self, header: bytes | None) -> bool:
        if header is None or self.any:  # HTTP/1.0 without Host: not a browser
            return True
        known = self._cache.get(header)
        if known is None:
            known = self._decide(host_name(header.decode("latin-1")))
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[header] = known
        return known

    def _decide(self, name: str) -> bool:
        if name in self.names or _is_ip(name):  # not startswith("127."): 127.0.0.1.nip.io is a name
            return True
        return any(name.endswith(s) or name == s[1:] for s in self.suffixes)


def normalize_origin(value: str) -> str:
    return value.strip().rstrip("/").lower()


class OriginCheck:
    """Decides whether a write may come from the browser origin it names."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = {normalize_origin(o) for o in allowed if o.strip()}
        self.any = "*" in self.allowed

    def allows(self, origin: bytes | None, host: bytes | None, fetch_site: bytes | None) -> bool:
        if origin is not None:
            value = normalize_origin(origin.decode("latin-1"))
            if self.any or value in self.allowed:
                return True
            scheme, sep, authority = value.partition("://")
            if host is None or not sep or scheme not in ("http", "https"):
                return False
            default = ":443" if scheme == "https" else ":80"
            if authority.removesuffix(default) != host.decode("latin-1").lower().removesuffix(default):
                return False
        return fetch_site is None or fetch_site.lower() != b"cross-site"
