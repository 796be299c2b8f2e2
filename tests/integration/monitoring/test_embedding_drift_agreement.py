"""cnai's embedding drift (score and verdict) equals Evidently's ``EmbeddingsDriftMetric``, method by method.

Synthetic embeddings: vectors around one centre, a current sample from the same distribution (no
drift) and one moved on half the dimensions (drift). Evidently's default choice of method runs
through its legacy ``Report`` with the metric and a ``ColumnMapping`` naming the embedding columns,
as its documentation shows; every other case calls the method object the metric would call,
``drift_method(current, reference)`` on the embedding columns, because the metric also fits a
t-SNE picture of the points, which takes most of a minute on a busy machine and changes nothing
in the verdict. cnai gets the same two matrices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from cnai.monitoring.drift.embeddings import EmbeddingDriftOptions, embedding_drift

pytest.importorskip("evidently")
pytest.importorskip("sklearn")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]

DIMS = 12


def _data(n_ref: int, n_cur: int, drift: bool, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Vectors around one centre; with ``drift`` the current ones move on half the dimensions."""
    rng = np.random.default_rng(seed)
    centre = np.random.default_rng(7).normal(size=DIMS)
    ref = centre + rng.normal(scale=0.25, size=(n_ref, DIMS))
    cur = centre + rng.normal(scale=0.25, size=(n_cur, DIMS))
    if drift:
        cur[:, : DIMS // 2] += 0.3
    return ref, cur


def _evidently(ref: np.ndarray, cur: np.ndarray) -> tuple[float, bool]:
    """The metric itself with its default method."""
    from evidently.legacy.metrics import EmbeddingsDriftMetric
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    columns = [f"e{i}" for i in range(ref.shape[1])]
    report = Report(metrics=[EmbeddingsDriftMetric("prompt")])
    report.run(
        reference_data=pd.DataFrame(ref, columns=columns),
        current_data=pd.DataFrame(cur, columns=columns),
        column_mapping=ColumnMapping(embeddings={"prompt": columns}),
    )
    result = report.as_dict()["metrics"][0]["result"]
    return float(result["drift_score"]), bool(result["drift_detected"])


def _methods() -> dict[str, Any]:
    from evidently.legacy.metrics.data_drift import embedding_drift_methods as m

    return {"model": m.model, "ratio": m.ratio, "distance": m.distance, "mmd": m.mmd}


def _call(method: Any, ref: np.ndarray, cur: np.ndarray) -> tuple[float, bool]:
    columns = [f"e{i}" for i in range(ref.shape[1])]
    score, drifted, _ = method(pd.DataFrame(cur, columns=columns), pd.DataFrame(ref, columns=columns))
    return float(score), bool(drifted)


def _agree(ref: np.ndarray, cur: np.ndarray, options: EmbeddingDriftOptions, method: Any) -> bool:
    ours = embedding_drift(ref, cur, options)
    score, drifted = _evidently(ref, cur) if method is None else _call(method, ref, cur)
    assert ours.score == pytest.approx(score, rel=1e-6, abs=1e-9), (options, ours, score)
    assert ours.drifted == drifted, (options, ours, score, drifted)
    return ours.drifted


@pytest.mark.parametrize("drift", [False, True])
def test_the_default_is_evidentlys_default_a_bootstrapped_classifier_below_1000_reference_rows(drift: bool) -> None:
    ref, cur = _data(300, 150, drift)
    ours = embedding_drift(ref, cur)
    assert (ours.method, ours.bootstrap) == ("model", True)
    assert _agree(ref, cur, EmbeddingDriftOptions(), None) is drift


@pytest.mark.parametrize("drift", [False, True])
@pytest.mark.parametrize("method", ["model", "ratio", "distance", "mmd"])
def test_each_method_with_its_defaults(method: str, drift: bool) -> None:
    ref, cur = _data(800, 400, drift, seed=2)
    # Evidently's model() alone means no bootstrap: threshold 0.55. So does an explicit threshold here.
    options = EmbeddingDriftOptions(method=method, bootstrap=False if method == "model" else None)
    assert _agree(ref, cur, options, _methods()[method]()) is drift


@pytest.mark.parametrize("drift", [False, True])
@pytest.mark.parametrize("method", ["distance", "mmd"])
def test_bootstrapped_distance_and_mmd(method: str, drift: bool) -> None:
    ref, cur = _data(250, 100, drift, seed=3)
    options = EmbeddingDriftOptions(method=method, bootstrap=True)
    ours = embedding_drift(ref, cur, options)
    assert ours.bootstrap
    verdict = _agree(ref, cur, options, _methods()[method](bootstrap=True))
    # Evidently's MMD bootstrap compares with the 5th percentile of the null: nearly always drift.
    assert verdict is (drift or method == "mmd")


def test_parameters_other_than_the_defaults() -> None:
    ref, cur = _data(400, 200, True, seed=4)
    m = _methods()
    ratio_ks = m["ratio"](component_stattest="ks", component_stattest_threshold=0.05)
    cases = [
        (
            EmbeddingDriftOptions(method="distance", distance="cosine", threshold=0.05),
            m["distance"](dist="cosine", threshold=0.05),
        ),
        (
            EmbeddingDriftOptions(method="distance", distance="cityblock", threshold=1.0),
            m["distance"](dist="cityblock", threshold=1.0),
        ),
        (
            EmbeddingDriftOptions(method="distance", distance="chebyshev", threshold=0.3),
            m["distance"](dist="chebyshev", threshold=0.3),
        ),
        (EmbeddingDriftOptions(method="ratio", component_method="ks", component_threshold=0.05), ratio_ks),
        (
            EmbeddingDriftOptions(method="ratio", component_method="psi", threshold=0.5),
            m["ratio"](component_stattest="psi", threshold=0.5),
        ),
        (EmbeddingDriftOptions(method="model", threshold=0.7), m["model"](threshold=0.7)),
        (EmbeddingDriftOptions(method="mmd", pca_components=4), m["mmd"](pca_components=4)),
        (EmbeddingDriftOptions(method="model", bootstrap=False, pca_components=3), m["model"](pca_components=3)),
    ]
    for options, method in cases:
        _agree(ref, cur, options, method)


def test_a_reference_of_1000_rows_or_more_uses_the_055_threshold_as_evidently_does() -> None:
    """Evidently's metric switches the bootstrap off at 1,000 reference rows."""
    ref, cur = _data(1000, 200, True, seed=5)
    ours = embedding_drift(ref, cur)
    assert (ours.bootstrap, ours.threshold) == (False, 0.55)
    score, drifted = _call(_methods()["model"](bootstrap=False), ref, cur)
    assert ours.score == pytest.approx(score, rel=1e-9)
    assert ours.drifted == drifted is True


def test_mmd_samples_1000_rows_for_its_bandwidth_as_evidently_does() -> None:
    ref, cur = _data(1100, 60, False, seed=6)
    score, drifted = _call(_methods()["mmd"](), ref, cur)
    ours = embedding_drift(ref, cur, EmbeddingDriftOptions(method="mmd"))
    assert ours.score == pytest.approx(score, rel=1e-6, abs=1e-12)
    assert ours.drifted == drifted
