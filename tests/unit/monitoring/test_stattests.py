"""The statistics against scipy's reference functions (and the formulas Evidently uses)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from cnai.errors import InvalidArgument
from cnai.monitoring.drift.binning import Counts, fill_zeroes, numeric_counts, shares
from cnai.monitoring.drift.stattests import (
    Compare,
    chisquare,
    get_test,
    jensenshannon,
    js_distance,
    kl_div,
    ks,
    psi,
    wasserstein_normed,
    wasserstein_sorted,
    z_test,
)

rng = np.random.default_rng(7)


def _counts(keys: list[object], ref: list[int], cur: list[int]) -> Counts:
    return Counts(keys=keys, reference=np.array(ref, dtype=np.int64), current=np.array(cur, dtype=np.int64))


@pytest.mark.parametrize(("n_ref", "n_cur", "shift"), [(50, 70, 0.0), (300, 200, 0.4), (5000, 20000, 0.05)])
def test_ks_matches_scipy(n_ref: int, n_cur: int, shift: float) -> None:
    a, b = np.sort(rng.normal(size=n_ref)), np.sort(rng.normal(shift, size=n_cur))
    ref = stats.ks_2samp(a, b)
    out = ks(a, b)
    assert out.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (rng.normal(size=1000), rng.normal(0.3, 2, size=700)),
        lambda: (rng.integers(0, 10, 500).astype(float), rng.integers(2, 12, 900).astype(float)),  # ties
        lambda: (rng.exponential(size=3), rng.exponential(size=1)),
    ],
)
def test_wasserstein_matches_scipy(make) -> None:  # type: ignore[no-untyped-def]
    a, b = make()
    expected = stats.wasserstein_distance(a, b)
    assert wasserstein_sorted(np.sort(a), np.sort(b)) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    normed = wasserstein_normed(np.sort(a), np.sort(b))
    assert normed.statistic == pytest.approx(expected / max(np.std(a), 0.001), rel=1e-10, abs=1e-12)
    assert normed.p_value is None


def test_wasserstein_norm_has_a_floor_for_constant_reference() -> None:
    a, b = np.zeros(100), np.full(100, 0.01)
    # std is 0, so Evidently divides by 0.001: 0.01 / 0.001 = 10
    assert wasserstein_normed(a, b).statistic == pytest.approx(10.0)


def test_chisquare_matches_scipy_with_scaled_reference_as_expected() -> None:
    c = _counts(["a", "b", "c"], [50, 30, 20], [120, 40, 40])
    expected = np.array([50, 30, 20]) * (200 / 100)
    ref = stats.chisquare([120, 40, 40], expected)
    out = chisquare(c)
    assert out.statistic == pytest.approx(ref.statistic)
    assert out.p_value == pytest.approx(ref.pvalue)


def test_chisquare_value_unseen_in_reference_is_certain_drift() -> None:
    out = chisquare(_counts(["a", "b", "new"], [50, 50, 0], [40, 40, 20]))
    assert out.p_value == 0.0
    assert out.statistic == np.inf


def test_z_test_equals_uncorrected_chi2_contingency() -> None:
    # The pooled two-proportion Z-test is the 2x2 chi-square test without Yates' correction.
    ref, cur = [70, 30], [50, 50]
    expected = stats.chi2_contingency(np.array([ref, cur]), correction=False).pvalue
    out = z_test(_counts(["no", "yes"], ref, cur))
    assert out.p_value == pytest.approx(expected, rel=1e-9)
    # Sign follows Evidently: share of "not the first sorted value" in reference minus current.
    assert out.statistic < 0


def test_z_test_one_shared_value_is_no_drift() -> None:
    assert z_test(_counts([1.0], [10], [30])).p_value == 1.0


def test_jensenshannon_natural_log_and_no_zero_filling() -> None:
    out = jensenshannon(_counts(["a", "b"], [10, 0], [0, 10]))
    assert out.statistic == pytest.approx(np.sqrt(np.log(2)))  # maximal JS distance, natural log
    c = _counts(["a", "b", "c"], [5, 3, 2], [2, 2, 6])
    r, k = shares(c)
    assert jensenshannon(c).statistic == pytest.approx(distance.jensenshannon(r, k))


@pytest.mark.parametrize("size", [2, 7, 40])
def test_js_distance_matches_scipy_with_zeros(size: int) -> None:
    p = rng.random(size) * (rng.random(size) > 0.3)
    q = rng.random(size) * (rng.random(size) > 0.3)
    p[0], q[0] = 1.0, 0.5  # never all zero
    assert js_distance(p, q) == pytest.approx(distance.jensenshannon(p, q), rel=1e-12, abs=1e-15)


def test_psi_and_kl_fill_zeroes_like_evidently() -> None:
    c = _counts(["a", "b", "c"], [50, 50, 0], [40, 40, 20])
    r, k = shares(c)
    r_filled = fill_zeroes(r)
    assert r_filled[2] == pytest.approx(1e-4)  # smallest non-zero share 0.5 > 1e-4, so 1e-4
    expected_psi = float(np.sum((r_filled - k) * np.log(r_filled / k)))
    assert psi(c).statistic == pytest.approx(expected_psi)
    assert kl_div(c).statistic == pytest.approx(stats.entropy(r_filled, k))


def test_fill_zeroes_tiny_shares_use_a_millionth_of_the_smallest() -> None:
    p = np.array([0.99995, 0.00005, 0.0])
    assert fill_zeroes(p)[2] == pytest.approx(0.00005 / 1e6)


def test_numeric_counts_align_on_union() -> None:
    c = numeric_counts(np.array([1.0, 1.0, 2.0]), np.array([2.0, 3.0]))
    assert c.keys == [1.0, 2.0, 3.0]
    assert c.reference.tolist() == [2, 1, 0]
    assert c.current.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("rule", "score", "threshold", "drifted"),
    [
        (Compare.P_AT_MOST, 0.05, 0.05, True),  # KS: p <= t
        (Compare.P_BELOW, 0.05, 0.05, False),  # chi-square, Z: p < t
        (Compare.AT_LEAST, 0.1, 0.1, True),  # distances: d >= t
        (Compare.AT_LEAST, 0.0999, 0.1, False),
    ],
)
def test_threshold_directions(rule: Compare, score: float, threshold: float, drifted: bool) -> None:
    assert rule.drifted(score, threshold) is drifted


def test_registry_names_and_defaults() -> None:
    assert get_test("ks").compare is Compare.P_AT_MOST
    assert get_test("chisquare").default_threshold == 0.05
    assert get_test("JS").name == "jensenshannon"
    assert get_test("wasserstein").default_threshold == 0.1
    with pytest.raises(InvalidArgument, match="Unknown drift test"):
        get_test("nope")
