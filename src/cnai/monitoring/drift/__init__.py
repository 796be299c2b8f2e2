"""Drift detection that agrees with Evidently 0.7's ``DataDriftPreset``, vectorised and column by column."""

from cnai.monitoring.drift.engine import DriftOptions, compare, select_columns
from cnai.monitoring.drift.result import ClassifierResult, ColumnDrift, Distribution, DriftReport, SkippedColumn
from cnai.monitoring.drift.stattests import STAT_TESTS, Kind, get_test

__all__ = [
    "STAT_TESTS",
    "ClassifierResult",
    "ColumnDrift",
    "Distribution",
    "DriftOptions",
    "DriftReport",
    "Kind",
    "SkippedColumn",
    "compare",
    "get_test",
    "select_columns",
]
