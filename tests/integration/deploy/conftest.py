"""Deployments against real ``cnai serve`` replica processes, a real SQLite resource store and a
router on a real port. Models are tiny scikit-learn models saved with the real mlflow client: v1
predicts 0 or 1, v2 always predicts 7, so a response says which model answered."""

from __future__ import annotations

import asyncio
import os
import signal
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.deploy.admission import admit_deployment
from cnai.deploy.controller import DeploymentController
from cnai.deploy.replicas import pid_alive
from cnai.deploy.specs import KIND, validate_deployment_spec
from cnai.resources import API_VERSION, SYSTEM, AdmissionContext, Document, Resource, ResourceStore
from tests.fixtures.serving_models import FEATURES, save_logistic, training_frame

FAST = {"resync_s": 0.2, "tick_s": 0.2, "health_interval_s": 0.5, "activation_timeout_s": 60.0}
SERVE_ARGS = ("--no-inference-log",)
ROW = orjson.dumps({"inputs": [{"name": name, "shape": [1], "datatype": "FP64", "data": [0.5]} for name in FEATURES]})


def save_constant(path: Path, value: int = 7) -> Path:
    """A model that always predicts ``value``: the 'new version' a response can be told apart by."""
    import mlflow.sklearn
    from sklearn.dummy import DummyClassifier

    x, y = training_frame()
    y = np.where(np.arange(len(y)) == 0, value, y)
    model = DummyClassifier(strategy="constant", constant=value).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mlflow.sklearn.save_model(model, str(path), input_example=x.head(3), pip_requirements=["scikit-learn"])
    return path


@dataclass(frozen=True)
class Models:
    v1: Path
    v2: Path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("deploy-models")
    with warnings.catch_warnings():  # mlflow's hint about integer columns: intended here
        warnings.simplefilter("ignore", UserWarning)
        return Models(save_logistic(root / "v1"), save_constant(root / "v2"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResourceStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cnai.db'}")
    upgrade(engine)
    # These tests deploy local model directories: a plane started with --allow-local-models.
    opt_in = AdmissionContext(allow_local_models=True)
    yield ResourceStore(engine, {KIND: validate_deployment_spec}, admissions={KIND: admit_deployment}, context=opt_in)
    engine.dispose()


@pytest.fixture
async def controller(store: ResourceStore, cnai_home: Path) -> AsyncIterator[DeploymentController]:
    ctl = DeploymentController(store, tracking_uri="", home=cnai_home, serve_args=SERVE_ARGS, **FAST)
    await ctl.start()
    try:
        yield ctl
    finally:
        await ctl.stop()
        kill_recorded_processes(store)


def kill_recorded_processes(store: ResourceStore) -> None:
    """Whatever a failed test left behind: no replica outlives the test."""
    for resource in store.list(KIND):
        for record in resource.status.get("processes") or []:
            if pid_alive(int(record["pid"])):
                os.kill(int(record["pid"]), signal.SIGKILL)


def apply(store: ResourceStore, name: str, spec: dict[str, Any]) -> Resource:
    resource, _ = store.apply(Document(API_VERSION, KIND, name, spec), principal=SYSTEM)
    return resource


async def eventually(
    check: Callable[[], Any], timeout: float = 90.0, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail with the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def status(store: ResourceStore, name: str) -> dict[str, Any]:
    return store.get(KIND, name).status


def events_of(status: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    """The recorded events (``status.events``) of the given types, oldest first."""
    return [e for e in status.get("events") or [] if not types or e["type"] in types]


async def infer(client: httpx.AsyncClient, url: str, name: str) -> httpx.Response:
    return await client.post(f"{url}/v2/models/{name}/infer", content=ROW, headers={"content-type": "application/json"})


def prediction(response: httpx.Response) -> int:
    return int(response.json()["outputs"][0]["data"][0])


@dataclass
class Load:
    """Closed-loop steady load: ``workers`` clients sending back to back until stopped."""

    url: str
    name: str
    workers: int = 4
    statuses: dict[int, int] = field(default_factory=dict)
    predictions: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            try:
                response = await infer(client, self.url, self.name)
            except httpx.HTTPError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                self.predictions.append(prediction(response))
            else:
                self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")

    async def __aenter__(self) -> Load:
        client = httpx.AsyncClient(timeout=60, trust_env=False)
        self._client = client
        self._tasks = [asyncio.create_task(self._worker(client)) for _ in range(self.workers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self._client.aclose()

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len([f for f in self.failures if not f.startswith("HTTP")])
