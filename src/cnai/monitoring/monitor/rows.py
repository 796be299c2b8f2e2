"""Inference events to monitored rows: one row per input row, holding the monitor's features and
the model's prediction for that row.

A request may carry many rows under one request id; ``index`` is the row's position inside its
request, which is how late labels (one per request, or a list with one per row) are matched.

The request itself (status, latency, and for LLMs time to first token, token counts and finish
reason) rides on its first row as ``service``, so service statistics count requests, not rows.
An event without input rows (an LLM request logged without its content) is one row with no
feature values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cnai.errors import InvalidArgument
from cnai.events.cloudevents import INFERENCE_EVENT_TYPE, decode


@dataclass(frozen=True, slots=True)
class Row:
    ts_ms: int
    request_id: str | None
    index: int
    values: dict[str, Any]  # only the features the event carried: absent != missing value
    prediction: Any = None
    ordinal: int = 0  # position in the monitor's stream, assigned when the row is buffered
    service: dict[str, Any] | None = None  # the request's status, latency, tokens: on its first row only


@dataclass(frozen=True, slots=True)
class Inference:
    """The fields of an ``io.cnai.inference.v1`` event a monitor uses."""

    model: str
    version: str
    request_id: str | None
    ts_ms: int
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]
    service: dict[str, Any] | None = None
    request_event: bool = False  # one event per request with its status (the OpenAI routes)


def parse_inference(raw: bytes) -> Inference | None:
    """The event's payload, or None when the record is not a well-formed inference event."""
    try:
        event = decode(raw)
    except InvalidArgument:
        return None
    if event.get("type") != INFERENCE_EVENT_TYPE:
        return None
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    model, inputs, ts = data.get("model"), data.get("inputs"), data.get("timestamp_ms")
    outputs = data.get("outputs") or {}
    if not isinstance(model, str) or not isinstance(inputs, dict) or not isinstance(outputs, dict):
        return None
    if isinstance(ts, bool) or not isinstance(ts, int):
        return None
    request_id = data.get("request_id")
    return Inference(
        model=model,
        version=str(data.get("version", "")),
        request_id=request_id if isinstance(request_id, str) and request_id else None,
        ts_ms=ts,
        inputs={str(k): v for k, v in inputs.items() if isinstance(v, list)},
        outputs={str(k): v for k, v in outputs.items() if isinstance(v, list)},
        service=_service(data),
        request_event="status" in data,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _service(data: dict[str, Any]) -> dict[str, Any]:
    """The request-level fields: every event has a latency; only the OpenAI routes log failures
    (``status``) and LLM fields (``ttft_ms``, ``usage``, ``finish_reason``)."""
    status = data.get("status", 200)
    out: dict[str, Any] = {"status": status if isinstance(status, int) and not isinstance(status, bool) else 200}
    for key in ("latency_ms", "ttft_ms"):
        value = _number(data.get(key))
        if value is not None:
            out[key] = value
    usage = data.get("usage")
    if isinstance(usage, dict):
        for key in ("prompt_tokens", "completion_tokens"):
            value = _number(usage.get(key))
            if value is not None:
                out[key] = int(value)
    reason = data.get("finish_reason")
    if isinstance(reason, str):
        out["finish_reason"] = reason
    return out


def prediction_output(outputs: dict[str, list[Any]], wanted: str | None) -> str | None:
    """Which output holds the predictions: the one named, else ``predict``, else the first."""
    if wanted is not None:
        return wanted if wanted in outputs else None
    if "predict" in outputs:
        return "predict"
    return next(iter(outputs), None)


def rows_of(inference: Inference, features: Iterable[str], output: str | None = None) -> list[Row]:
    """One row per input row. Columns whose length differs from the request's are left out."""
    columns = list(inference.inputs.values())
    if not columns:
        if not inference.request_event:
            return []
        # A request logged without its content (an LLM call): one row, for the service statistics.
        return [Row(inference.ts_ms, inference.request_id, 0, {}, service=inference.service)]
    n = len(columns[0])
    wanted = [(f, inference.inputs[f]) for f in features if f in inference.inputs and len(inference.inputs[f]) == n]
    name = prediction_output(inference.outputs, output)
    predictions = inference.outputs.get(name) if name is not None else None
    if predictions is not None and len(predictions) != n:
        predictions = None
    return [
        Row(
            ts_ms=inference.ts_ms,
            request_id=inference.request_id,
            index=i,
            values={f: col[i] for f, col in wanted},
            prediction=predictions[i] if predictions is not None else None,
            service=inference.service if i == 0 else None,
        )
        for i in range(n)
    ]
