"""The engine end to end on in-memory tables: verdicts, options, cleaning, errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cnai.errors import InvalidArgument
from cnai.monitoring.drift import DriftOptions, compare
from cnai.monitoring.io import ArrowSource, from_arrays

rng = np.random.default_rng(11)


def _pair(n_ref: int, n_cur: int, shift: float = 0.0) -> tuple[ArrowSource, ArrowSource]:
    ref = from_arrays(
        {
            "x": rng.normal(size=n_ref),
            "y": rng.exponential(size=n_ref),
            "color": rng.choice(["red", "green", "blue"], n_ref).tolist(),
            "flag": rng.integers(0, 2, n_ref),
        },
        name="ref",
    )
    cur = from_arrays(
        {
            "x": rng.normal(shift, size=n_cur),
            "y": rng.exponential(size=n_cur),
            "color": rng.choice(["red", "green", "blue"], n_cur, p=[0.8, 0.1, 0.1] if shift else None).tolist(),
            "flag": rng.integers(0, 2, n_cur),
        },
        name="cur",
    )
    return ref, cur


def test_small_reference_uses_hypothesis_tests() -> None:
    ref, cur = _pair(500, 400, shift=1.0)
    report = compare(ref, cur)
    by = {c.column: c for c in report.columns}
    assert by["x"].test == "ks"
    assert by["x"].drifted
    assert by["x"].p_value is not None
    assert by["color"].test == "chisquare"
    assert by["color"].drifted
    assert by["flag"].test == "z"
    assert not by["flag"].drifted
    assert by["y"].test == "ks"
    assert not by["y"].drifted
    assert report.n_drifted == 2
    assert report.share_drifted == 0.5
    assert report.dataset_drift  # share >= 0.5 counts as drift, as in Evidently


def test_large_reference_uses_distances() -> None:
    ref, cur = _pair(5000, 3000, shift=1.0)
    report = compare(ref, cur)
    by = {c.column: c for c in report.columns}
    assert by["x"].test == "wasserstein"
    assert by["x"].drifted
    assert by["x"].p_value is None
    assert by["color"].test == "jensenshannon"
    assert by["color"].drifted
    assert by["flag"].test == "jensenshannon"
    assert not by["flag"].drifted


def test_no_shift_no_drift() -> None:
    ref, cur = _pair(3000, 3000)
    report = compare(ref, cur)
    assert report.n_drifted == 0
    assert not report.dataset_drift


def test_method_and_threshold_options() -> None:
    ref, cur = _pair(2000, 2000, shift=0.2)
    report = compare(ref, cur, DriftOptions(method="psi", threshold=0.5))
    assert {c.test for c in report.columns} == {"psi"}
    assert all(c.threshold == 0.5 for c in report.columns)
    # KS applies only to numbers: categorical columns keep the preset's choice.
    ks = compare(ref, cur, DriftOptions(method="ks"))
    assert {c.column: c.test for c in ks.columns} == {
        "x": "ks",
        "y": "ks",
        "color": "jensenshannon",
        "flag": "jensenshannon",
    }
    with pytest.raises(InvalidArgument, match="does not apply"):
        compare(ref, cur, DriftOptions(per_column_method={"color": "wasserstein"}))


def test_categorical_override_and_columns() -> None:
    ref, cur = _pair(2000, 2000)
    report = compare(ref, cur, DriftOptions(columns=["y", "x"], categorical=frozenset({"y"})))
    assert [c.column for c in report.columns] == ["y", "x"]
    assert report.column("y").kind == "cat"


def test_missing_and_infinite_values_are_dropped() -> None:
    x = rng.normal(size=2000)
    xc = x.copy()
    xc[:100] = np.nan
    xc[100:110] = np.inf
    ref = ArrowSource(pa.table({"x": x}))
    cur = ArrowSource(pa.table({"x": pa.array(xc)}))
    col = compare(ref, cur).column("x")
    assert col.n_current == 1890
    q = compare(ref, cur).quality[0]
    assert q.missing.current_count == 100  # inf is not "missing", NaN is


def test_text_columns_are_skipped() -> None:
    ref = from_arrays({"id": [f"r{i}" for i in range(100)], "v": rng.normal(size=100)})
    cur = from_arrays({"id": [f"c{i}" for i in range(100)], "v": rng.normal(size=100)})
    report = compare(ref, cur)
    assert [s.column for s in report.skipped] == ["id"]
    assert [c.column for c in report.columns] == ["v"]


def test_errors_are_invalid_argument() -> None:
    ref, cur = _pair(100, 100)
    with pytest.raises(InvalidArgument, match="not in reference: nope"):
        compare(ref, cur, DriftOptions(columns=["x", "nope"]))
    with pytest.raises(InvalidArgument, match="Unknown drift test"):
        DriftOptions(method="bogus")
    text_ref = from_arrays({"x": ["a"] * 50 + ["b"] * 50})
    num_cur = from_arrays({"x": rng.normal(size=100)})
    with pytest.raises(InvalidArgument, match="changed type"):
        compare(text_ref, num_cur)
    empty = ArrowSource(pa.table({"x": pa.array([None, None], type=pa.float64())}))
    with pytest.raises(InvalidArgument, match="no values in current"):
        compare(from_arrays({"x": rng.normal(size=10)}), empty)


def test_distributions_for_plots() -> None:
    ref, cur = _pair(1500, 1500, shift=1.0)
    report = compare(ref, cur)
    x = report.column("x").distribution
    assert x is not None
    assert x.kind == "hist"
    assert x.edges is not None
    assert len(x.edges) == len(x.reference) + 1
    assert sum(x.reference) == pytest.approx(1.0)
    assert sum(x.current) == pytest.approx(1.0)
    color = report.column("color").distribution
    assert color is not None
    assert color.kind == "bar"
    assert set(color.labels) == {"red", "green", "blue"}


def test_domain_classifier_separates_shifted_data() -> None:
    pytest.importorskip("sklearn")
    ref, cur = _pair(1500, 1500, shift=1.5)
    shifted = compare(ref, cur, DriftOptions(domain_classifier=True)).classifier
    assert shifted is not None
    assert shifted.drifted
    assert shifted.roc_auc > 0.75
    ref, cur = _pair(1500, 1500)
    same = compare(ref, cur, DriftOptions(domain_classifier=True)).classifier
    assert same is not None
    assert not same.drifted
    assert same.roc_auc < 0.55


def test_to_dict_is_json_safe() -> None:
    ref = from_arrays({"c": ["a"] * 50 + ["b"] * 50})
    cur = from_arrays({"c": ["a"] * 50 + ["new"] * 50})
    d = compare(ref, cur).to_dict()
    col = d["columns"][0]
    assert col["test"] == "chisquare"
    assert col["statistic"] is None
    assert col["drifted"] is True
    assert d["quality"]["columns"][0]["unseen_categories"]["values"] == ["new"]


def test_thread_pool_gives_the_same_report_in_column_order() -> None:
    ref, cur = _pair(3000, 2000, shift=0.5)
    one = compare(ref, cur, DriftOptions(workers=1)).to_dict(distributions=True)
    many = compare(ref, cur, DriftOptions(workers=4)).to_dict(distributions=True)
    one.pop("elapsed_s")
    many.pop("elapsed_s")
    assert one == many
    assert [c["column"] for c in many["columns"]] == ["x", "y", "color", "flag"]
