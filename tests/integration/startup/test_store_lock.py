"""One `cnai up` (or quickstart) per store: a second one is refused before it starts anything.

Before: a second `cnai up` on the same home started its controllers, which took over the first
one's deployments, then failed to bind, and on its way out stopped the first one's replicas; a
`cnai quickstart` beside a running `cnai up` deleted the user's `wine` deployment and ran a second
set of controllers on the store.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from cnai.db import lock as store_lock
from cnai.deploy.replicas import free_port, pid_alive
from cnai.errors import InvalidState
from cnai.quickstart.plane import PrivatePlane
from tests.fixtures.servers import PG_ADMIN_URL, postgres_database
from tests.fixtures.serving_models import FEATURES, save_logistic
from tests.integration.startup.conftest import Up, clean_env, cnai, one_line_error, start_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROW = orjson.dumps({"inputs": [{"name": name, "shape": [1], "datatype": "FP64", "data": [0.5]} for name in FEATURES]})


def _infer(router: str) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(f"{router}/v2/models/wine/infer", content=ROW, headers=headers, timeout=30)


def _deployment(up: Up) -> dict[str, object]:
    response = httpx.get(f"{up.url}/api/v1/resources/deployments/wine", timeout=10)
    assert response.status_code == 200, response.text
    doc: dict[str, object] = response.json()
    return doc


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, str]]:
    """`cnai up` with a one-replica deployment named `wine` (the quickstart's name), ready."""
    root = tmp_path_factory.mktemp("lock")
    home = root / "home"
    home.mkdir()
    with warnings.catch_warnings():  # mlflow's hint about integer columns: intended here
        warnings.simplefilter("ignore", UserWarning)
        model = save_logistic(root / "model")
    up = start_up(home, env=clean_env(home, CNAI_ALLOW_LOCAL_MODELS="true"))
    try:
        doc = {"apiVersion": "cnai.io/v1", "kind": "Deployment", "metadata": {"name": "wine"}}
        doc["spec"] = {"model": str(model), "replicas": {"min": 1, "max": 1}}
        applied = httpx.put(f"{up.url}/api/v1/resources/deployments/wine", json=doc, timeout=10)
        assert applied.status_code in (200, 201), applied.text
        router = _wait_ready(up)
        assert _infer(router).status_code == 200
        yield up, router
    finally:
        up.stop()


def _wait_ready(up: Up, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    status: object = None
    while time.monotonic() < deadline:
        status = _deployment(up).get("status") or {}
        assert isinstance(status, dict)
        if status.get("phase") == "Ready" and status.get("url"):
            return str(status["url"])
        time.sleep(0.3)
    raise AssertionError(f"deployment not ready: {status}; log: {up.log.read_text()[-2000:]}")


def _replica_pids(up: Up) -> list[int]:
    status = _deployment(up)["status"]
    assert isinstance(status, dict)
    return [int(p["pid"]) for p in status["processes"]]


def test_a_second_up_on_the_same_home_is_refused_and_the_first_keeps_serving(serving: tuple[Up, str]) -> None:
    up, router = serving
    replicas = _replica_pids(up)
    done = cnai("up", "--port", "0", env=clean_env(up.home), timeout=60)
    assert one_line_error(done) == (
        f"Error: Another cnai up (pid {up.proc.pid}, {up.url}) is running on this store; stop it or use --home DIR"
    )
    assert all(pid_alive(pid) for pid in replicas)
    assert _replica_pids(up) == replicas  # not replaced: nobody else ran a controller on them
    assert _infer(router).status_code == 200


def test_quickstart_beside_a_running_up_leaves_its_deployment_alone(serving: tuple[Up, str]) -> None:
    up, router = serving
    before = _deployment(up)
    done = cnai("quickstart", "--home", str(up.home), env=clean_env(up.home), timeout=120)
    assert one_line_error(done) == (
        f"Error: Another cnai up (pid {up.proc.pid}, {up.url}) is running on this store; stop it or use --home DIR"
    )
    after = _deployment(up)
    assert after["metadata"] == before["metadata"]  # same uid and generation: not deleted, not replaced
    assert after["spec"] == before["spec"]
    assert _infer(router).status_code == 200


def test_the_quickstart_hands_its_lock_to_its_private_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with store_lock.acquire(f"sqlite:///{home / 'cnai.db'}", holder="cnai quickstart") as lock:
        port = free_port("127.0.0.1")
        with PrivatePlane(home, port, f"sqlite:///{tmp_path / 'events.db'}", tmp_path / "up.log") as plane:
            plane.wait_ready()  # the child adopted the lock instead of being refused by it
            done = cnai("up", "--port", "0", env=clean_env(home), timeout=60)
            assert one_line_error(done) == (
                f"Error: Another cnai quickstart (pid {os.getpid()}, {plane.url}) is running on this store; "
                "stop it or use --home DIR"
            )
        assert lock.fd is not None  # still ours after the child ended
    store_lock.acquire(f"sqlite:///{home / 'cnai.db'}", holder="cnai up").release()  # and free once released


def test_two_ups_on_one_postgres_store(tmp_path: Path) -> None:
    with postgres_database() as store:
        first_home, second_home = tmp_path / "a", tmp_path / "b"
        first_home.mkdir()
        first = start_up(first_home, "--store", store)
        try:
            done = cnai("up", "--store", store, "--port", "0", env=clean_env(second_home), timeout=60)
            assert one_line_error(done) == (
                f"Error: Another cnai up (pid {first.proc.pid}, {first.url}) is running on this store; "
                "stop it or use another --store"
            )
            assert httpx.get(f"{first.url}/health", timeout=5).status_code == 200
        finally:
            first.stop()


# ---- a PostgreSQL lock lives in a session: what happens when that session drops ----------------

LOCK_SESSIONS = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = :a "
    "AND objid::bigint = :b AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = :db)"
)


def _lock_sessions(admin: Engine, database: str) -> list[int]:
    with admin.connect() as conn:
        rows = conn.execute(text(LOCK_SESSIONS), {**store_lock.PG_LOCK_KEY, "db": database}).scalars()
        return [int(pid) for pid in rows]


def _drop_session(admin: Engine, pid: int) -> None:
    """What a database restart or an idle-connection reaper does to the lock's session."""
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


def _wait_for(check: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pg_store() -> Iterator[tuple[str, str, Engine]]:
    with postgres_database() as store:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            yield store, make_url(store).database or "", admin
        finally:
            admin.dispose()


def test_a_dropped_lock_session_is_replaced_and_the_lock_taken_again(pg_store: tuple[str, str, Engine]) -> None:
    store, database, admin = pg_store
    lost: list[str] = []
    with store_lock.acquire(store, holder="cnai up") as lock:
        lock.keep(on_lost=lost.append, interval=0.2)
        [first] = _lock_sessions(admin, database)
        _drop_session(admin, first)
        assert _wait_for(lambda: _lock_sessions(admin, database) not in ([], [first])), "lock not taken again"
        assert lost == []
        with pytest.raises(InvalidState, match="Another cnai up"):  # and still refuses a second instance
            store_lock.acquire(store, holder="cnai up")
    assert _wait_for(lambda: _lock_sessions(admin, database) == [])  # released with the holder


def test_a_lock_taken_by_another_instance_while_its_session_was_down_is_reported_lost(
    pg_store: tuple[str, str, Engine],
) -> None:
    store, database, admin = pg_store
    lost: list[str] = []
    with store_lock.acquire(store, holder="cnai up", url="http://127.0.0.1:1") as lock:
        lock.keep(on_lost=lost.append, interval=2.0)  # checks only after the other instance got in
        [first] = _lock_sessions(admin, database)
        _drop_session(admin, first)
        with store_lock.acquire(store, holder="cnai controller monitor"):
            assert _wait_for(lambda: bool(lost)), "the loss was never reported"
            assert lost == [
                "cnai up lost the store lock when its database connection dropped, and another "
                f"cnai controller monitor (pid {os.getpid()}) holds it now; stopping its controllers"
            ]


def test_up_exits_with_one_line_when_another_instance_took_its_lock(
    tmp_path: Path, pg_store: tuple[str, str, Engine]
) -> None:
    store, database, admin = pg_store
    up = start_up(tmp_path, "--store", store)
    try:
        [session] = _lock_sessions(admin, database)
        _drop_session(admin, session)
        with store_lock.acquire(store, holder="cnai controller monitor"):
            assert up.proc.wait(timeout=30) == 75
    finally:
        up.stop()
    last = up.log.read_text().strip().splitlines()[-1]
    assert last.startswith("cnai: cnai up lost the store lock when its database connection dropped"), last
