"""Multivariate drift: train a model to tell reference rows from current rows.

If the two datasets come from one distribution no model can separate them and the ROC AUC on
held-out rows stays near 0.5. Evidently's ``model`` drift method
(``evidently/legacy/metrics/data_drift/embedding_drift_methods.py::ModelDriftMethod``) does
this for embeddings with an ``SGDClassifier``, a 50/50 split (``random_state=42``) and drift
when AUC > 0.55. cnai keeps the split, seed and threshold, and uses scikit-learn's
``HistGradientBoostingClassifier``, which handles mixed numerical/categorical columns and
missing values without preprocessing and sees non-linear differences a linear model misses.

Rows are sampled (at most ``max_rows`` per dataset) so the cost stays bounded on big inputs.
scikit-learn is an optional dependency, imported only when this check is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cnai.errors import InvalidArgument
from cnai.monitoring.drift.prepare import to_numpy
from cnai.monitoring.drift.result import ClassifierResult
from cnai.monitoring.drift.stattests import Kind
from cnai.monitoring.io import TableSource

DEFAULT_MAX_ROWS = 50_000
SEED = 42


def domain_classifier(
    reference: TableSource,
    current: TableSource,
    kinds: Mapping[str, Kind],
    *,
    threshold: float = 0.55,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ClassifierResult:
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split
        from threadpoolctl import threadpool_limits
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidArgument("The domain-classifier check needs scikit-learn: pip install scikit-learn") from exc
    columns = [c for c, k in kinds.items() if k in (Kind.NUMERICAL, Kind.CATEGORICAL)]
    if not columns:
        raise InvalidArgument("The domain-classifier check needs at least one numerical or categorical column")
    rng = np.random.default_rng(SEED)
    ref_idx = _sample(reference.num_rows, max_rows, rng)
    cur_idx = _sample(current.num_rows, max_rows, rng)
    features = []
    categorical = []
    for name in columns:
        ref_col = reference.column(name).take(ref_idx)
        cur_col = current.column(name).take(cur_idx)
        if kinds[name] is Kind.NUMERICAL:
            features.append(np.concatenate([_as_float(ref_col), _as_float(cur_col)]))
            categorical.append(False)
        else:
            features.append(_codes(ref_col, cur_col))
            categorical.append(True)
    x = np.column_stack(features)
    y = np.concatenate([np.ones(len(ref_idx)), np.zeros(len(cur_idx))])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=SEED, shuffle=True)
    model = HistGradientBoostingClassifier(categorical_features=np.array(categorical), random_state=SEED)
    # One OpenMP thread: on a busy machine the default (one per core) spins and runs 20x slower
    # on inputs of this size; the row cap keeps a single thread quick.
    with threadpool_limits(limits=1):
        model.fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
    auc = float(roc_auc_score(y_test, proba))
    return ClassifierResult(
        model="HistGradientBoostingClassifier",
        roc_auc=auc,
        threshold=threshold,
        drifted=auc > threshold,
        n_train=len(y_train),
        n_test=len(y_test),
        columns=columns,
    )


def _sample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def _as_float(col: pa.ChunkedArray) -> np.ndarray:
    if not pa.types.is_floating(col.type):
        col = col.cast(pa.float64())
    return to_numpy(col).astype(np.float64)


def _codes(ref: pa.ChunkedArray, cur: pa.ChunkedArray) -> np.ndarray:
    """Ordinal codes over the union of values; missing stays NaN (the model routes it itself)."""
    both = pa.chunked_array(ref.chunks + cur.chunks, type=ref.type) if ref.type == cur.type else None
    if both is None:
        both = pa.chunked_array([ref.cast(pa.string()).combine_chunks(), cur.cast(pa.string()).combine_chunks()])
    if pa.types.is_dictionary(both.type):
        both = both.cast(both.type.value_type)
    encoded = pc.dictionary_encode(both).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.float64)
    # HistGradientBoosting takes at most 255 categories; fold rare codes above that together.
    return np.where(codes > 250, 250.0, codes)
