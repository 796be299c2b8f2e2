"""`cnai drift`: compare a current dataset with a reference, column by column."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cnai.cli._common import console, err_console, fail, print_json
from cnai.errors import CnaiError

if TYPE_CHECKING:
    from cnai.monitoring.drift import DriftReport

EXIT_NO_DRIFT, EXIT_DRIFT, EXIT_BAD_INPUT = 0, 1, 2


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    return names or None


def drift(
    reference: Path = typer.Option(..., "--reference", "-r", help="Reference dataset (CSV or Parquet)."),
    current: Path = typer.Option(..., "--current", "-c", help="Current dataset (CSV or Parquet)."),
    columns: str = typer.Option(None, help="Comma-separated columns to compare. [default: all shared columns]"),
    categorical: str = typer.Option(None, help="Comma-separated columns to treat as categorical."),
    numerical: str = typer.Option(None, help="Comma-separated columns to treat as numerical."),
    method: str = typer.Option(
        None,
        help="Test for every column it applies to: ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div. "
        "[default: Evidently's preset choice per column]",
    ),
    threshold: float = typer.Option(None, help="Threshold for every column. [default: the test's own]"),
    drift_share: float = typer.Option(0.5, help="Share of drifted columns at which the dataset drifts."),
    domain_classifier: bool = typer.Option(
        False, "--domain-classifier", help="Also train a classifier to tell the datasets apart (needs scikit-learn)."
    ),
    allow_schema_changes: bool = typer.Option(
        False,
        "--allow-schema-changes",
        help="Compare the shared columns even when one file has columns the other lacks (reported as quality issues).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (for scripts)."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML report to this path."),
) -> None:
    """Detect data drift between two datasets, the way Evidently's DataDriftPreset judges it.

    Per column: the test used, its statistic, p-value or distance, threshold and verdict; then the share of drifted columns and the dataset verdict (drift when the share is at least --drift-share).

    Data-quality findings (missing values, type changes, values outside the reference range, unseen categories, schema changes) are included in --json and --html output.

    Exit status: 0 no dataset drift, 1 dataset drift, 2 bad input (missing file, unknown column, mismatched schema, unreadable data).
    """
    from cnai.monitoring.drift import DriftOptions, compare
    from cnai.monitoring.io import open_table
    from cnai.monitoring.quality import schema_changes
    from cnai.monitoring.report import write_html

    try:
        ref = open_table(reference)
        cur = open_table(current)
        wanted = _names(columns)
        if wanted is None and not allow_schema_changes:
            changes = schema_changes(ref.schema, cur.schema)
            if changes.missing_in_current or changes.extra_in_current:
                parts = []
                if changes.missing_in_current:
                    parts.append(f"missing in current: {', '.join(changes.missing_in_current)}")
                if changes.extra_in_current:
                    parts.append(f"only in current: {', '.join(changes.extra_in_current)}")
                fail(
                    f"The datasets' columns differ ({'; '.join(parts)}). Pass --columns to choose the columns "
                    "to compare, or --allow-schema-changes to compare the shared ones.",
                    code=EXIT_BAD_INPUT,
                )
        options = DriftOptions(
            columns=wanted,
            categorical=frozenset(_names(categorical) or ()),
            numerical=frozenset(_names(numerical) or ()),
            method=method,
            threshold=threshold,
            drift_share=drift_share,
            domain_classifier=domain_classifier,
            distributions=html is not None,
        )
        report = compare(ref, cur, options)
        if html is not None:
            write_html(report, html)
    except CnaiError as exc:
        fail(exc.message, code=EXIT_BAD_INPUT)
        raise  # unreachable

    if json_out:
        print_json(report.to_dict())
    else:
        _print_table(report)
        if html is not None:
            err_console.print(f"HTML report written to {html}")
    raise typer.Exit(EXIT_DRIFT if report.dataset_drift else EXIT_NO_DRIFT)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _print_table(report: DriftReport) -> None:
    table = Table(title=f"Drift: {report.current} vs reference {report.reference}")
    for name, justify in (
        ("column", "left"),
        ("type", "left"),
        ("test", "left"),
        ("statistic", "right"),
        ("p-value", "right"),
        ("threshold", "right"),
        ("drift", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in report.columns:
        table.add_row(
            c.column,
            c.kind,
            c.test,
            _num(c.statistic),
            _num(c.p_value),
            _num(c.threshold),
            "[bold red]drift[/]" if c.drifted else "[green]no[/]",
        )
    console.print(table)
    for s in report.skipped:
        console.print(f"[yellow]skipped[/] {s.column}: {s.reason}")
    if report.classifier is not None:
        k = report.classifier
        console.print(
            f"Domain classifier ROC AUC {k.roc_auc:.3f} (threshold {k.threshold}): "
            + ("[bold red]drift[/]" if k.drifted else "[green]no drift[/]")
        )
    _print_quality(report)
    verdict = "[bold red]Dataset drift[/]" if report.dataset_drift else "[green]No dataset drift[/]"
    console.print(
        f"{verdict}: {report.n_drifted} of {len(report.columns)} columns drifted "
        f"({report.share_drifted:.0%}; threshold {report.drift_share_threshold:.0%})"
    )


def _print_quality(report: DriftReport) -> None:
    """One line per column with a data-quality finding; the details are in --json and --html."""
    s = report.schema
    if s.missing_in_current:
        console.print(f"[yellow]quality[/] missing in current: {', '.join(s.missing_in_current)}")
    if s.extra_in_current:
        console.print(f"[yellow]quality[/] only in current: {', '.join(s.extra_in_current)}")
    for q in report.quality:
        notes = []
        if q.type_changed:
            notes.append(f"type {q.reference_type} -> {q.current_type}")
        m = q.missing
        if m.current_count and m.current_share > m.reference_share:
            notes.append(f"missing {m.current_share:.1%} (reference {m.reference_share:.1%})")
        if q.out_of_range is not None and (q.out_of_range.below + q.out_of_range.above):
            notes.append(f"{q.out_of_range.share:.1%} outside the reference range")
        if q.unseen_categories is not None and q.unseen_categories.count:
            u = q.unseen_categories
            notes.append(f"{u.count} unseen categories in {u.share:.1%} of rows ({', '.join(u.values[:3])})")
        if notes:
            console.print(f"[yellow]quality[/] {q.column}: {'; '.join(notes)}")
