"""The drift statistics: each compares a reference and a current sample of one column.

Each test works on prepared inputs, never on raw rows: numerical tests take the two samples
sorted (finite values only), categorical tests take aligned value counts
(:class:`~cnai.monitoring.drift.binning.Counts`). The formulas, thresholds and the direction of
each comparison follow Evidently 0.7 (``evidently/legacy/calculations/stattests/``):

=============  ===================  ==========  ====================================================
name           kinds                threshold   drifted when / how computed
=============  ===================  ==========  ====================================================
ks             numerical            0.05        p <= t; ``scipy.stats.ks_2samp`` two-sided
               (``ks_stattest.py``)
chisquare      categorical          0.05        p < t; ``scipy.stats.chisquare`` with expected
               (``chisquare_stattest.py``)      = reference counts x n_current / n_reference
z              categorical          0.05        p < t; two-proportion Z-test, the first of the
               (``z_stattest.py``)              sorted values coded 0, others 1, pooled variance;
                                                p = 1 when both samples hold the same one value
wasserstein    numerical            0.1         d >= t; ``scipy.stats.wasserstein_distance`` /
               (``wasserstein_distance_norm.py``)  max(population std of reference, 0.001)
jensenshannon  numerical, cat.      0.1         d >= t; ``scipy.spatial.distance.jensenshannon``
               (``jensenshannon.py``)           natural log, on binned shares, no zero filling
psi            numerical, cat.      0.1         v >= t; sum((r - c) ln(r / c)), zero-filled shares
               (``psi.py``)
kl_div         numerical, cat.      0.1         v >= t; ``scipy.stats.entropy(r, c)``, zero-filled
               (``kl_div.py``)
=============  ===================  ==========  ====================================================

Evidently registers ``z`` and ``chisquare`` for categorical columns only, yet its default
selection also applies them to numerical columns with at most 5 values; they then count values,
which is what ``counts`` here are.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnai.errors import InvalidArgument
from cnai.monitoring.drift.binning import Counts, FloatArray, fill_zeroes, shares


class Kind(enum.StrEnum):
    """How a column is treated; Evidently's ``ColumnType`` values of the same names."""

    NUMERICAL = "num"
    CATEGORICAL = "cat"
    TEXT = "text"
    UNSUPPORTED = "unsupported"


class Compare(enum.Enum):
    """How a score is compared with its threshold to call drift."""

    P_AT_MOST = "p <= threshold"
    P_BELOW = "p < threshold"
    AT_LEAST = "score >= threshold"

    def drifted(self, score: float, threshold: float) -> bool:
        if self is Compare.P_AT_MOST:
            return bool(score <= threshold)
        if self is Compare.P_BELOW:
            return bool(score < threshold)
        return bool(score >= threshold)


@dataclass(frozen=True)
class Outcome:
    """A test's numbers: the statistic itself, and the p-value for hypothesis tests."""

    statistic: float
    p_value: float | None = None

    @property
    def score(self) -> float:
        """What the threshold applies to: the p-value when there is one, else the distance."""
        return self.p_value if self.p_value is not None else self.statistic


@dataclass(frozen=True)
class Sample:
    """A column's input to a test: sorted finite values (numerical) and/or value counts."""

    ref_sorted: FloatArray | None = None
    cur_sorted: FloatArray | None = None
    counts: Counts | None = None  # per-value counts, or Sturges bins for distances on numbers


@dataclass(frozen=True)
class StatTest:
    name: str
    display_name: str
    kinds: frozenset[Kind]
    default_threshold: float
    compare: Compare
    needs: str  # "sorted" (numbers) or "counts"
    fn: Callable[[Sample], Outcome]

    def run(self, sample: Sample) -> Outcome:
        return self.fn(sample)


# --- the statistics ---------------------------------------------------------------------------


# scipy.stats is imported inside the tests that need it: importing it takes about 2 s, more than
# the whole comparison of 100k rows with the large-reference tests, which need none of it.


def ks(ref: FloatArray, cur: FloatArray) -> Outcome:
    from scipy import stats

    res = stats.ks_2samp(ref, cur)
    return Outcome(float(res.statistic), float(res.pvalue))


def wasserstein_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray) -> float:
    """First Wasserstein distance of two sorted samples; equals ``scipy.stats.wasserstein_distance``.

    scipy integrates |F_ref - F_cur| over the merged sample, finding each CDF by binary search
    (``_cdf_distance``). Here a stable argsort merges the two sorted runs (linear for timsort)
    and each CDF is a running count of which sample the merged values came from. Where values
    tie the counts differ from scipy's, but there the gap to the next value is 0, so every term
    of the integral is the same.
    """
    merged = np.concatenate((ref_sorted, cur_sorted))
    order = np.argsort(merged, kind="stable")
    merged = merged[order]
    deltas = np.diff(merged)
    ref_seen = np.cumsum(order[:-1] < ref_sorted.size)
    cur_seen = np.arange(1, merged.size) - ref_seen
    return float(np.dot(np.abs(ref_seen / ref_sorted.size - cur_seen / cur_sorted.size), deltas))


