"""Host and Origin decisions (DNS rebinding, cross-site writes)."""

from __future__ import annotations

import pytest

from cnai.auth.origin import HostCheck, OriginCheck, host_name


@pytest.mark.parametrize(
    ("header", "name"),
    [("localhost:8080", "localhost"), ("[::1]:8080", "::1"), ("Example.COM.", "example.com"), ("::1", "::1")],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_loopback_server_answers_loopback_names_and_addresses_only() -> None:
    check = HostCheck("127.0.0.1", [])
    for ok in (b"localhost:8080", b"127.0.0.1:8080", b"127.1.2.3", b"[::1]:8080", b"10.0.0.5:8080", None):
        assert check.allows(ok), ok
    for rebinding in (b"evil.example", b"evil.example:8080", b"localhost.evil.example", b"127.0.0.1.nip.io"):
        assert not check.allows(rebinding), rebinding


def test_bind_host_and_allowed_hosts() -> None:
    check = HostCheck("ml.internal", ["models.example.com", ".corp.example"])
    for ok in (b"ml.internal:8080", b"models.example.com", b"corp.example", b"a.b.corp.example:443"):
        assert check.allows(ok), ok
    assert not check.allows(b"example.com")
    assert not check.allows(b"evilcorp.example")
    assert HostCheck("127.0.0.1", ["*"]).allows(b"anything.example")


def test_origin_of_writes() -> None:
    check = OriginCheck(["https://app.example.com"])
    own = b"127.0.0.1:8080"
    assert check.allows(None, own, None)  # not a browser, or a same-origin request without Origin
    assert check.allows(b"http://127.0.0.1:8080", own, b"same-origin")
    assert check.allows(b"https://app.example.com", own, b"cross-site")  # allowed explicitly
    assert not check.allows(b"http://evil.example", own, None)
    assert not check.allows(b"null", own, None)  # sandboxed iframes, file:// pages
    assert not check.allows(b"http://localhost:8080", own, None)  # another origin, though the same machine
    assert not check.allows(None, own, b"cross-site")
    assert OriginCheck([]).allows(b"http://example.com", b"example.com:80", None)
