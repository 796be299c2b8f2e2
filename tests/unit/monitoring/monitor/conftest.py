"""A control-plane database with the Monitor kind, an embedded event bus, and helpers to write
reference data and inference events as ``cnai serve`` does."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from cnai._clock import now_ms
from cnai.db.engine import make_engine
from cnai.db.migrate import upgrade
from cnai.events import INFERENCE_TOPIC, bus_from_url
from cnai.events.cloudevents import make_event
from cnai.monitoring.monitor import KIND, MonitorController, admit_monitor, validate_monitor_spec
from cnai.resources import SYSTEM, AdmissionContext, Document, ResourceStore
from tests.fixtures.servers import postgres_database

# The plane these tests run: opted in to this interpreter as a command and to webhooks to the
# loopback receivers (tests/unit/monitoring/monitor/test_admission.py covers the refusals).
OPT_IN = AdmissionContext(
    allow_command_actions=True, command_allowlist=(sys.executable,), webhook_allowlist=("127.0.0.1",)
)


@dataclass
class Env:
    engine: Engine
    resources: ResourceStore
    bus_url: str
    reference: Path
    tmp: Path

    def controller(self, registry: CollectorRegistry | None = None, **options: Any) -> MonitorController:
        settings: dict[str, Any] = {
            "resync_interval_s": 0.2,
            "feedback_interval_s": 0.2,
            "poll_timeout_ms": 100,
            "context": OPT_IN,
        }
        settings.update(options)
        return MonitorController(
            self.engine, self.resources, bus_from_url(self.bus_url), registry or CollectorRegistry(), **settings
        )

    def apply(self, name: str, **spec: Any) -> None:
        base: dict[str, Any] = {
            "target": {"model": {"name": "iris"}},
            "reference": {"file": str(self.reference)},
            "window": {"count": 50},
            "cooldownSeconds": 0,  # every breaching window fires: these tests count windows' alerts
        }
        base.update(spec)
        self.resources.apply(Document("cnai.io/v1", KIND, name, base), principal=SYSTEM)

    async def produce(
        self, n: int, *, shift: float = 0.0, seed: int = 0, model: str = "iris", ids: str = "req", per_request: int = 1
    ) -> list[str]:
        """``n`` rows of the reference's distribution (plus ``shift``), ``per_request`` rows per event."""
        rng = np.random.default_rng(seed)
        frame = sample(n, rng, shift)
        request_ids = []
        async with bus_from_url(self.bus_url) as bus:
            items = []
            for start in range(0, n, per_request):
                part = frame.iloc[start : start + per_request]
                request_id = f"{ids}-{seed}-{start}"
                request_ids.append(request_id)
                data = {
                    "model": model,
                    "version": "1",
                    "request_id": request_id,
                    "protocol": "mlflow",
                    "inputs": {c: part[c].tolist() for c in part.columns},
                    "outputs": {"predict": (part["a"] > 0).astype(int).tolist()},
                    "latency_ms": 1.0,
                    "timestamp_ms": now_ms(),
                }
                items.append((model.encode(), orjson.dumps(make_event("io.cnai.inference.v1", "test", data))))
            await bus.produce_many(INFERENCE_TOPIC, items)
        return request_ids


def sample(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": rng.normal(0 + shift, 1, n),
            "b": rng.normal(5 + shift, 2, n),
            "c": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2] if not shift else [0.1, 0.2, 0.7]),
        }
    )


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """SQLite by default; ``@pytest.mark.parametrize("env", ["postgres"], indirect=True)`` for PostgreSQL."""
    with contextlib.ExitStack() as stack:
        if getattr(request, "param", "sqlite") == "postgres":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{tmp_path / 'cnai.db'}"
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        reference = tmp_path / "reference.csv"
        sample(600, np.random.default_rng(99)).to_csv(reference, index=False)
        resources = ResourceStore(
            engine, {KIND: validate_monitor_spec}, admissions={KIND: admit_monitor}, context=OPT_IN
        )
        yield Env(engine, resources, f"sqlite:///{tmp_path / 'events.db'}", reference, tmp_path)
