"""One window's verdict: the drift engine and data-quality checks on the window's rows against
the monitor's reference, reduced to what is stored, exported and sent in alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cnai.errors import CnaiError, InvalidState
from cnai.monitoring.drift import DriftOptions, compare
from cnai.monitoring.drift.result import DriftReport
from cnai.monitoring.io import ArrowSource, TableSource
from cnai.monitoring.monitor.rows import Row
from cnai.monitoring.monitor.spec import MonitorSpec


@dataclass(frozen=True)
class WindowVerdict:
    rows: int
    start_ms: int
    end_ms: int
    drift_share: float
    dataset_drift: bool
    features: dict[str, dict[str, Any]]  # per compared feature: test, score, threshold, drifted, ...
    quality: dict[str, Any]
    error: str | None = None
    drifted: list[str] = field(default_factory=list)
    service: dict[str, Any] | None = None  # tests.service: requests, errors, latency, tokens (.service)
    prompt_drift: dict[str, Any] | None = None  # tests.promptDrift: score, threshold, drifted (.prompts)


def without_drift(rows: Sequence[Row]) -> WindowVerdict:
    """The verdict of a monitor with no reference: no feature compared (its service and prompts are
    judged apart)."""
    return WindowVerdict(
        len(rows), min(r.ts_ms for r in rows), max(r.ts_ms for r in rows), 0.0, False, features={}, quality={}
    )


def monitored_features(spec: MonitorSpec, reference: TableSource) -> list[str]:
    """The spec's features, or every reference column; each must be a reference column."""
    names = list(reference.schema.names)
    if spec.features is None:
        return names
    missing = [f for f in spec.features if f not in names]
    if missing:
        raise InvalidState(f"feature(s) not in the reference dataset: {', '.join(missing)}")
    return list(spec.features)


def evaluate(spec: MonitorSpec, reference: TableSource, features: Sequence[str], rows: Sequence[Row]) -> WindowVerdict:
    """Compare the window's rows with the reference (features absent from every event are reported,
    not compared)."""
    start = min(r.ts_ms for r in rows)
    end = max(r.ts_ms for r in rows)
    present = [f for f in features if any(f in r.values for r in rows)]
    absent = [f for f in features if f not in present]
    if not present:
        message = "no monitored feature appears in the inference events"
        return _failed(len(rows), start, end, message)
    current = ArrowSource(_window_table(rows, present, reference.schema), name="window")
    tests = spec.tests
    options = DriftOptions(
        columns=present,
        categorical=frozenset(tests.categorical) & set(present),
        numerical=frozenset(tests.numerical) & set(present),
        method=tests.method,
        threshold=tests.threshold,
        per_column_method={c: t.method for c, t in tests.columns.items() if t.method and c in present},
        per_column_threshold={
            c: t.threshold for c, t in tests.columns.items() if t.threshold is not None and c in present
        },
        drift_share=tests.drift_share_threshold,
        distributions=False,
        workers=1,  # the control plane serves requests on the same cores
    )
    try:
        report = compare(reference, current, options)
    except CnaiError as exc:
        return _failed(len(rows), start, end, exc.message)
    return _verdict(report, len(rows), start, end, absent)


def _failed(rows: int, start: int, end: int, message: str) -> WindowVerdict:
    return WindowVerdict(rows, start, end, drift_share=0.0, dataset_drift=False, features={}, quality={}, error=message)


def _verdict(report: DriftReport, rows: int, start: int, end: int, absent: list[str]) -> WindowVerdict:
    summary = report.to_dict()
    features = {
        c["column"]: {
            k: c[k] for k in ("kind", "test", "statistic", "p_value", "score", "threshold", "drifted", "n_current")
        }
        for c in summary["columns"]
    }
    quality = {
        "absent_features": absent,
        "skipped": summary["skipped"],
        "columns": {q["column"]: _quality_brief(q) for q in summary["quality"]["columns"]},
    }
    return WindowVerdict(
        rows,
        start,
        end,
        drift_share=report.share_drifted,
        dataset_drift=report.dataset_drift,
        features=features,
        quality=quality,
        drifted=[c.column for c in report.columns if c.drifted],
    )


def _quality_brief(q: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"missing_share": q["missing"]["current_share"], "type_changed": q["type_changed"]}
    if q.get("out_of_range"):
        out["out_of_range_share"] = q["out_of_range"]["share"]
    if q.get("unseen_categories"):
        out["unseen_categories"] = q["unseen_categories"]["count"]
    return out


def _window_table(rows: Sequence[Row], features: list[str], reference: pa.Schema) -> pa.Table:
    """The rows as an Arrow table, each column in the reference's type where it converts losslessly
    (JSON carries 1.0 as a float where the reference column may be integers, and the reverse)."""
    columns = {}
    for name in features:
        values = [r.values.get(name) for r in rows]
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: compare as text
            array = pa.array([None if v is None else str(v) for v in values])
        target = reference.field(name).type
        if not array.type.equals(target) and _castable(array.type, target):
            try:
                array = pc.cast(array, target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # kept as it is: the quality check reports the type change
        columns[name] = array
    return pa.table(columns)


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source) or pa.types.is_null(source)
    return bool(numeric and (pa.types.is_integer(target) or pa.types.is_floating(target)))
