"""The drift engine: one column at a time, a test per column, then the dataset verdict.

Memory stays bounded by a few columns of each dataset (plus their sorted copies): columns are
pulled from the sources one at a time per worker thread and dropped once compared, so the peak
does not grow with the number of columns (Parquet sources never hold the whole table).
See :mod:`.preset` for how the test of each column is chosen (Evidently 0.7's defaults) and
:mod:`.stattests` for the statistics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cnai.errors import InvalidArgument
from cnai.monitoring import quality
from cnai.monitoring.drift import preset
from cnai.monitoring.drift.binning import (
    Counts,
    FloatArray,
    binned_counts,
    count_unique_sorted,
    histogram_sorted,
    numeric_counts,
    sturges_edges,
)
from cnai.monitoring.drift.prepare import (
    categorical_counts,
    distinct_count,
    is_numeric_type,
    missing_count,
    sorted_finite,
)
from cnai.monitoring.drift.result import ColumnDrift, Distribution, DriftReport, SkippedColumn
from cnai.monitoring.drift.stattests import Kind, Sample, StatTest, get_test
from cnai.monitoring.io import TableSource

PLOT_MAX_BINS = 30
PLOT_MAX_CATEGORIES = 20
MAX_WORKERS = 4

_Outcome = tuple[quality.ColumnQuality, Kind, ColumnDrift | SkippedColumn]


@dataclass(frozen=True)
class DriftOptions:
    """Choices on top of Evidently's defaults; the defaults reproduce its ``DataDriftPreset()``.

    ``method``/``threshold`` apply to every column the method supports (others keep the
    preset's choice); ``per_column_method``/``per_column_threshold`` override per column.
    """

    columns: list[str] | None = None
    categorical: frozenset[str] = frozenset()
    numerical: frozenset[str] = frozenset()
    method: str | None = None
    threshold: float | None = None
    per_column_method: Mapping[str, str] = field(default_factory=dict)
    per_column_threshold: Mapping[str, float] = field(default_factory=dict)
    drift_share: float = preset.DEFAULT_DRIFT_SHARE
    domain_classifier: bool = False
    classifier_threshold: float = 0.55
    distributions: bool = True  # keep plot data (the HTML report needs it)
    workers: int | None = None  # columns compared at once; default min(4, cores)

    def __post_init__(self) -> None:
        if not 0 < self.drift_share <= 1:
            raise InvalidArgument(f"drift_share must be in (0, 1], got {self.drift_share}")
        both = self.categorical & self.numerical
        if both:
            raise InvalidArgument(f"Columns both categorical and numerical: {', '.join(sorted(both))}")
        for name in [self.method, *self.per_column_method.values()]:
            if name is not None:
                get_test(name)  # fail early on an unknown name


def select_columns(reference: pa.Schema, current: pa.Schema, columns: Iterable[str] | None) -> list[str]:
    """The columns to compare: the given ones (each must exist in both) or those both share."""
    if columns is None:
        cur = set(current.names)
        return [n for n in reference.names if n in cur]
    wanted = list(dict.fromkeys(columns))
    missing_ref = [c for c in wanted if c not in reference.names]
    missing_cur = [c for c in wanted if c not in current.names]
    if missing_ref or missing_cur:
        parts = []
        if missing_ref:
            parts.append(f"not in reference: {', '.join(missing_ref)}")
        if missing_cur:
            parts.append(f"not in current: {', '.join(missing_cur)}")
        raise InvalidArgument(f"Unknown column(s) ({'; '.join(parts)})")
    return wanted


def compare(reference: TableSource, current: TableSource, options: DriftOptions | None = None) -> DriftReport:
    """Compare two datasets column by column; raises ``InvalidArgument`` on unusable input."""
    opts = options or DriftOptions()
    started = time.perf_counter()
    names = select_columns(reference.schema, current.schema, opts.columns)
    unknown = (opts.categorical | opts.numerical) - set(names)
    if unknown:
        raise InvalidArgument(f"--categorical/--numerical name column(s) not compared: {', '.join(sorted(unknown))}")
    if not names:
        raise InvalidArgument("The reference and current datasets have no column in common")
    report = DriftReport(
        reference=reference.name,
        current=current.name,
        reference_rows=reference.num_rows,
        current_rows=current.num_rows,
        columns=[],
        skipped=[],
        drift_share_threshold=opts.drift_share,
        schema=quality.schema_changes(reference.schema, current.schema),
        quality=[],
    )
    kinds: dict[str, Kind] = {}
    for col_quality, kind, result in _map_columns(names, reference, current, opts):
        report.quality.append(col_quality)
        if isinstance(result, SkippedColumn):
            report.skipped.append(result)
        else:
            kinds[result.column] = kind
            report.columns.append(result)
    if opts.domain_classifier:
        from cnai.monitoring.drift.classifier import domain_classifier

        report.classifier = domain_classifier(reference, current, kinds, threshold=opts.classifier_threshold)
    report.elapsed_s = time.perf_counter() - started
    return report


def _workers(opts: DriftOptions) -> int:
    if opts.workers is not None:
        return max(1, opts.workers)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, cores)


def _map_columns(
    names: list[str], reference: TableSource, current: TableSource, opts: DriftOptions
) -> Iterator[_Outcome]:
    """Columns in order; several at once on a thread pool (sorting, Arrow and scipy release the GIL).

    Memory stays bounded by ``workers`` columns in flight, whatever the number of columns.
    """
    workers = min(_workers(opts), len(names))
    if workers <= 1:
        for name in names:
            yield _compare_column(name, reference, current, opts)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnai-drift") as pool:
        yield from pool.map(lambda n: _compare_column(n, reference, current, opts), names)


def _column_kind(name: str, cur_type: pa.DataType, cur: pa.ChunkedArray, opts: DriftOptions) -> Kind:
    if name in opts.categorical:
        return Kind.CATEGORICAL
    if name in opts.numerical:
        return Kind.NUMERICAL
    missing = missing_count(cur)
    n_distinct = distinct_count(cur) if preset.needs_distinct_count(cur_type) else 0
    return preset.infer_kind(
        cur_type, n_distinct=n_distinct, n_present=len(cur) - missing, has_missing=cur.null_count > 0
    )


def _choose_test(name: str, kind: Kind, n_reference: int, n_values: int, opts: DriftOptions) -> StatTest:
    requested = opts.per_column_method.get(name) or opts.method
    if requested is not None:
        test = get_test(requested)
        if kind in test.kinds:
            return test
        if name in opts.per_column_method:
            raise InvalidArgument(f"Test {test.name!r} does not apply to {kind.name.lower()} column {name!r}")
    return preset.default_test(kind, n_reference=n_reference, n_values=n_values)


def _threshold(name: str, test: StatTest, opts: DriftOptions) -> float:
    if name in opts.per_column_threshold:
        return float(opts.per_column_threshold[name])
    return float(opts.threshold) if opts.threshold is not None else test.default_threshold


def _compare_column(name: str, reference: TableSource, current: TableSource, opts: DriftOptions) -> _Outcome:
    # Types come from the schemas: a source may hand out a cheaper encoding of the same values
    # (Parquet strings arrive dictionary-encoded).
    ref_type = reference.schema.field(name).type
    cur_type = current.schema.field(name).type
    ref_col = reference.column(name)
    cur_col = current.column(name)
    col_quality = quality.ColumnQuality(
        column=name,
        reference_type=str(ref_type),
        current_type=str(cur_type),
        missing=quality.missing_values(missing_count(ref_col), len(ref_col), missing_count(cur_col), len(cur_col)),
    )
    if is_numeric_type(ref_type) != is_numeric_type(cur_type) and name not in opts.categorical:
        # Numbers on one side, text on the other: comparing them is meaningless, so say so
        # (Evidently would silently count the values as categories). --categorical forces it.
        raise InvalidArgument(
            f"Column {name!r} changed type: {ref_type} in reference, {cur_type} in current "
            "(pass --categorical to compare its values anyway)"
        )
    kind = _column_kind(name, cur_type, cur_col, opts)
    if kind is Kind.NUMERICAL:
        if not is_numeric_type(ref_type):
            raise InvalidArgument(f"Column {name!r} changed type: {ref_type} in reference, {cur_type} in current")
        integer = pa.types.is_integer(ref_type) and pa.types.is_integer(cur_type)
        integer = integer and ref_col.null_count == 0 and cur_col.null_count == 0
        ref = sorted_finite(ref_col, name, "reference")
        cur = sorted_finite(cur_col, name, "current")
        del ref_col, cur_col  # the sorted copies are all that is needed from here on
        col_quality.out_of_range = quality.out_of_range(ref, cur)
        result = _numerical(name, ref, cur, opts, integer)
    elif kind is Kind.CATEGORICAL:
        counts = categorical_counts(ref_col, cur_col, name)
        del ref_col, cur_col
        col_quality.unseen_categories = quality.unseen_categories(counts)
        result = _categorical(name, counts, opts)
    else:
        why = "text column (Evidently's text drift is not implemented)" if kind is Kind.TEXT else "unsupported type"
        return col_quality, kind, SkippedColumn(name, f"{why}: {col_quality.current_type}")
    return col_quality, kind, result


def _numerical(name: str, ref: FloatArray, cur: FloatArray, opts: DriftOptions, integer: bool) -> ColumnDrift:
    ref_unique = count_unique_sorted(ref)
    cur_unique = count_unique_sorted(cur)
    # Only "more than 5 values or not" matters for the choice; the exact union is cheap when small.
    if ref_unique > preset.FEW_VALUES or cur_unique > preset.FEW_VALUES:
        n_values = max(ref_unique, cur_unique)
    else:
        n_values = int(np.union1d(np.unique(ref), np.unique(cur)).size)
    test = _choose_test(name, Kind.NUMERICAL, ref.size, n_values, opts)
    if test.needs == "sorted":
        sample = Sample(ref_sorted=ref, cur_sorted=cur)
    elif test.name in ("chisquare", "z"):
        sample = Sample(counts=numeric_counts(ref, cur))
    else:
        sample = Sample(counts=binned_counts(ref, cur, ref_unique, integer))
    distribution = _histogram(ref, cur) if opts.distributions else None
    return _run_test(name, Kind.NUMERICAL, test, sample, opts, int(ref.size), int(cur.size), distribution)


def _categorical(name: str, counts: Counts, opts: DriftOptions) -> ColumnDrift:
    test = _choose_test(name, Kind.CATEGORICAL, counts.n_reference, len(counts.keys), opts)
    distribution = _bars(counts) if opts.distributions else None
    sample = Sample(counts=counts)
    return _run_test(name, Kind.CATEGORICAL, test, sample, opts, counts.n_reference, counts.n_current, distribution)


def _run_test(
    name: str,
    kind: Kind,
    test: StatTest,
    sample: Sample,
    opts: DriftOptions,
    n_reference: int,
    n_current: int,
    distribution: Distribution | None,
) -> ColumnDrift:
    """Run the chosen test on one column and judge it against its threshold."""
    outcome = test.run(sample)
    threshold = _threshold(name, test, opts)
    return ColumnDrift(
        column=name,
        kind=kind.value,
        test=test.name,
        test_display_name=test.display_name,
        statistic=outcome.statistic,
        p_value=outcome.p_value,
        score=outcome.score,
        threshold=threshold,
        rule=test.compare.value,
        drifted=test.compare.drifted(outcome.score, threshold),
        n_reference=n_reference,
        n_current=n_current,
        distribution=distribution,
    )


def _histogram(ref: FloatArray, cur: FloatArray) -> Distribution:
    lo, hi = float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))
    edges = sturges_edges(lo, hi, ref.size + cur.size)
    if edges.size - 1 > PLOT_MAX_BINS:
        edges = np.linspace(lo, hi, PLOT_MAX_BINS + 1)
    r = histogram_sorted(ref, edges) / ref.size
    c = histogram_sorted(cur, edges) / cur.size
    return Distribution(
        kind="hist",
        labels=[f"{e:.4g}" for e in edges[:-1]],
        reference=r.tolist(),
        current=c.tolist(),
        edges=edges.tolist(),
    )


def _bars(counts: Counts) -> Distribution:
    total = counts.reference / counts.n_reference + counts.current / counts.n_current
    order = np.argsort(-total, kind="stable")
    top, rest = order[:PLOT_MAX_CATEGORIES], order[PLOT_MAX_CATEGORIES:]
    labels = [str(counts.keys[i]) for i in top]
    ref = (counts.reference[top] / counts.n_reference).tolist()
    cur = (counts.current[top] / counts.n_current).tolist()
    if rest.size:
        labels.append(f"other ({rest.size})")
        ref.append(float(counts.reference[rest].sum() / counts.n_reference))
        cur.append(float(counts.current[rest].sum() / counts.n_current))
    return Distribution(kind="bar", labels=labels, reference=ref, current=cur)
