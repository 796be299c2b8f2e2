"""Reading CSV and Parquet with pyarrow, and the errors for unusable files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from cnai.errors import InvalidArgument, NotFound
from cnai.monitoring.io import ParquetSource, open_table


def test_csv_nulls_read_like_pandas(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("a,b,c\n1,x,1.5\n2,,NA\n3,NA,2.5\n")
    t = open_table(p)
    assert t.num_rows == 3
    assert t.schema.names == ["a", "b", "c"]
    assert t.column("b").null_count == 2  # "" and NA are missing, as pandas reads them
    assert t.column("c").null_count == 1
    assert pa.types.is_integer(t.column("a").type)


def test_parquet_read_column_by_column(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": ["x", "y"]}), p)
    t = open_table(p)
    assert isinstance(t, ParquetSource)
    assert t.num_rows == 2
    assert t.schema.names == ["a", "b"]
    assert t.column("b").to_pylist() == ["x", "y"]
    # No suffix: detected from the magic bytes.
    q = tmp_path / "noext"
    q.write_bytes(p.read_bytes())
    assert isinstance(open_table(q), ParquetSource)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="File not found"):
        open_table(tmp_path / "nope.csv")
    with pytest.raises(InvalidArgument, match="Not a file"):
        open_table(tmp_path)
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InvalidArgument, match="as Parquet"):
        open_table(bad)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(InvalidArgument, match="as CSV"):
        open_table(ragged)


def test_parquet_strings_read_as_dictionaries_give_the_same_result_as_csv(tmp_path: Path) -> None:
    from cnai.monitoring.drift import compare

    rows = 3000
    ref = pa.table({"s": [["a", "b", "c"][i % 3] for i in range(rows)], "v": [float(i % 17) for i in range(rows)]})
    cur = pa.table(
        {"s": [["a", "b", "d", None][i % 4] for i in range(rows)], "v": [float(i % 13) for i in range(rows)]}
    )
    for name, table in (("ref", ref), ("cur", cur)):
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=700)  # several chunks
        pacsv.write_csv(table, tmp_path / f"{name}.csv")
    from_parquet = compare(open_table(tmp_path / "ref.parquet"), open_table(tmp_path / "cur.parquet"))
    from_csv = compare(open_table(tmp_path / "ref.csv"), open_table(tmp_path / "cur.csv"))
    assert open_table(tmp_path / "cur.parquet").schema.field("s").type == pa.string()  # logical type kept
    assert from_parquet.to_dict()["columns"] == from_csv.to_dict()["columns"]
    assert from_parquet.quality[0].unseen_categories == from_csv.quality[0].unseen_categories
    assert from_parquet.quality[0].missing.current_count == rows // 4
