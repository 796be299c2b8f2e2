"""Binning must reproduce NumPy's Sturges edges and histogram counts exactly, as Evidently uses them."""

from __future__ import annotations

import numpy as np
import pytest

from cnai.monitoring.drift.binning import (
    binned_counts,
    count_unique_sorted,
    histogram_sorted,
    sturges_edges,
    value_counts_sorted,
)

rng = np.random.default_rng(3)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (rng.normal(size=1500), rng.normal(1, size=800)),
        (rng.uniform(-5, 5, size=10), rng.uniform(0, 20, size=3)),
        (np.full(100, 2.0), np.full(50, 2.0)),  # zero range
    ],
)
def test_sturges_edges_and_counts_match_numpy(a: np.ndarray, b: np.ndarray) -> None:
    combined = np.concatenate([a, b])
    expected_edges = np.histogram_bin_edges(combined, bins="sturges")
    edges = sturges_edges(float(combined.min()), float(combined.max()), combined.size)
    np.testing.assert_allclose(edges, expected_edges, rtol=0, atol=0)
    np.testing.assert_array_equal(histogram_sorted(np.sort(a), edges), np.histogram(a, expected_edges)[0])
    np.testing.assert_array_equal(histogram_sorted(np.sort(b), edges), np.histogram(b, expected_edges)[0])


def test_integer_data_never_gets_bins_narrower_than_one() -> None:
    combined = rng.integers(0, 22, size=3_000_000)
    expected = np.histogram_bin_edges(combined, bins="sturges")
    edges = sturges_edges(float(combined.min()), float(combined.max()), combined.size, integer=True)
    np.testing.assert_allclose(edges, expected)


def test_binned_counts_bins_only_above_twenty_reference_values() -> None:
    few = np.sort(rng.integers(0, 20, 500).astype(float))  # at most 20 distinct: per-value counts
    assert len(binned_counts(few, few, count_unique_sorted(few)).keys) == count_unique_sorted(few)
    many = np.sort(rng.normal(size=500))
    counts = binned_counts(many, many, count_unique_sorted(many))
    assert len(counts.keys) == len(np.histogram_bin_edges(np.concatenate([many, many]), "sturges")) - 1
    assert counts.n_reference == 500


def test_value_counts_of_sorted_array() -> None:
    values, counts = value_counts_sorted(np.array([1.0, 1.0, 2.0, 5.0, 5.0, 5.0]))
    assert values.tolist() == [1.0, 2.0, 5.0]
    assert counts.tolist() == [2, 1, 3]
    assert count_unique_sorted(np.array([])) == 0
