"""Named tokens: created once in plaintext, stored hashed, listed without secrets, revoked, and
the per-process cache that keeps the database off the request path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cnai.auth.principal import Principal, Role
from cnai.auth.tokens import TokenStore, split_token, store_has_active_tokens
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.db.schema import tokens
from cnai.errors import AlreadyExists, InvalidArgument, NotFound


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_create_returns_the_token_once_and_stores_only_a_hash(engine: Engine, tmp_path: Path) -> None:
    store = TokenStore(engine)
    info, plaintext = store.create("ci", Role.EDITOR)
    parts = split_token(plaintext)
    assert parts is not None
    assert parts[0] == info.token_id
    secret = parts[1]
    assert len(secret) >= 43  # 256 random bits
    assert store.authenticate(plaintext) == Principal("ci", Role.EDITOR)
    # Neither the row nor the database file (WAL included) holds the secret.
    with engine.connect() as conn:
        row = conn.execute(select(tokens)).one()
    assert secret not in " ".join(str(v) for v in row)
    engine.dispose()
    for path in tmp_path.glob("cnai.db*"):
        assert secret.encode() not in path.read_bytes(), path
    # Listing never shows a secret.
    listed = [t.to_dict() for t in store.list()]
    assert listed == [info.to_dict()]
    assert "token" not in listed[0]
    assert secret not in str(listed)


def test_wrong_malformed_and_unknown_tokens_are_refused(engine: Engine) -> None:
    store = TokenStore(engine)
    _, plaintext = store.create("alice", Role.ADMIN)
    token_id = split_token(plaintext)[0]  # type: ignore[index]
    for candidate in (f"cnai_{token_id}_wrong-secret", "cnai_000000000000_x", "s3cret", "", "cnai_", plaintext + "x"):
        assert store.authenticate(candidate) is None, candidate


def test_revocation_takes_effect_within_the_cache_ttl_on_another_process(engine: Engine) -> None:
    clock = FakeClock()
    server = TokenStore(engine, ttl_seconds=5, clock=clock)  # a server process
    admin_cli = TokenStore(engine)  # `cnai tokens` in another process
    _, plaintext = admin_cli.create("reader-1", Role.READER)
    assert server.authenticate(plaintext) == Principal("reader-1", Role.READER)
    admin_cli.revoke("reader-1")
    clock.now += 4.9
    assert server.cached(plaintext) == (True, Principal("reader-1", Role.READER))  # still cached: no query
    clock.now += 0.2
    assert server.cached(plaintext) == (False, None)  # expired: the caller must look it up again
    assert server.authenticate(plaintext) is None


def test_the_first_token_turns_auth_on_within_the_ttl(engine: Engine) -> None:
    clock = FakeClock()
    server = TokenStore(engine, ttl_seconds=5, clock=clock)
    assert server.any_active() is False
    TokenStore(engine).create("first", Role.ADMIN)
    assert server.any_active() is False  # cached
    clock.now += 5
    assert server.any_active() is True


def test_names_unique_among_active_tokens_and_free_after_revocation(engine: Engine) -> None:
    store = TokenStore(engine)
    _, old = store.create("ci", Role.READER)
    with pytest.raises(AlreadyExists, match="revoke it first"):
        store.create("ci", Role.ADMIN)
    store.revoke("ci")
    with pytest.raises(NotFound, match="No active token"):
        store.revoke("ci")
    _, new = store.create("ci", Role.ADMIN)
    assert store.authenticate(old) is None
    assert store.authenticate(new) == Principal("ci", Role.ADMIN)
    assert [t.name for t in store.list()] == ["ci"]


@pytest.mark.parametrize("name", ["", "bootstrap", "a b", "x" * 64, "../etc", "-lead"])
def test_bad_or_reserved_names_are_refused(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        TokenStore(engine).create(name, Role.READER)


def test_bind_check_sees_tokens_in_the_store(engine: Engine, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cnai.db'}"
    assert store_has_active_tokens(url) is False
    TokenStore(engine).create("ops", Role.ADMIN)
    assert store_has_active_tokens(url) is True
    assert store_has_active_tokens(f"sqlite:///{tmp_path / 'never-migrated.db'}") is False
