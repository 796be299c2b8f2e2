"""Turning two samples into aligned frequency vectors, the way Evidently 0.7 does.

Source: ``evidently/legacy/calculations/stattests/utils.py::get_binned_data``.

- A *numerical* column whose **reference** has more than 20 distinct values is cut into
  equal-width bins over the range of both samples together, with the bin count of NumPy's
  ``"sturges"`` rule applied to the combined size (``np.histogram_bin_edges(concat, "sturges")``).
- Any other column is counted per distinct value over the union of both samples' values.
- Frequencies are counts divided by each sample's size. PSI and KL then replace zeros
  ("feel_zeroes"): zeros become ``min_nonzero / 1e6`` when the smallest non-zero share is at
  most 1e-4, else ``1e-4``; Jensen-Shannon does not (it is finite with zeros).

Everything here works on sorted arrays or on value counts, never per row in Python: the engine
sorts each numerical column once and reuses the sorted copy for every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Evidently bins a numerical column only when the reference has more than this many values.
BINNING_MIN_UNIQUE = 20


@dataclass(frozen=True)
class Counts:
    """Counts of each key in both samples, aligned on the union of keys (order is arbitrary)."""

    keys: list[object]
    reference: IntArray
    current: IntArray

    @property
    def n_reference(self) -> int:
        return int(self.reference.sum())

    @property
    def n_current(self) -> int:
        return int(self.current.sum())


def count_unique_sorted(sorted_values: FloatArray) -> int:
    """Distinct values of an already sorted array."""
    if sorted_values.size == 0:
        return 0
    return int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1])) + 1


def value_counts_sorted(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """(distinct values, their counts) of a sorted array, in one pass."""
    if sorted_values.size == 0:
        return sorted_values[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


def numeric_counts(ref_sorted: FloatArray, cur_sorted: FloatArray) -> Counts:
    """Per-value counts of two sorted numerical samples over the union of their values."""
    rk, rc = value_counts_sorted(ref_sorted)
    ck, cc = value_counts_sorted(cur_sorted)
    keys = np.union1d(rk, ck)
    ref = np.zeros(keys.size, dtype=np.int64)
    cur = np.zeros(keys.size, dtype=np.int64)
    ref[np.searchsorted(keys, rk)] = rc
    cur[np.searchsorted(keys, ck)] = cc
    return Counts(keys=keys.tolist(), reference=ref, current=cur)


def sturges_edges(lo: float, hi: float, n: int, integer: bool = False) -> FloatArray:
    """The edges ``np.histogram_bin_edges(x, bins="sturges")`` gives for ``n`` values spanning [lo, hi].

    Computed from the range and size alone, so the two samples never need concatenating.
    Mirrors NumPy's ``_hist_bin_sturges`` and ``_get_bin_edges`` (numpy/lib/_histograms_impl.py).
    """
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
        return np.linspace(lo, hi, 2)
    width = (hi - lo) / (np.log2(n) + 1.0)
    if integer and width < 1:  # NumPy never makes bins narrower than 1 for integer data
        width = 1.0
    n_bins = max(1, int(np.ceil((hi - lo) / width)))
    return np.linspace(lo, hi, n_bins + 1, endpoint=True)


def histogram_sorted(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """``np.histogram(x, edges)[0]`` for sorted ``x``: half-open bins, the last one closed."""
    idx = np.searchsorted(sorted_values, edges, side="left")
    idx[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(idx).astype(np.int64)


def binned_counts(ref_sorted: FloatArray, cur_sorted: FloatArray, ref_unique: int, integer: bool = False) -> Counts:
    """What Evidently compares for JS/PSI/KL on a numerical column: Sturges bins or per-value counts."""
    if ref_unique > BINNING_MIN_UNIQUE:
        lo = float(min(ref_sorted[0], cur_sorted[0]))
        hi = float(max(ref_sorted[-1], cur_sorted[-1]))
        edges = sturges_edges(lo, hi, ref_sorted.size + cur_sorted.size, integer)
        ref = histogram_sorted(ref_sorted, edges)
        cur = histogram_sorted(cur_sorted, edges)
        return Counts(keys=[float(e) for e in edges[:-1]], reference=ref, current=cur)
    return numeric_counts(ref_sorted, cur_sorted)


def shares(counts: Counts) -> tuple[FloatArray, FloatArray]:
    """Frequencies of each key in reference and current."""
    return counts.reference / counts.n_reference, counts.current / counts.n_current


def fill_zeroes(p: FloatArray) -> FloatArray:
    """Evidently's zero replacement before PSI and KL (``feel_zeroes=True``)."""
    nonzero = p[p != 0]
    if nonzero.size == 0 or nonzero.size == p.size:
        return p
    smallest = float(nonzero.min())
    fill = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(p == 0, fill, p)
