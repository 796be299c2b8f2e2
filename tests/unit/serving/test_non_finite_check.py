"""The non-finite input check gives numpy's answer on both of its paths (a request's few values, and many)."""

from __future__ import annotations

import numpy as np
import pytest

from cnai.serving.inputs import _has_non_finite


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("rows", [1, 100])  # 4 and 400 values: below and above the small-array path
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_agrees_with_numpy(dtype: type, rows: int, bad: float | None) -> None:
    data = np.full((rows, 4), 0.5, dtype=dtype)
    data[-1, -1] = 60000.0  # large but finite in every dtype
    if bad is not None:
        data[rows // 2, 1] = bad
    assert _has_non_finite(data) is (bad is not None)


def test_integers_are_always_finite() -> None:
    assert _has_non_finite(np.array([[1, 2, 3]])) is False
