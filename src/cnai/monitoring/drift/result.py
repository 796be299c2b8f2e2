"""What a drift comparison returns: per-column verdicts, the dataset verdict, quality findings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from cnai.monitoring.quality import ColumnQuality, SchemaChanges


@dataclass(frozen=True)
class Distribution:
    """Reference vs current shares for plotting: histogram bins or the most frequent categories."""

    kind: str  # "hist" (numbers: ``edges`` has one more entry than the shares) or "bar"
    labels: list[str]
    reference: list[float]
    current: list[float]
    edges: list[float] | None = None


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # "num" or "cat"
    test: str  # registry name, e.g. "wasserstein"
    test_display_name: str
    statistic: float  # the test statistic (KS D, chi², z) or the distance itself
    p_value: float | None  # hypothesis tests only
    score: float  # what the threshold is compared with: the p-value or the distance
    threshold: float
    rule: str  # e.g. "p < threshold"
    drifted: bool
    n_reference: int  # values compared, after dropping missing ones
    n_current: int
    distribution: Distribution | None = None


@dataclass(frozen=True)
class SkippedColumn:
    column: str
    reason: str


@dataclass(frozen=True)
class ClassifierResult:
    """Multivariate check: can a model tell reference rows from current rows?"""

    model: str
    roc_auc: float
    threshold: float
    drifted: bool
    n_train: int
    n_test: int
    columns: list[str]


@dataclass
class DriftReport:
    reference: str
    current: str
    reference_rows: int
    current_rows: int
    columns: list[ColumnDrift]
    skipped: list[SkippedColumn]
    drift_share_threshold: float
    schema: SchemaChanges
    quality: list[ColumnQuality]
    classifier: ClassifierResult | None = None
    elapsed_s: float = field(default=0.0, compare=False)

    @property
    def n_drifted(self) -> int:
        return sum(c.drifted for c in self.columns)

    @property
    def share_drifted(self) -> float:
        return self.n_drifted / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        # Evidently: share >= drift_share (legacy/calculations/data_drift.py::get_dataset_drift).
        return bool(self.columns) and self.share_drifted >= self.drift_share_threshold

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def to_dict(self, *, distributions: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; NaN/inf become None (JSON has no such numbers)."""
        cols = []
        for c in self.columns:
            d = asdict(c)
            if not distributions:
                d.pop("distribution")
            cols.append(d)
        out: dict[str, Any] = {
            "reference": {"path": self.reference, "rows": self.reference_rows},
            "current": {"path": self.current, "rows": self.current_rows},
            "dataset_drift": self.dataset_drift,
            "drift_share_threshold": self.drift_share_threshold,
            "n_columns": len(self.columns),
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "columns": cols,
            "skipped": [asdict(s) for s in self.skipped],
            "classifier": asdict(self.classifier) if self.classifier else None,
            "quality": {
                "schema": asdict(self.schema),
                "columns": [q.to_dict() for q in self.quality],
            },
            "elapsed_s": round(self.elapsed_s, 4),
        }
        return _json_safe(out)  # type: ignore[no-any-return]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
