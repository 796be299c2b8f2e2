"""Data quality checks between a reference and a current dataset, as structured results.

Each check is a small pure function over what the drift engine already holds for a column
(the Arrow column for missing values, sorted numbers for ranges, value counts for categories),
so quality costs no second pass over the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from cnai.monitoring.drift.binning import Counts, FloatArray

MAX_LISTED_VALUES = 20


@dataclass(frozen=True)
class TypeChange:
    column: str
    reference_type: str
    current_type: str


@dataclass(frozen=True)
class SchemaChanges:
    """Columns only one side has, and shared columns whose type differs."""

    missing_in_current: list[str]
    extra_in_current: list[str]
    type_changes: list[TypeChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.missing_in_current or self.extra_in_current or self.type_changes)


@dataclass(frozen=True)
class MissingValues:
    reference_count: int
    reference_share: float
    current_count: int
    current_share: float


@dataclass(frozen=True)
class OutOfRange:
    """Current values outside the reference's [min, max]."""

    reference_min: float
    reference_max: float
    below: int
    above: int
    share: float


@dataclass(frozen=True)
class UnseenCategories:
    """Current values the reference never had."""

    count: int  # distinct unseen values
    rows: int  # current rows holding them
    share: float  # of current non-missing rows
    values: list[str]  # the most frequent ones, at most MAX_LISTED_VALUES


@dataclass
class ColumnQuality:
    column: str
    reference_type: str
    current_type: str
    missing: MissingValues
    out_of_range: OutOfRange | None = None
    unseen_categories: UnseenCategories | None = None

    @property
    def type_changed(self) -> bool:
        return self.reference_type != self.current_type

    @property
    def has_issues(self) -> bool:
        return (
            self.type_changed
            or (self.missing.current_count > 0 and self.missing.current_share > self.missing.reference_share)
            or (self.out_of_range is not None and (self.out_of_range.below + self.out_of_range.above) > 0)
            or (self.unseen_categories is not None and self.unseen_categories.count > 0)
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type_changed"] = self.type_changed
        return d


def schema_changes(reference: pa.Schema, current: pa.Schema) -> SchemaChanges:
    ref_names, cur_names = list(reference.names), list(current.names)
    cur_set, ref_set = set(cur_names), set(ref_names)
    changes = [
        TypeChange(n, str(reference.field(n).type), str(current.field(n).type))
        for n in ref_names
        if n in cur_set and not reference.field(n).type.equals(current.field(n).type)
    ]
    return SchemaChanges(
        missing_in_current=[n for n in ref_names if n not in cur_set],
        extra_in_current=[n for n in cur_names if n not in ref_set],
        type_changes=changes,
    )


def missing_values(ref_missing: int, ref_rows: int, cur_missing: int, cur_rows: int) -> MissingValues:
    return MissingValues(
        reference_count=ref_missing,
        reference_share=ref_missing / ref_rows if ref_rows else 0.0,
        current_count=cur_missing,
        current_share=cur_missing / cur_rows if cur_rows else 0.0,
    )


def out_of_range(ref_sorted: FloatArray, cur_sorted: FloatArray) -> OutOfRange:
    lo, hi = float(ref_sorted[0]), float(ref_sorted[-1])
    below = int(np.searchsorted(cur_sorted, lo, side="left"))
    above = int(cur_sorted.size - np.searchsorted(cur_sorted, hi, side="right"))
    return OutOfRange(lo, hi, below, above, (below + above) / cur_sorted.size)


def unseen_categories(counts: Counts) -> UnseenCategories:
    unseen = (counts.reference == 0) & (counts.current > 0)
    idx = np.flatnonzero(unseen)
    order = idx[np.argsort(-counts.current[idx], kind="stable")][:MAX_LISTED_VALUES]
    rows = int(counts.current[idx].sum())
    return UnseenCategories(
        count=int(idx.size),
        rows=rows,
        share=rows / counts.n_current if counts.n_current else 0.0,
        values=[str(counts.keys[i]) for i in order],
    )
