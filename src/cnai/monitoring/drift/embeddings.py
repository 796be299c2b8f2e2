"""Drift of embeddings: is a set of vectors (a window's prompts, embedded) still like the reference's?

The four methods of Evidently 0.7's ``EmbeddingsDriftMetric``
(``evidently/legacy/metrics/data_drift/embedding_drift_methods.py``), with its defaults. Each
returns a score and compares it with a threshold; the score and the verdict match Evidently's
(the test suite checks both against ``EmbeddingsDriftMetric`` on the same vectors):

==========  =========  ===========================================================================
method      threshold  drifted when / how computed
==========  =========  ===========================================================================
model       0.55       ROC AUC > t of a domain classifier (``SGDClassifier(loss="log_loss",
                       random_state=42)``) trained on half of the reference (label 1) and current
                       (label 0) rows (``train_test_split(test_size=0.5, random_state=42)``) and
                       scored on the other half. Evidently's default method; with fewer than
                       1,000 reference rows it compares the AUC with the 95th percentile of the
                       AUCs of 100 random scorings (``bootstrap``) instead of 0.55.
ratio      0.2         share of drifted components > t; each component (dimension) is tested on
                       its own with a numerical drift test (``componentMethod``, default the
                       normed Wasserstein distance with ``componentThreshold`` 0.1)
distance   0.2         distance between the two mean vectors > t (``euclidean``; ``cosine``,
                       ``cityblock``, ``chebyshev``); with ``bootstrap``, > the 95th percentile of
                       the distances between the means of 100 pairs of resamples of the reference
mmd        0.015       the unbiased squared maximum mean discrepancy (RBF kernel, bandwidth the
                       median distance between up to 1,000 rows of each side) > t; with
                       ``bootstrap``, > its 5th percentile (Evidently's ``quantile_probability``)
                       on 100 pairs of resamples of the reference; the score is floored at 0
==========  =========  ===========================================================================

``pcaComponents`` first projects both sides on that many principal components of the reference
(``PCA(random_state=0)``), as Evidently does. ``model`` and PCA need scikit-learn, an optional
dependency imported only when asked for; the others are numpy.

Evidently's random draws are the legacy ``np.random.seed(i)`` ones; here each uses its own
``np.random.RandomState(i)``, which draws the same numbers without touching the global state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cnai.errors import InvalidArgument
from cnai.monitoring.drift.binning import binned_counts, count_unique_sorted, numeric_counts
from cnai.monitoring.drift.stattests import Kind, Sample, get_test

Matrix = npt.NDArray[np.float64]

METHODS = ("model", "ratio", "distance", "mmd")
DEFAULT_METHOD = "model"
DEFAULT_THRESHOLDS = {"model": 0.55, "ratio": 0.2, "distance": 0.2, "mmd": 0.015}
# Evidently's quantile_probability defaults: the 95th percentile, but the 5th for MMD.
DEFAULT_QUANTILES = {"model": 0.95, "distance": 0.95, "mmd": 0.05}
DISTANCES = ("euclidean", "cosine", "cityblock", "chebyshev")
BOOTSTRAP_METHODS = ("model", "distance", "mmd")
# EmbeddingsDriftMetric's default: model(bootstrap=<reference rows> < 1000).
BOOTSTRAP_BELOW_ROWS = 1000
N_BOOTSTRAP = 100
MMD_SAMPLE = 1000  # rows per side for the kernel bandwidth
SEED = 42  # the classifier's split and its SGD


@dataclass(frozen=True)
class EmbeddingDriftOptions:
    """Which method, and its parameters; ``None`` means Evidently's default.

    ``bootstrap=None``: for ``model``, a bootstrap when the reference has fewer than 1,000 rows and
    no ``threshold`` is given (what ``EmbeddingsDriftMetric`` does without a method); for
    ``distance`` and ``mmd``, no bootstrap.
    """

    method: str = DEFAULT_METHOD
    threshold: float | None = None
    bootstrap: bool | None = None
    quantile_probability: float | None = None
    pca_components: int | None = None
    distance: str = "euclidean"
    component_method: str = "wasserstein"
    component_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidArgument(f"Unknown embedding drift method {self.method!r}; use {', '.join(METHODS)}")
        if self.distance not in DISTANCES:
            raise InvalidArgument(f"Unknown distance {self.distance!r}; use {', '.join(DISTANCES)}")
        if self.bootstrap and self.method not in BOOTSTRAP_METHODS:
            raise InvalidArgument(f"bootstrap applies to {', '.join(BOOTSTRAP_METHODS)}, not to {self.method}")
        if self.quantile_probability is not None and not 0 < self.quantile_probability < 1:
            raise InvalidArgument("quantileProbability must be between 0 and 1")
        if self.pca_components is not None and self.pca_components < 1:
            raise InvalidArgument("pcaComponents must be at least 1")
        test = get_test(self.component_method)  # InvalidArgument naming the known tests
        if Kind.NUMERICAL not in test.kinds and test.name not in ("chisquare", "z"):
            raise InvalidArgument(f"{self.component_method!r} is not a test for numerical values")

    def uses_bootstrap(self, reference_rows: int) -> bool:
        if self.method not in BOOTSTRAP_METHODS:
            return False
        if self.bootstrap is not None:
            return self.bootstrap
        return self.method == "model" and self.threshold is None and reference_rows < BOOTSTRAP_BELOW_ROWS


@dataclass(frozen=True)
class EmbeddingDrift:
    """``score`` is compared with ``threshold`` (with a bootstrap, the percentile it found)."""

    method: str
    score: float
    threshold: float
    drifted: bool
    bootstrap: bool
    reference_rows: int
    current_rows: int
    dimensions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def embedding_drift(
    reference: npt.ArrayLike, current: npt.ArrayLike, options: EmbeddingDriftOptions | None = None
) -> EmbeddingDrift:
    """Compare two sets of embeddings (rows are vectors of the same length)."""
    opts = options or EmbeddingDriftOptions()
    ref = _matrix(reference, "reference")
    cur = _matrix(current, "current")
    if ref.shape[1] != cur.shape[1]:
        raise InvalidArgument(f"reference vectors have {ref.shape[1]} dimensions, current ones {cur.shape[1]}")
    dimensions = ref.shape[1]
    bootstrap = opts.uses_bootstrap(ref.shape[0])
    if opts.pca_components:
        ref, cur = _pca(ref, cur, opts.pca_components)
    methods: dict[str, Callable[[Matrix, Matrix, EmbeddingDriftOptions, bool], tuple[float, float, bool]]] = {
        "model": _model,
        "ratio": _ratio,
        "distance": _distance,
        "mmd": _mmd,
    }
    score, threshold, drifted = methods[opts.method](ref, cur, opts, bootstrap)
    return EmbeddingDrift(
        method=opts.method,
        score=float(score),
        threshold=float(threshold),
        drifted=bool(drifted),
        bootstrap=bootstrap,
        reference_rows=int(ref.shape[0]),
        current_rows=int(cur.shape[0]),
        dimensions=int(dimensions),
    )


def _matrix(values: npt.ArrayLike, what: str) -> Matrix:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] == 0:
        raise InvalidArgument(f"{what} embeddings must be a 2-d array of vectors, got shape {out.shape}")
    if out.shape[0] < 2:
        raise InvalidArgument(f"{what} embeddings need at least 2 rows, got {out.shape[0]}")
    if not np.isfinite(out).all():
        raise InvalidArgument(f"{what} embeddings hold NaN or infinite values")
    return out


def _threshold(opts: EmbeddingDriftOptions) -> float:
    return DEFAULT_THRESHOLDS[opts.method] if opts.threshold is None else opts.threshold


def _quantile(opts: EmbeddingDriftOptions) -> float:
    return DEFAULT_QUANTILES[opts.method] if opts.quantile_probability is None else opts.quantile_probability


# --- model: a domain classifier -------------------------------------------------------------------


def _model(ref: Matrix, cur: Matrix, opts: EmbeddingDriftOptions, bootstrap: bool) -> tuple[float, float, bool]:
    try:
        from sklearn.linear_model import SGDClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidArgument("The model embedding drift method needs scikit-learn: pip install scikit-learn") from exc
    x = np.vstack([ref, cur])
    y = np.concatenate([np.ones(len(ref), dtype=np.int64), np.zeros(len(cur), dtype=np.int64)])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=SEED, shuffle=True)
    if len(np.unique(y_train)) < 2 or len(np.unique(y_test)) < 2:
        raise InvalidArgument(
            f"too few rows to train and test a classifier ({len(ref)} reference, {len(cur)} current): "
            "each half of the split needs rows of both"
        )
    clf = SGDClassifier(loss="log_loss", random_state=SEED)
    clf.fit(x_train, y_train)
    auc = float(roc_auc_score(y_test, clf.predict_proba(x_test)[:, 1]))
    if bootstrap:
        # How high a classifier that knows nothing scores on this test half, 100 times.
        chance = [roc_auc_score(y_test, np.random.RandomState(i).rand(len(y_test))) for i in range(N_BOOTSTRAP)]
        bound = float(np.percentile(chance, 100 * _quantile(opts)))
        return auc, bound, auc > bound
    threshold = _threshold(opts)
    return auc, threshold, auc > threshold


# --- ratio: drifted components ----------------------------------------------------------------------


def _ratio(ref: Matrix, cur: Matrix, opts: EmbeddingDriftOptions, bootstrap: bool) -> tuple[float, float, bool]:
    test = get_test(opts.component_method)
    component_threshold = test.default_threshold if opts.component_threshold is None else opts.component_threshold
    ref_sorted = np.sort(ref, axis=0)
    cur_sorted = np.sort(cur, axis=0)
    drifted = 0
    for i in range(ref.shape[1]):
        r, c = ref_sorted[:, i], cur_sorted[:, i]
        if test.needs == "sorted":
            sample = Sample(ref_sorted=r, cur_sorted=c)
        elif test.name in ("chisquare", "z"):
            sample = Sample(counts=numeric_counts(r, c))
        else:
            sample = Sample(counts=binned_counts(r, c, count_unique_sorted(r)))
        if test.compare.drifted(test.run(sample).score, component_threshold):
            drifted += 1
    share = drifted / ref.shape[1]
    threshold = _threshold(opts)
    return share, threshold, share > threshold


# --- distance between the means ---------------------------------------------------------------------


def mean_distance(kind: str, u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> float:
    """``scipy.spatial.distance.<kind>(u, v)`` for the four kinds Evidently offers."""
    if kind == "euclidean":
        return float(np.sqrt(np.sum((u - v) ** 2)))
    if kind == "cityblock":
        return float(np.sum(np.abs(u - v)))
    if kind == "chebyshev":
        return float(np.max(np.abs(u - v)))
    if kind == "cosine":
        # scipy's correlation(u, v, centered=False), clipped to [0, 2] as scipy does.
        cosine = 1.0 - float(np.dot(u, v)) / float(np.sqrt(np.dot(u, u) * np.dot(v, v)))
        return float(np.clip(cosine, 0.0, 2.0))
    raise InvalidArgument(f"Unknown distance {kind!r}; use {', '.join(DISTANCES)}")


def _distance(ref: Matrix, cur: Matrix, opts: EmbeddingDriftOptions, bootstrap: bool) -> tuple[float, float, bool]:
    score = mean_distance(opts.distance, ref.mean(axis=0), cur.mean(axis=0))
    if not bootstrap:
        threshold = _threshold(opts)
        return score, threshold, score > threshold
    m, n = len(ref), len(cur)
    ref_size = int(m**2 / (m + n))
    cur_size = int(n * m / (m + n))
    found = []
    for i in range(N_BOOTSTRAP):
        # Two resamples of the reference (both, as in Evidently): how far apart the means of
        # samples of these sizes from one distribution fall by chance.
        rs = np.random.RandomState(i)
        a = rs.choice(m, ref_size)
        b = rs.choice(m, cur_size)
        found.append(mean_distance(opts.distance, ref[a].mean(axis=0), ref[b].mean(axis=0)))
    bound = float(np.percentile(found, 100 * _quantile(opts)))
    return score, bound, score > bound


# --- maximum mean discrepancy -----------------------------------------------------------------------


def _squared_distances(x: Matrix, y: Matrix | None = None) -> Matrix:
    """Squared euclidean distances between rows, as scikit-learn's ``euclidean_distances``
    computes them (|x|^2 - 2 x.y + |y|^2, clipped at 0; exact zeros on the diagonal of x with x)."""
    same = y is None
    other = x if y is None else y
    xx = np.einsum("ij,ij->i", x, x)[:, None]
    yy = xx.T if same else np.einsum("ij,ij->i", other, other)[None, :]
    out = -2.0 * (x @ other.T)
    out += xx
    out += yy
    np.maximum(out, 0, out=out)
    if same:
        np.fill_diagonal(out, 0.0)
    return out


def _sample_rows(x: Matrix, limit: int) -> Matrix:
    """``DataFrame.sample(min(len, limit), random_state=0)``: the same rows (order does not matter
    for the median taken of them)."""
    if len(x) <= limit:
        return x
    return x[np.random.RandomState(0).permutation(len(x))[:limit]]


def _mmd2u(k: Matrix, m: int, n: int) -> float:
    kx, ky, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    return float(
        (kx.sum() - np.trace(kx)) / (m * (m - 1.0))
        + (ky.sum() - np.trace(ky)) / (n * (n - 1.0))
        - 2.0 * kxy.sum() / (m * n)
    )


def _mmd(ref: Matrix, cur: Matrix, opts: EmbeddingDriftOptions, bootstrap: bool) -> tuple[float, float, bool]:
    m, n = len(ref), len(cur)
    cross = np.sqrt(_squared_distances(_sample_rows(ref, MMD_SAMPLE), _sample_rows(cur, MMD_SAMPLE)))
    sigma2 = float(np.median(cross)) ** 2
    if sigma2 == 0:
        raise InvalidArgument("every reference vector equals every current one: MMD has no kernel bandwidth")
    both = np.vstack([ref, cur])
    kernel = np.exp(-_squared_distances(both) / sigma2)
    mmd2u = _mmd2u(kernel, m, n)
    if not bootstrap:
        threshold = _threshold(opts)
        return max(mmd2u, 0.0), threshold, mmd2u > threshold
    own = np.sqrt(_squared_distances(_sample_rows(ref, MMD_SAMPLE)))
    own_sigma2 = float(np.median(own)) ** 2
    if own_sigma2 == 0:
        raise InvalidArgument("the reference vectors are mostly identical: MMD has no kernel bandwidth")
    kernel = np.exp(-_squared_distances(ref) / own_sigma2)
    a_size = max(int(m * m / (m + n)), 1)
    b_size = max(int(m * n / (m + n)), 1)
    found = []
    for i in range(N_BOOTSTRAP):
        rs = np.random.RandomState(i)
        a = rs.choice(m, a_size)
        b = rs.choice(m, b_size)
        kx, ky, kxy = kernel[np.ix_(a, a)], kernel[np.ix_(b, b)], kernel[np.ix_(a, b)]
        found.append(
            (kx.sum() - np.trace(kx)) / (a_size * (a_size - 1.0))
            + (ky.sum() - np.trace(ky)) / (b_size * (b_size - 1.0))
            - 2.0 * kxy.sum() / (a_size * b_size)
        )
    bound = float(np.percentile(found, 100 * _quantile(opts)))
    return max(mmd2u, 0.0), bound, mmd2u > bound


# --- PCA ----------------------------------------------------------------------------------------------


def _pca(ref: Matrix, cur: Matrix, components: int) -> tuple[Matrix, Matrix]:
    try:
        from sklearn.decomposition import PCA
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InvalidArgument("pcaComponents needs scikit-learn: pip install scikit-learn") from exc
    if components > min(ref.shape):
        raise InvalidArgument(
            f"pcaComponents={components} is more than the reference allows "
            f"(min of {ref.shape[0]} rows and {ref.shape[1]} dimensions)"
        )
    pca = PCA(n_components=components, random_state=0)
    return pca.fit_transform(ref), pca.transform(cur)
