"""Data-quality checks as structured results."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cnai.monitoring.drift import DriftOptions, compare
from cnai.monitoring.drift.binning import Counts
from cnai.monitoring.io import ArrowSource
from cnai.monitoring.quality import missing_values, out_of_range, schema_changes, unseen_categories


def test_schema_changes() -> None:
    ref = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.float64())])
    cur = pa.schema([("a", pa.float64()), ("c", pa.float64()), ("d", pa.string())])
    s = schema_changes(ref, cur)
    assert s.missing_in_current == ["b"]
    assert s.extra_in_current == ["d"]
    assert [(t.column, t.reference_type, t.current_type) for t in s.type_changes] == [("a", "int64", "double")]
    assert s.changed
    assert not schema_changes(ref, ref).changed


def test_out_of_range() -> None:
    o = out_of_range(np.array([0.0, 5.0, 10.0]), np.sort(np.array([-1.0, 0.0, 10.0, 10.5, 11.0, 3.0])))
    assert (o.reference_min, o.reference_max, o.below, o.above) == (0.0, 10.0, 1, 2)
    assert o.share == 0.5


def test_unseen_categories_sorted_by_frequency() -> None:
    c = Counts(keys=["a", "b", "x", "y"], reference=np.array([5, 5, 0, 0]), current=np.array([2, 2, 1, 5]))
    u = unseen_categories(c)
    assert (u.count, u.rows, u.values) == (2, 6, ["y", "x"])
    assert u.share == 0.6


def test_missing_values_shares() -> None:
    m = missing_values(1, 10, 5, 20)
    assert (m.reference_share, m.current_share) == (0.1, 0.25)


def test_engine_reports_quality_per_column() -> None:
    ref = ArrowSource(
        pa.table(
            {"n": pa.array([1.0, 2.0, 3.0, None] * 30), "k": pa.array(["a", "b", "c"] * 40), "i": list(range(120))}
        )
    )
    cur = ArrowSource(
        pa.table(
            {
                "n": pa.array([1.0, 9.0, np.nan, None] * 30),
                "k": pa.array(["a", "z", None] * 40),
                "i": pa.array([float(v) for v in range(120)]),
                "extra": list(range(120)),
            }
        )
    )
    report = compare(ref, cur, DriftOptions(columns=["n", "k", "i"]))
    q = {c.column: c for c in report.quality}
    assert q["n"].missing.reference_count == 30
    assert q["n"].missing.current_count == 60
    assert q["n"].out_of_range is not None
    assert q["n"].out_of_range.above == 30
    assert q["k"].unseen_categories is not None
    assert q["k"].unseen_categories.values == ["z"]
    assert q["i"].type_changed
    assert not q["n"].type_changed
    assert q["k"].has_issues
    assert report.schema.extra_in_current == ["extra"]
    d = report.to_dict()
    assert d["quality"]["schema"]["type_changes"] == [
        {"column": "i", "reference_type": "int64", "current_type": "double"}
    ]
    assert d["quality"]["columns"][2]["type_changed"] is True
