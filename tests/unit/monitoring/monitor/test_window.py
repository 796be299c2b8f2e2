"""Windows as a pure function of rows and time; events to rows."""

from __future__ import annotations

import orjson

from cnai.events.cloudevents import make_event
from cnai.monitoring.monitor.rows import Row, parse_inference, rows_of
from cnai.monitoring.monitor.spec import Window
from cnai.monitoring.monitor.window import close_windows


def rows(*times: int) -> list[Row]:
    return [Row(ts_ms=t, request_id=f"r{i}", index=0, values={}, ordinal=i + 1) for i, t in enumerate(times)]


def ordinals(windows: list[list[Row]]) -> list[list[int]]:
    return [[r.ordinal for r in w] for w in windows]


def test_count_windows_close_every_n_rows() -> None:
    closed, rest = close_windows(Window(count=3), rows(*range(8)), now_ms=0)
    assert ordinals(closed) == [[1, 2, 3], [4, 5, 6]]
    assert [r.ordinal for r in rest] == [7, 8]
    closed, rest = close_windows(Window(count=3), rows(1, 2), now_ms=10**12)
    assert closed == []
    assert len(rest) == 2  # the clock never closes a count window


def test_time_window_closes_on_a_later_event_or_the_clock() -> None:
    w = Window(seconds=1)
    # A row 1 s after the first proves the window's time is up, whatever the wall clock says.
    closed, rest = close_windows(w, rows(0, 500, 999, 1000, 1500), now_ms=0)
    assert ordinals(closed) == [[1, 2, 3]]
    assert [r.ordinal for r in rest] == [4, 5]
    # The same open window closes by the clock alone once 1 s has passed since its first row.
    closed, rest = close_windows(w, rest, now_ms=1999)
    assert closed == []
    closed, rest = close_windows(w, rest, now_ms=2000)
    assert ordinals(closed) == [[4, 5]]
    assert rest == []


def test_time_windows_split_a_replayed_backlog_by_event_time() -> None:
    closed, rest = close_windows(Window(seconds=1), rows(0, 100, 1200, 1300, 2500, 2600), now_ms=2700)
    assert ordinals(closed) == [[1, 2], [3, 4]]
    assert [r.ordinal for r in rest] == [5, 6]


def test_time_window_short_of_min_rows_stays_open() -> None:
    w = Window(seconds=1, min_rows=3)
    closed, rest = close_windows(w, rows(0, 100), now_ms=5000)
    assert closed == []
    assert len(rest) == 2
    closed, rest = close_windows(w, rows(0, 100, 5000, 5001), now_ms=5002)
    assert ordinals(closed) == [[1, 2, 3]]  # took the next row to reach minRows
    assert [r.ordinal for r in rest] == [4]


def inference_event(**data: object) -> bytes:
    payload = {
        "model": "iris",
        "version": "1",
        "request_id": "req-1",
        "protocol": "mlflow",
        "inputs": {"a": [1.0, 2.0], "b": ["x", "y"], "extra": [0, 0]},
        "outputs": {"predict": [0, 1]},
        "latency_ms": 1.0,
        "timestamp_ms": 1234,
    }
    payload.update(data)
    return orjson.dumps(make_event("io.cnai.inference.v1", "cnai-serve", payload))


def test_rows_of_an_inference_event() -> None:
    inference = parse_inference(inference_event())
    assert inference is not None
    out = rows_of(inference, ["a", "b", "missing"])
    assert [(r.request_id, r.index, r.values, r.prediction, r.ts_ms) for r in out] == [
        ("req-1", 0, {"a": 1.0, "b": "x"}, 0, 1234),
        ("req-1", 1, {"a": 2.0, "b": "y"}, 1, 1234),
    ]
    probabilities = parse_inference(inference_event(outputs={"predict_proba": [[0.9, 0.1], [0.2, 0.8]]}))
    assert probabilities is not None
    assert [r.prediction for r in rows_of(probabilities, ["a"])] == [[0.9, 0.1], [0.2, 0.8]]
    assert [r.prediction for r in rows_of(probabilities, ["a"], output="nope")] == [None, None]


def test_records_that_are_not_inference_events_are_ignored() -> None:
    assert parse_inference(b"not json") is None
    assert parse_inference(orjson.dumps(make_event("io.other", "x", {"model": "iris"}))) is None
    assert parse_inference(inference_event(timestamp_ms="soon")) is None
    assert parse_inference(inference_event(inputs=[1, 2])) is None
