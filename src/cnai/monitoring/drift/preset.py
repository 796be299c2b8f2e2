"""Evidently 0.7's ``DataDriftPreset`` defaults: which column is what, and which test judges it.

Read from evidently 0.7.23 as installed (paths under ``site-packages/evidently/``):

Column kinds (``core/datasets.py::infer_column_type``, applied to the **current** dataset:
``core/report.py::Context.data_definition`` is the current dataset's definition, and
``metrics/column_statistics.py::ValueDriftCalculation`` takes the type from ``current_data``):

- float → numerical;
- integer → categorical with at most 10 distinct values (``INTEGER_CARDINALITY_LIMIT``), else
  numerical. An integer column with missing values is float in pandas, hence numerical;
- string → text when distinct values exceed half the non-missing count, else categorical;
- bool and pandas ``category`` (Arrow dictionary) → categorical; datetime → not tested.
  (Evidently reads a bool column *with* missing values as ``object`` and skips it as unknown;
  cnai keeps it as categorical.)

Cleaning (``legacy/calculations/data_drift.py::get_one_column_drift``): ±inf become NaN, then
NaN/nulls are dropped from each sample separately; an empty sample is an error.

Default test (``legacy/calculations/stattests/registry.py::_get_default_stattest``), with
``n_ref`` the cleaned reference size and ``n_values`` the distinct values of both samples:

- ``n_ref <= 1000``: numerical with ``n_values > 5`` → ``ks``; otherwise ``chisquare`` when
  ``n_values > 2``, else ``z``;
- ``n_ref > 1000``: numerical with ``n_values > 5`` → ``wasserstein`` (normed); otherwise
  ``jensenshannon``;
- text columns use Evidently's text-content drift, which cnai does not implement: cnai skips
  them (they are listed as skipped and left out of the share).

Thresholds are each test's default (:mod:`cnai.monitoring.drift.stattests`). The dataset
drifts when the share of drifted columns is at least ``drift_share`` = 0.5
(``legacy/calculations/data_drift.py::get_dataset_drift``: ``share >= drift_share``).
"""

from __future__ import annotations

import pyarrow as pa

from cnai.monitoring.drift.stattests import STAT_TESTS, Kind, StatTest

INTEGER_CARDINALITY_LIMIT = 10
SMALL_REFERENCE_ROWS = 1000
FEW_VALUES = 5
DEFAULT_DRIFT_SHARE = 0.5


def needs_distinct_count(arrow_type: pa.DataType) -> bool:
    """Whether inferring the kind of this type needs the current column's distinct count."""
    t = arrow_type
    return bool(pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t))


def infer_kind(arrow_type: pa.DataType, *, n_distinct: int, n_present: int, has_missing: bool) -> Kind:
    """Evidently's ``infer_column_type`` on the current column, as pandas would type it."""
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return Kind.NUMERICAL
    if pa.types.is_integer(arrow_type):
        if has_missing:  # pandas turns it into float64
            return Kind.NUMERICAL
        return Kind.CATEGORICAL if n_distinct <= INTEGER_CARDINALITY_LIMIT else Kind.NUMERICAL
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        if n_present == 0:
            return Kind.UNSUPPORTED
        return Kind.TEXT if n_distinct > n_present * 0.5 else Kind.CATEGORICAL
    if pa.types.is_boolean(arrow_type) or pa.types.is_dictionary(arrow_type):
        return Kind.CATEGORICAL
    return Kind.UNSUPPORTED


def default_test(kind: Kind, *, n_reference: int, n_values: int) -> StatTest:
    """``_get_default_stattest``: the test Evidently's preset picks for a column."""
    few = kind is Kind.CATEGORICAL or n_values <= FEW_VALUES
    if n_reference <= SMALL_REFERENCE_ROWS:
        if not few:
            return STAT_TESTS["ks"]
        return STAT_TESTS["chisquare"] if n_values > 2 else STAT_TESTS["z"]
    return STAT_TESTS["jensenshannon"] if few else STAT_TESTS["wasserstein"]
