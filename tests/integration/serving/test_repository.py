"""Multi-model: lazy loading, the repository API, LRU eviction under a memory budget, and
unload/reload under load without losing an accepted request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures import serving_models as sm
from tests.integration.serving.conftest import serve_settings

pytestmark = pytest.mark.integration

ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}


@pytest.fixture
def lazy_server(model_dirs: dict[str, Path], tmp_path: Path) -> Iterator[sm.LiveServing]:
    dirs = {k: model_dirs[k] for k in ("lr", "xgb", "lgb")}
    sizes = {k: sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) for k, d in dirs.items()}
    # Room for the two largest models, not all three.
    budget = sum(sorted(sizes.values())[1:]) + 1
    server = sm.start_serving(serve_settings(tmp_path, dirs, lazy=True, max_memory=budget, inference_log=False))
    yield server
    server.stop()


def _index(url: str) -> dict[str, str]:
    r = httpx.post(f"{url}/v2/repository/index", json={})
    assert r.status_code == 200
    return {m["name"]: m["state"] for m in r.json()}


def test_lazy_load_and_lru_eviction(lazy_server: sm.LiveServing) -> None:
    url = lazy_server.url
    assert _index(url) == {"lr": "UNAVAILABLE", "xgb": "UNAVAILABLE", "lgb": "UNAVAILABLE"}
    assert httpx.get(f"{url}/v2/models/lr/ready").status_code == 400
    for name in ("lr", "xgb"):
        assert httpx.post(f"{url}/v2/models/{name}/infer", json=ROW).status_code == 200  # loads lazily
    assert _index(url) == {"lr": "READY", "xgb": "READY", "lgb": "UNAVAILABLE"}
    assert httpx.post(f"{url}/v2/models/lr/infer", json=ROW).status_code == 200  # lr now most recent
    assert httpx.post(f"{url}/v2/models/lgb/infer", json=ROW).status_code == 200
    state = _index(url)
    assert state["lgb"] == "READY"
    assert state["xgb"] == "UNAVAILABLE", state  # least recently used went
    assert state["lr"] == "READY"
    # An evicted model comes back on its next request.
    assert httpx.post(f"{url}/v2/models/xgb/infer", json=ROW).status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    assert "cnai_serving_evictions_total 2.0" in metrics


def test_repository_load_unload(lazy_server: sm.LiveServing) -> None:
    url = lazy_server.url
    assert httpx.post(f"{url}/v2/repository/models/lr/load", json={}).status_code == 200
    assert httpx.get(f"{url}/v2/models/lr/ready").status_code == 200
    assert httpx.post(f"{url}/v2/repository/models/lr/unload", json={}).status_code == 200
    assert httpx.get(f"{url}/v2/models/lr/ready").status_code == 400
    r = httpx.post(f"{url}/v2/models/lr/infer", json=ROW)
    assert r.status_code == 503  # explicitly unloaded: no silent reload
    assert "unloaded" in r.json()["error"]
    assert httpx.post(f"{url}/v2/repository/models/nope/load", json={}).status_code == 404


async def _hammer(url: str, stop: asyncio.Event, codes: list[int], mine: list[int] | None = None) -> None:
    """Send requests one after another until ``stop``; every answer goes to ``codes`` (all
    workers) and to ``mine`` (this worker's, in the order it sent them)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                r = await client.post("/v2/models/lr/infer", json=ROW)
                codes.append(r.status_code)
                if mine is not None:
                    mine.append(r.status_code)
                if r.status_code == 200:
                    assert r.json()["outputs"][0]["data"] in ([0], [1])
            except httpx.TransportError:
                codes.append(-1)


async def _answered(codes: list[int], more: int, code: int = 200) -> None:
    """Wait until ``more`` further answers with ``code`` arrived (no fixed sleeps)."""
    target = codes.count(code) + more
    for _ in range(2000):
        if codes.count(code) >= target:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no progress: {len(codes)} answers")


def test_reload_and_unload_under_load_lose_nothing(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    server = sm.start_serving(serve_settings(tmp_path, {"lr": model_dirs["lr"]}, inference_log=False))

    async def scenario() -> tuple[list[int], list[int], list[list[int]]]:
        during_reload: list[int] = []
        stop = asyncio.Event()
        workers = [asyncio.create_task(_hammer(server.url, stop, during_reload)) for _ in range(8)]
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as admin:
            for _ in range(3):
                await _answered(during_reload, 20)
                assert (await admin.post("/v2/repository/models/lr/load", json={})).status_code == 200
            await _answered(during_reload, 20)
            stop.set()
            await asyncio.gather(*workers)
            during_unload: list[int] = []
            by_worker: list[list[int]] = [[] for _ in range(8)]
            stop = asyncio.Event()
            workers = [
                asyncio.create_task(_hammer(server.url, stop, during_unload, per_worker)) for per_worker in by_worker
            ]
            await _answered(during_unload, 20)
            assert (await admin.post("/v2/repository/models/lr/unload", json={})).status_code == 200
            await _answered(during_unload, 20, code=503)
            stop.set()
            await asyncio.gather(*workers)
        return during_reload, during_unload, by_worker

    try:
        reload_codes, unload_codes, unload_by_worker = asyncio.run(scenario())
    finally:
        server.stop()
    assert reload_codes
    assert set(reload_codes) == {200}, sorted(set(reload_codes))
    # Accepted requests are answered; once unloaded, new ones are refused cleanly (503), never dropped.
    assert 200 in unload_codes
    assert 503 in unload_codes
    assert set(unload_codes) <= {200, 503}
    # Each worker sends one request at a time: once it was refused, every later request of its own
    # started after the unload and must be refused too (a request in flight at the unload, another
    # worker's, may still finish with 200 after some refusals: the predict runs in the model's thread).
    for codes in unload_by_worker:
        if 503 in codes:
            assert 200 not in codes[codes.index(503) :], codes
