"""cnai's per-column verdicts equal Evidently's default DataDriftPreset's, dataset by dataset.

Datasets: synthetic with known shifts (numerical and categorical columns, missing and infinite
values; a <= 1,000-row reference for the hypothesis-test branch of the preset and a larger one
for the distance branch), and real data bundled with scikit-learn (wine, diabetes, digits) as
an even split (no drift expected) and with a shift injected into half the columns.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cnai.monitoring.drift import DriftOptions, compare
from cnai.monitoring.io import ArrowSource
from tests.integration.monitoring._evidently import evidently_drift

pytest.importorskip("evidently")
sk_datasets = pytest.importorskip("sklearn.datasets")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def _synthetic(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "normal": rng.normal(size=n),
            "skewed": rng.exponential(size=n),
            "int_wide": rng.integers(0, 100, n),  # > 10 values: numerical
            "four_vals": rng.integers(0, 4, n).astype(float),  # numerical, <= 5 values
            "binary_num": rng.integers(0, 2, n).astype(float),
            "letters": rng.choice(list("abcde"), n),
            "yes_no": rng.choice(["y", "n"], n),
            "int_code": rng.integers(0, 7, n),  # <= 10 values: categorical
            "flag": rng.random(n) < 0.3,
        }
    )
    cur = pd.DataFrame(
        {
            "normal": rng.normal(0.3, size=n),  # shifted mean
            "skewed": rng.exponential(1.2, size=n),  # shifted scale
            "int_wide": rng.integers(0, 100, n),
            "four_vals": rng.integers(0, 5, n).astype(float),  # a new value
            "binary_num": (rng.random(n) < 0.6).astype(float),  # shifted proportion
            "letters": rng.choice(list("abcdef"), n),  # a new category
            "yes_no": rng.choice(["y", "n"], n, p=[0.7, 0.3]),
            "int_code": rng.integers(0, 7, n),
            "flag": rng.random(n) < 0.32,
        }
    )
    cur.loc[:20, "normal"] = np.nan
    cur.loc[3, "skewed"] = np.inf
    ref.loc[5:9, "letters"] = None
    return ref, cur


def _split(frame: pd.DataFrame, ref_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[idx[:ref_rows]].reset_index(drop=True), frame.iloc[idx[ref_rows:]].reset_index(drop=True)


def _shift(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    cols = [c for c in out.columns if out[c].dtype.kind in "fi" and out[c].nunique() > 10]
    for c in cols[: len(cols) // 2 + 1]:
        out[c] = out[c] * 1.3 + out[c].std() * 0.5
    return out


def _bundled(name: str) -> pd.DataFrame:
    loader = getattr(sk_datasets, f"load_{name}")
    frame: pd.DataFrame = loader(as_frame=True).frame
    if name == "digits":  # 64 pixel columns; a dozen keep Evidently's run short
        frame = frame[[f"pixel_{r}_{c}" for r in (2, 4) for c in range(1, 7)] + ["target"]]
    return frame


def _wine() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _split(_bundled("wine"), 89, 0)


def _diabetes() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _split(_bundled("diabetes"), 221, 1)


def _digits() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _split(_bundled("digits"), 1200, 2)  # > 1,000 reference rows: the distance branch


CASES: dict[str, Callable[[], tuple[pd.DataFrame, pd.DataFrame]]] = {
    "synthetic-small-shifted": lambda: _synthetic(600, 1),
    "synthetic-large-shifted": lambda: _synthetic(4000, 2),
    "synthetic-large-no-shift": lambda: (_synthetic(4000, 3)[0], _synthetic(3000, 4)[0]),
    "wine": _wine,
    "wine-shifted": lambda: (_wine()[0], _shift(_wine()[1])),
    "diabetes-shifted": lambda: (_diabetes()[0], _shift(_diabetes()[1])),
    "digits": _digits,
    "digits-shifted": lambda: (_digits()[0], _shift(_digits()[1])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_per_column_verdicts_equal_evidently(case: str) -> None:
    reference, current = CASES[case]()
    expected = evidently_drift(reference, current)
    report = compare(
        ArrowSource(pa.Table.from_pandas(reference, preserve_index=False)),
        ArrowSource(pa.Table.from_pandas(current, preserve_index=False)),
    )
    ours = {c.column: c for c in report.columns}
    assert set(ours) == set(expected.drifted), "same columns tested"
    for name, col in ours.items():
        assert col.test_display_name == expected.method[name], name
        assert col.drifted == expected.drifted[name], (name, col.score, expected.score[name])
        assert col.score == pytest.approx(expected.score[name], rel=1e-6, abs=1e-12), name
    assert report.share_drifted == pytest.approx(expected.share)
    # The cases are built so that both outcomes occur: a shift is seen, its absence too.
    assert report.dataset_drift is ("shifted" in case)


# Every optional test once, each on a column it applies to, in one Evidently run.
PER_COLUMN_METHOD = {
    "normal": "psi",
    "skewed": "kl_div",
    "int_wide": "ks",
    "four_vals": "wasserstein",
    "binary_num": "jensenshannon",
    "letters": "chisquare",
    "yes_no": "z",
    "int_code": "psi",
    "flag": "kl_div",
}


def test_optional_tests_equal_evidently_per_column() -> None:
    reference, current = _synthetic(3000, 9)
    # Evidently's dataset-level pass keeps +inf in a column without NaN and then fails to bin it.
    current = current.replace([np.inf, -np.inf], np.nan)
    expected = evidently_drift(reference, current, per_column_method=PER_COLUMN_METHOD)
    report = compare(
        ArrowSource(pa.Table.from_pandas(reference, preserve_index=False)),
        ArrowSource(pa.Table.from_pandas(current, preserve_index=False)),
        DriftOptions(per_column_method=PER_COLUMN_METHOD),
    )
    for col in report.columns:
        assert col.test == PER_COLUMN_METHOD[col.column]
        assert col.drifted == expected.drifted[col.column], (col.column, col.score, expected.score[col.column])
        assert col.score == pytest.approx(expected.score[col.column], rel=1e-6, abs=1e-12), col.column
    assert {c.drifted for c in report.columns} == {True, False}
