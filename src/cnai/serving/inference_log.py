"""The inference log: each sampled request and response becomes a CloudEvent on the event bus.

``record()`` is called on the request path and must cost next to nothing and never fail: it
samples, then appends a tuple of references to a bounded buffer (a deque: an ``asyncio.Queue``
costs a microsecond a side on every request; when the buffer is full the event is dropped and
counted). A background task turns queued tuples into
``io.cnai.inference.v1`` events (JSON-ready columns, CloudEvents envelope) and writes them in
batches with ``produce_many``; a bus error drops that batch (counted, logged once per minute)
rather than stopping the log. Arrays handed to ``record()`` are never mutated afterwards, so the
references stay valid.

``record_request()`` logs a request of the OpenAI routes (an LLM or embedding call): one event per
request, failures included, whose data carries ``status``, ``latency_ms``, ``usage`` (prompt and
completion tokens), ``ttft_ms`` and ``finish_reason``; ``inputs``/``outputs`` are empty unless
the server captures message content.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from cnai.events import INFERENCE_EVENT_TYPE, INFERENCE_TOPIC
from cnai.events.cloudevents import SPEC_VERSION, format_time
from cnai.serving.ids import new_id
from cnai.serving.metrics import ServingMetrics

log = logging.getLogger("cnai.serving")

_MAX_BATCH = 512
# Events are written at most this often: one bus transaction (and one thread hand-off) per
# interval instead of per request, which is what keeps the log cheap for the request path.
FLUSH_INTERVAL_S = 0.05
# Events encoded between two yields to the event loop. A flush under load holds hundreds of
# events; encoding them in one go stalled every request on the loop for milliseconds (the p99).
_ENCODE_CHUNK = 32
# Arrays up to this many elements are written through tolist(): for the few values of a typical
# request that is several times cheaper than orjson's numpy path, and the JSON is the same.
_LIST_MAX = 4096


class InferenceLogger:
    def __init__(
        self,
        bus: Any,
        metrics: ServingMetrics,
        *,
        sample_rate: float = 1.0,
        queue_size: int = 10_000,
        source: str = "cnai-serve",
        rng: Callable[[], float] = random.random,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.flush_interval_s = flush_interval_s
        self.bus = bus
        self.metrics = metrics
        self.sample_rate = sample_rate
        self.source = source
        self._rng = rng
        self._pending: collections.deque[tuple[Any, ...] | dict[str, Any]] = collections.deque()
        self._queue_size = queue_size
        self._ready = asyncio.Event()  # set when the buffer goes from empty to not empty
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last_error_log = 0.0
        self._time_second = -1
        self._time_prefix = ""

    async def start(self) -> None:
        await self.bus.start()
        with contextlib.suppress(Exception):  # the topic may exist; auto-creation covers the rest
            await self.bus.create_topic(INFERENCE_TOPIC)
        self._task = asyncio.create_task(self._drain())

    async def close(self) -> None:
        """Write what is queued, then close the bus."""
        if self._task is not None:
            self._closing = True  # the drain task writes everything buffered, then returns
            self._ready.set()
            await self._task
            self._task = None
        await self.bus.close()

    def record(
        self,
        *,
        model: str,
        version: str,
        request_id: str,
        protocol: str,
        inputs: Any,
        columns: list[str] | None,
        outputs: dict[str, np.ndarray],
        latency_s: float,
    ) -> None:
        if self.sample_rate < 1.0 and self._rng() >= self.sample_rate:
            return
        item = (model, version, request_id, protocol, inputs, columns, outputs, latency_s, time.time_ns() // 1_000_000)
        pending = self._pending
        if len(pending) >= self._queue_size:
            self.metrics.log_dropped.inc()
            return
        pending.append(item)
        if len(pending) == 1:  # the drain task may be waiting for a first event
            self._ready.set()

    def record_request(self, data: dict[str, Any]) -> None:
        """One request-level event; ``data`` is its payload without the timestamp (added here)."""
        if self.sample_rate < 1.0 and self._rng() >= self.sample_rate:
            return
        pending = self._pending
        if len(pending) >= self._queue_size:
            self.metrics.log_dropped.inc()
            return
        data["timestamp_ms"] = time.time_ns() // 1_000_000
        pending.append(data)
        if len(pending) == 1:
            self._ready.set()

    async def _drain(self) -> None:
        pending = self._pending
        while True:
            if not pending:
                if self._closing:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            if len(pending) < _MAX_BATCH and not self._closing:
                await asyncio.sleep(self.flush_interval_s)
            items = [pending.popleft() for _ in range(min(len(pending), _MAX_BATCH))]
            try:
                pairs: list[tuple[bytes, bytes]] = []
                for start in range(0, len(items), _ENCODE_CHUNK):
                    if start:
                        await asyncio.sleep(0)  # let requests in between chunks: no stall longer than one
                    pairs += [self._encode(item) for item in items[start : start + _ENCODE_CHUNK]]
                await self.bus.produce_many(INFERENCE_TOPIC, pairs)
                self.metrics.log_written.inc(len(pairs))
            except Exception as exc:
                self.metrics.log_dropped.inc(len(items))
                now = time.monotonic()
                if now - self._last_error_log > 60:
                    self._last_error_log = now
                    log.warning("inference log: dropped %d events: %s", len(items), exc)

    def _time(self, ts: int) -> str:
        """RFC 3339 time, formatted once per second (events of one second share the prefix)."""
        second, ms = divmod(ts, 1000)
        if second != self._time_second:
            self._time_second = second
            self._time_prefix = format_time(second * 1000)[:-4]  # "...T12:00:00" without ".000Z"
        return f"{self._time_prefix}{ms:03d}Z"

    def _encode(self, item: tuple[Any, ...] | dict[str, Any]) -> tuple[bytes, bytes]:
        if isinstance(item, dict):  # record_request(): the payload is ready
            data = item
        else:
            model, version, request_id, protocol, inputs, columns, outputs, latency_s, ts = item
            data = {
                "model": model,
                "version": version,
                "request_id": request_id,
                "protocol": protocol,
                "inputs": _columns(inputs, columns),
                "outputs": {k: _jsonable(v) for k, v in outputs.items()},
                "latency_ms": round(latency_s * 1000, 3),
                "timestamp_ms": ts,
            }
        model = data["model"]
        # The envelope is built here rather than with make_event(): every attribute is ours and
        # valid by construction, and skipping the per-event validation halves the log's CPU cost.
        # tests/integration/serving checks the events decode with cnai.events.decode().
        event = {
            "specversion": SPEC_VERSION,
            "id": new_id(),
            "source": self.source,
            "type": INFERENCE_EVENT_TYPE,
            "time": self._time(data["timestamp_ms"]),
            "subject": model,
            "datacontenttype": "application/json",
            "data": data,
        }
        return model.encode(), orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)


def _columns(inputs: Any, columns: list[str] | None) -> dict[str, Any]:
    """Inputs as ``{column: values}``, the shape monitors read (one list per feature)."""
    if isinstance(inputs, np.ndarray):  # the common case first: no failing hasattr() lookups
        arr = inputs
    elif hasattr(inputs, "columns") and hasattr(inputs, "to_numpy"):  # a DataFrame
        return {str(c): _jsonable(inputs[c].to_numpy()) for c in inputs.columns}
    else:
        arr = np.asarray(inputs)
    if arr.ndim == 2:
        names = columns if columns and len(columns) == arr.shape[1] else [f"f{i}" for i in range(arr.shape[1])]
        if _as_list(arr):
            return dict(zip(names, arr.T.tolist(), strict=False))  # one call for all columns; lengths match
        return {name: _jsonable(arr[:, i]) for i, name in enumerate(names)}
    return {"input": _jsonable(arr)}


def _as_list(arr: np.ndarray) -> bool:
    """Whether ``tolist()`` gives the JSON orjson would write for the array: ints, bools, float64.

    (float32 is left to orjson, which writes it at float32 precision; tolist() would widen it.)
    """
    kind = arr.dtype.kind
    return arr.size <= _LIST_MAX and (kind in "biu" or (kind == "f" and arr.dtype.itemsize == 8))


def _jsonable(arr: Any) -> Any:
    arr = np.asarray(arr)
    if arr.dtype.kind in "OUS":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in arr.tolist()]
    if _as_list(arr):
        return arr.tolist()
    if (arr.dtype.kind in "biuf" and arr.dtype.itemsize >= 4) or arr.dtype.kind == "b":
        return np.ascontiguousarray(arr)  # orjson writes numpy arrays natively
    return arr.tolist()
