"""The served models: load (eagerly, lazily on first request, or via the repository API), unload,
and a memory budget with least-recently-used eviction.

Unloading or reloading never loses an accepted request: a request holds the ``LoadedModel`` it
acquired until it has its answer, and a model being retired waits for those holders (and its
batch queue) to finish before its runtime is dropped. A reload builds the new model first and
swaps it in, so requests never see a gap.

The memory size of a model is estimated as the size of its files on disk (a pickled model's size
tracks its in-memory size closely enough for a budget; measuring the heap per model is not reliable
across threads).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cnai.errors import CnaiError, InvalidArgument, NotFound, Unavailable
from cnai.serving.batching import Batcher, Predictor, Unbatched
from cnai.serving.generative import generative_path
from cnai.serving.metrics import ServingMetrics
from cnai.serving.resolve import ModelSpec, fetch_model
from cnai.serving.runtimes import Runtime, load_runtime, read_model_dir
from cnai.serving.settings import ServeSettings

log = logging.getLogger("cnai.serving")


@dataclass(eq=False)
class LoadedModel:
    name: str
    version: str
    runtime: Runtime
    executor: Batcher | Unbatched
    size_bytes: int
    active: int = 0
    retiring: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.idle.set()


@dataclass(eq=False)
class ModelEntry:
    spec: ModelSpec
    loaded: LoadedModel | None = None
    state: str = "UNAVAILABLE"  # READY, LOADING, UNAVAILABLE (Triton's repository states)
    reason: str = ""
    unloaded: bool = False  # explicitly unloaded: no lazy reload until loaded again
    last_used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ModelRepository:
    def __init__(
        self,
        specs: list[ModelSpec],
        settings: ServeSettings,
        metrics: ServingMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.entries: dict[str, ModelEntry] = {}
        for spec in specs:
            if spec.name in self.entries:
                raise InvalidArgument(f"Two models are served as {spec.name!r}: name one with NAME=URI")
            self.entries[spec.name] = ModelEntry(spec)

    @property
    def default_name(self) -> str | None:
        return next(iter(self.entries), None)

    def entry(self, name: str) -> ModelEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise NotFound(f"Model {name!r} is not served here") from None

    async def start(self) -> None:
        if not self.settings.lazy:
            for name in self.entries:
                await self.load(name)

    async def close(self) -> None:
        for entry in self.entries.values():
            if entry.loaded is not None:
                old, entry.loaded = entry.loaded, None
                await self._retire(old)

    async def acquire(self, name: str, version: str | None = None) -> LoadedModel:
        """The loaded model for a request (loading it if needed); pair with ``release()``."""
        entry = self.entry(name)
        model = entry.loaded
        if model is None:
            if entry.unloaded:
                raise Unavailable(f"Model {name!r} is unloaded; load it with POST /v2/repository/models/{name}/load")
            model = await self.load(name, reload=False)
        if version is not None and version != model.version:
            raise NotFound(f"Model {name!r} has no version {version!r} here (serving version {model.version})")
        model.active += 1
        model.idle.clear()
        entry.last_used = self.clock()
        return model

    async def load(self, name: str, *, reload: bool = True) -> LoadedModel:
        entry = self.entry(name)
        async with entry.lock:
            if entry.loaded is not None and not reload:
                return entry.loaded
            entry.state, entry.reason = "LOADING", ""
            try:
                new = await asyncio.to_thread(self._build, entry.spec)
                await self._make_room(new.size_bytes, keep=name)
            except CnaiError as exc:
                entry.state, entry.reason = ("READY" if entry.loaded else "UNAVAILABLE"), exc.message
                raise
            except Exception as exc:
                entry.state, entry.reason = ("READY" if entry.loaded else "UNAVAILABLE"), str(exc)
                # The error goes to the caller (one line at startup, the HTTP answer, the index's
                # reason); the traceback only with --log-level debug.
                log.debug("loading model %s failed", name, exc_info=True)
                raise Unavailable(f"Model {name!r} failed to load: {exc}") from exc
            self._attach(new)
            old, entry.loaded = entry.loaded, new
            entry.state, entry.unloaded, entry.last_used = "READY", False, self.clock()
            self.metrics.models_loaded.set(self._loaded_count())
            log.info("loaded model %s version %s (%s)", name, new.version, new.runtime.flavor)
        if old is not None:
            await self._retire(old)
        return new

    async def unload(self, name: str, *, evicted: bool = False) -> None:
        entry = self.entry(name)
        async with entry.lock:
            old, entry.loaded = entry.loaded, None
            entry.state, entry.unloaded = "UNAVAILABLE", not evicted
            entry.reason = "evicted to fit the memory budget" if evicted else "unloaded"
            self.metrics.models_loaded.set(self._loaded_count())
        if old is not None:
            await self._retire(old)

    def index(self) -> list[dict[str, str]]:
        out = []
        for name, entry in self.entries.items():
            item = {"name": name, "state": entry.state, "reason": entry.reason}
            if entry.loaded is not None and entry.loaded.executor.predictor.exhausted:
                item["state"], item["reason"] = "UNAVAILABLE", "too many predicts hung past the timeout"
            if entry.loaded is not None:
                item["version"] = entry.loaded.version
            out.append(item)
        return out

    def _build(self, spec: ModelSpec) -> LoadedModel:
        """Fetch and load a model; blocking, runs in a thread."""
        path, version = fetch_model(spec.uri, self.settings.tracking_uri, self.settings.home / "serving-cache")
        if generative_path(path) is not None:  # only with --lazy: otherwise the server claimed it at start
            raise InvalidArgument(
                f"{spec.uri} is a GGUF or sentence-transformers model, served on the OpenAI routes: "
                "those load at start, serve it without --lazy"
            )
        runtime = load_runtime(read_model_dir(path), self.settings.optimize or None)
        predictor = Predictor(
            runtime.predict,
            model=spec.name,
            timeout_s=self.settings.predict_timeout_seconds,
            max_hung=self.settings.max_hung_predicts,
            inline_below_s=self.settings.inline_predict_below_ms / 1000,
            sync_wait_s=self.settings.predict_sync_wait_ms / 1000,
            on_timeout=self.metrics.predict_timeouts.labels(spec.name).inc,
            on_hung=self.metrics.hung_predicts.labels(spec.name).set,
        )
        executor: Batcher | Unbatched
        if self.settings.batching:
            executor = Batcher(
                predictor,
                max_batch_size=self.settings.max_batch_size,
                max_delay_s=self.settings.max_batch_delay_ms / 1000,
            )
        else:
            executor = Unbatched(predictor)
        return LoadedModel(spec.name, version, runtime, executor, _dir_size(path))

    def _attach(self, model: LoadedModel) -> None:
        self.metrics.queue_depth.labels(model.name).set_function(lambda: model.executor.queue_depth)
        if isinstance(model.executor, Batcher):
            model.executor.on_batch = self.metrics.batch_size.labels(model.name).observe

    async def _make_room(self, size: int, keep: str) -> None:
        budget = self.settings.max_memory
        if not budget:
            return
        if size > budget:
            raise Unavailable(f"Model {keep!r} ({size} bytes) is larger than the memory budget ({budget} bytes)")
        while True:
            others = [e for n, e in self.entries.items() if n != keep and e.loaded is not None]
            used = sum(e.loaded.size_bytes for e in others if e.loaded is not None)
            if used + size <= budget or not others:
                return
            victim = min(others, key=lambda e: e.last_used)
            log.info("evicting model %s to fit the memory budget", victim.spec.name)
            self.metrics.evictions.inc()
            await self.unload(victim.spec.name, evicted=True)

    async def _retire(self, model: LoadedModel) -> None:
        """Wait for requests holding ``model`` to finish, then drop it."""
        model.retiring = True
        if model.active:
            await model.idle.wait()
        await model.executor.close()
        model.runtime.close()

    def _loaded_count(self) -> int:
        return sum(1 for e in self.entries.values() if e.loaded is not None)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
