"""Live performance metrics agree with scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from cnai.monitoring.monitor.performance import class_key, classification, regression


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_classification_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = np.where(rng.random(300) < 0.8, y, 1 - y)
    out = classification(p.tolist(), y.tolist())
    assert out["labelled"] == 300
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert out["f1"] == pytest.approx(skm.f1_score(y, p), abs=1e-12)
    assert out["f1_average"] == "binary"


def test_multiclass_f1_is_sklearns_macro_average() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(["setosa", "versicolor", "virginica"], 200)
    p = np.where(rng.random(200) < 0.7, y, rng.choice(["setosa", "versicolor", "virginica", "other"], 200))
    out = classification(p.tolist(), y.tolist())
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert out["f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0), abs=1e-12)
    assert out["f1_average"] == "macro"


def test_positive_label_and_mixed_spellings_of_a_class() -> None:
    # The model predicts int64 classes; clients post 1, 1.0 or "1".
    out = classification([1, 0, 1, 1], ["1", 0.0, 1.0, 0])
    assert out["accuracy"] == 0.75
    assert out["f1"] == pytest.approx(skm.f1_score([1, 0, 1, 0], [1, 0, 1, 1]))
    spam = classification(["spam", "ham", "spam"], ["spam", "spam", "ham"], positive_label="spam")
    assert spam["f1"] == pytest.approx(skm.f1_score(["spam", "spam", "ham"], ["spam", "ham", "spam"], pos_label="spam"))


def test_probability_rows_count_as_their_argmax_and_bad_labels_are_left_out() -> None:
    out = classification([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], [0, 1, None])
    assert out == {"labelled": 2, "accuracy": 1.0, "f1": 1.0, "f1_average": "binary"}
    assert class_key(float("nan")) is None
    assert classification([], []) == {"labelled": 0, "accuracy": None, "f1": None}


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=500)
    p = y + rng.normal(scale=0.3, size=500)
    out = regression(p.tolist(), y.tolist())
    assert out["labelled"] == 500
    assert out["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert out["mae"] == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    # A one-element prediction list (a model output of shape [n, 1]) and numeric text both count.
    assert regression([[2.0], 3.0, "x"], ["1.0", 5, 1])["labelled"] == 2
