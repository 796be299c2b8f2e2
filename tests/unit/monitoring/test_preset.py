"""Evidently 0.7's default choice of test per column, and its column-type inference."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cnai.monitoring.drift.preset import default_test, infer_kind
from cnai.monitoring.drift.stattests import Kind


@pytest.mark.parametrize(
    ("kind", "n_reference", "n_values", "expected"),
    [
        (Kind.NUMERICAL, 1000, 6, "ks"),
        (Kind.NUMERICAL, 1000, 5, "chisquare"),
        (Kind.NUMERICAL, 1000, 3, "chisquare"),
        (Kind.NUMERICAL, 1000, 2, "z"),
        (Kind.NUMERICAL, 1000, 1, "z"),
        (Kind.CATEGORICAL, 1000, 7, "chisquare"),
        (Kind.CATEGORICAL, 999, 2, "z"),
        (Kind.NUMERICAL, 1001, 6, "wasserstein"),
        (Kind.NUMERICAL, 1001, 5, "jensenshannon"),
        (Kind.CATEGORICAL, 1001, 2, "jensenshannon"),
        (Kind.CATEGORICAL, 50_000, 40, "jensenshannon"),
    ],
)
def test_default_test(kind: Kind, n_reference: int, n_values: int, expected: str) -> None:
    test = default_test(kind, n_reference=n_reference, n_values=n_values)
    assert test.name == expected


@pytest.mark.parametrize(
    ("arrow_type", "n_distinct", "n_present", "has_missing", "expected"),
    [
        (pa.float64(), 2, 100, False, Kind.NUMERICAL),
        (pa.float32(), 2, 100, True, Kind.NUMERICAL),
        (pa.int64(), 10, 100, False, Kind.CATEGORICAL),
        (pa.int64(), 11, 100, False, Kind.NUMERICAL),
        (pa.int32(), 3, 100, True, Kind.NUMERICAL),  # pandas makes it float64
        (pa.string(), 50, 100, False, Kind.CATEGORICAL),
        (pa.string(), 51, 100, False, Kind.TEXT),
        (pa.bool_(), 2, 100, False, Kind.CATEGORICAL),
        (pa.dictionary(pa.int8(), pa.string()), 90, 100, False, Kind.CATEGORICAL),
        (pa.timestamp("s"), 100, 100, False, Kind.UNSUPPORTED),
    ],
)
def test_infer_kind(
    arrow_type: pa.DataType, n_distinct: int, n_present: int, has_missing: bool, expected: Kind
) -> None:
    assert infer_kind(arrow_type, n_distinct=n_distinct, n_present=n_present, has_missing=has_missing) is expected