def wasserstein_normed(ref_sorted: FloatArray, cur_sorted: FloatArray) -> Outcome:
    norm = max(float(np.std(ref_sorted)), 0.001)
    return Outcome(wasserstein_sorted(ref_sorted, cur_sorted) / norm)


def chisquare(counts: Counts) -> Outcome:
    from scipy import stats

    expected = counts.reference * (counts.n_current / counts.n_reference)
    # A value never seen in the reference has expected count 0: infinite statistic, p = 0,
    # exactly as Evidently (and scipy) report it. Silence the division warning only.
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.chisquare(counts.current, expected)
    return Outcome(float(res.statistic), float(res.pvalue))


def _sorted_keys(keys: list[object]) -> list[object]:
    try:
        return sorted(keys)  # type: ignore[type-var]
    except TypeError:  # mixed types: sort as text, which is deterministic at least
        return sorted(keys, key=str)


def z_test(counts: Counts) -> Outcome:
    from scipy import stats

    ref_present = counts.reference > 0
    cur_present = counts.current > 0
    if ref_present.sum() == 1 and cur_present.sum() == 1 and np.array_equal(ref_present, cur_present):
        return Outcome(0.0, 1.0)
    first = _sorted_keys(counts.keys)[0]
    i = counts.keys.index(first)
    n1, n2 = counts.n_reference, counts.n_current
    p1 = (n1 - int(counts.reference[i])) / n1  # share of "not the first value" (coded 1)
    p2 = (n2 - int(counts.current[i])) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return Outcome(float(z), float(2 * (1 - stats.norm.cdf(abs(z)))))


def js_distance(p: FloatArray, q: FloatArray) -> float:
    """``scipy.spatial.distance.jensenshannon(p, q)`` (natural log), step for step, without scipy."""
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # rel_entr(x, y) = x ln(x / y), 0 where x = 0 (m > 0 wherever p or q is)
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(np.sqrt((left.sum() + right.sum()) / 2.0))


def jensenshannon(counts: Counts) -> Outcome:
    ref, cur = shares(counts)
    return Outcome(js_distance(ref, cur))


def psi(counts: Counts) -> Outcome:
    ref, cur = shares(counts)
    ref, cur = fill_zeroes(ref), fill_zeroes(cur)
    return Outcome(float(np.sum((ref - cur) * np.log(ref / cur))))


def kl_div(counts: Counts) -> Outcome:
    from scipy import stats

    ref, cur = shares(counts)
    return Outcome(float(stats.entropy(fill_zeroes(ref), fill_zeroes(cur))))


# --- registry ---------------------------------------------------------------------------------


def _sorted_fn(f: Callable[[FloatArray, FloatArray], Outcome]) -> Callable[[Sample], Outcome]:
    def run(s: Sample) -> Outcome:
        if s.ref_sorted is None or s.cur_sorted is None:
            raise ValueError("this test needs both samples sorted")
        return f(s.ref_sorted, s.cur_sorted)

    return run


def _counts_fn(f: Callable[[Counts], Outcome]) -> Callable[[Sample], Outcome]:
    def run(s: Sample) -> Outcome:
        if s.counts is None:
            raise ValueError("this test needs value counts")
        return f(s.counts)

    return run


_BOTH = frozenset({Kind.NUMERICAL, Kind.CATEGORICAL})
STAT_TESTS: dict[str, StatTest] = {
    t.name: t
    for t in (
        StatTest("ks", "K-S p_value", frozenset({Kind.NUMERICAL}), 0.05, Compare.P_AT_MOST, "sorted", _sorted_fn(ks)),
        StatTest("chisquare", "chi-square p_value", _BOTH, 0.05, Compare.P_BELOW, "counts", _counts_fn(chisquare)),
        StatTest("z", "Z-test p_value", _BOTH, 0.05, Compare.P_BELOW, "counts", _counts_fn(z_test)),
        StatTest(
            "wasserstein",
            "Wasserstein distance (normed)",
            frozenset({Kind.NUMERICAL}),
            0.1,
            Compare.AT_LEAST,
            "sorted",
            _sorted_fn(wasserstein_normed),
        ),
        StatTest(
            "jensenshannon",
            "Jensen-Shannon distance",
            _BOTH,
            0.1,
            Compare.AT_LEAST,
            "counts",
            _counts_fn(jensenshannon),
        ),
        StatTest("psi", "PSI", _BOTH, 0.1, Compare.AT_LEAST, "counts", _counts_fn(psi)),
        StatTest("kl_div", "Kullback-Leibler divergence", _BOTH, 0.1, Compare.AT_LEAST, "counts", _counts_fn(kl_div)),
    )
}
ALIASES = {"chi2": "chisquare", "chi-square": "chisquare", "js": "jensenshannon", "kl": "kl_div"}


def get_test(name: str) -> StatTest:
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return STAT_TESTS[key]
    except KeyError:
        known = ", ".join(sorted(STAT_TESTS))
        raise InvalidArgument(f"Unknown drift test {name!r}; known tests: {known}") from None
