"""`cnai drift` as a user runs it: files in, a table / JSON / HTML out, exit codes that scripts can test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cnai.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(5)
    n = 1500

    def table(shift: float) -> pa.Table:
        return pa.table(
            {
                "age": rng.normal(40 + 10 * shift, 8, n),
                "income": rng.lognormal(10, 0.5, n),
                "plan": rng.choice(["basic", "pro", "team"], n, p=[0.2, 0.3, 0.5] if shift else [0.5, 0.3, 0.2]),
            }
        )

    ref, same, shifted = table(0), table(0), table(1)
    out = {"ref_csv": d / "ref.csv", "same": d / "same.parquet", "shifted": d / "shifted.parquet"}
    pacsv.write_csv(ref, out["ref_csv"])
    pq.write_table(same, out["same"])
    pq.write_table(shifted, out["shifted"])
    extra = shifted.append_column("new_col", pa.array(np.arange(n)))
    out["extra"] = d / "extra.parquet"
    pq.write_table(extra, out["extra"])
    out["retyped"] = d / "retyped.parquet"
    pq.write_table(shifted.set_column(0, "age", pa.array(rng.choice(["a", "b"], n))), out["retyped"])
    return out


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["drift", *args])
    return result.exit_code, result.output


def test_no_drift_exits_zero_with_a_table(files: dict[str, Path]) -> None:
    code, out = _run("--reference", str(files["ref_csv"]), "--current", str(files["same"]))
    assert code == 0, out
    assert "No dataset drift" in out
    assert "wasserstein" in out
    assert "jensenshannon" in out


def test_drift_exits_one_and_json_has_every_column(files: dict[str, Path]) -> None:
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["shifted"]), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["dataset_drift"] is True
    assert {c["column"]: c["drifted"] for c in data["columns"]} == {"age": True, "income": False, "plan": True}
    assert {"test", "statistic", "p_value", "threshold", "drifted"} <= set(data["columns"][0])
    assert data["quality"]["columns"][0]["out_of_range"]["above"] > 0


def test_columns_categorical_and_html(files: dict[str, Path], tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    code, out = _run(
        "-r", str(files["ref_csv"]), "-c", str(files["shifted"]),
        "--columns", "income,plan", "--method", "psi", "--html", str(html), "--json",
    )  # fmt: skip
    assert code == 1, out  # plan drifts, income does not: 1 of 2 is 50%, which is dataset drift
    data = json.loads(out)
    assert [c["test"] for c in data["columns"]] == ["psi", "psi"]
    assert "<svg" in html.read_text()


def test_bad_input_exits_two_with_a_clear_message(files: dict[str, Path], tmp_path: Path) -> None:
    code, out = _run("-r", str(tmp_path / "missing.csv"), "-c", str(files["same"]))
    assert code == 2
    assert "File not found" in out
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["same"]), "--columns", "age,nope")
    assert code == 2
    assert "nope" in out
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["extra"]))
    assert code == 2
    assert "only in current: new_col" in out
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["extra"]), "--allow-schema-changes", "--json")
    assert code == 1
    assert json.loads(out)["quality"]["schema"]["extra_in_current"] == ["new_col"]
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["retyped"]))
    assert code == 2
    assert "'age' changed type" in out
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["same"]), "--method", "bogus")
    assert code == 2
    assert "Unknown drift test" in out


def test_help_documents_exit_codes() -> None:
    result = runner.invoke(app, ["drift", "--help"])
    assert result.exit_code == 0
    assert "1 dataset drift" in result.output
    assert "2 bad input" in result.output


def test_domain_classifier_and_type_overrides(files: dict[str, Path]) -> None:
    pytest.importorskip("sklearn")
    code, out = _run(
        "-r", str(files["ref_csv"]), "-c", str(files["shifted"]),
        "--domain-classifier", "--categorical", "age", "--json",
    )  # fmt: skip
    assert code == 1, out
    data = json.loads(out)
    assert data["classifier"]["drifted"] is True
    assert data["classifier"]["roc_auc"] > 0.6
    assert {c["column"]: c["kind"] for c in data["columns"]}["age"] == "cat"
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["same"]), "--domain-classifier")
    assert code == 0, out
    assert "Domain classifier ROC AUC" in out


def test_table_lists_quality_findings(files: dict[str, Path]) -> None:
    code, out = _run("-r", str(files["ref_csv"]), "-c", str(files["shifted"]))
    assert code == 1
    assert "quality age:" in out
    assert "outside the reference range" in out
    assert "Dataset drift: 2 of 3 columns drifted" in out
