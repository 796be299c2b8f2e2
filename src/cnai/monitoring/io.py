"""Column-at-a-time access to CSV and Parquet files through pyarrow.

The drift engine asks for one column of each dataset at a time, so memory stays bounded by a
couple of columns rather than two whole tables. Parquet is columnar on disk and is read one
column per call (``ParquetFile.read(columns=[name])``). CSV has no column index: the file is
parsed once by pyarrow's multithreaded reader into a columnar ``pyarrow.Table`` (no pandas
copy), and columns are handed out from it.

Missing values: CSV cells that pandas would read as NaN (empty, ``NA``, ``NaN``, ``null``, …)
become nulls, strings included, so both files mean the same thing by "missing" as in pandas,
which Evidently reads through.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cnai.errors import InvalidArgument, NotFound

_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}


class TableSource(Protocol):
    """What the engine needs from a dataset: its schema and one column at a time."""

    name: str

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def num_rows(self) -> int: ...

    def column(self, name: str) -> pa.ChunkedArray: ...


@dataclass
class ArrowSource:
    """An in-memory ``pyarrow.Table`` (CSV files, tests, and the monitor controller's windows)."""

    table: pa.Table
    name: str = "<table>"

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)


@dataclass
class ParquetSource:
    """A Parquet file read lazily, one column per ``column()`` call.

    String columns come back dictionary-encoded (Parquet usually stores them so): decoding a
    million short strings costs twenty times more than reading the codes, and the drift tests
    only need counts per value. ``schema`` still reports the file's own types.
    """

    file: pq.ParquetFile
    name: str
    logical_schema: pa.Schema
    # One reader, several engine threads: reads take turns (each is itself multithreaded).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, path: Path) -> ParquetSource:
        schema = pq.ParquetFile(path).schema_arrow
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        return cls(pq.ParquetFile(path, read_dictionary=strings), name=str(path), logical_schema=schema)

    @property
    def schema(self) -> pa.Schema:
        return self.logical_schema

    @property
    def num_rows(self) -> int:
        return int(self.file.metadata.num_rows)

    def column(self, name: str) -> pa.ChunkedArray:
        with self._lock:
            return self.file.read(columns=[name], use_threads=True).column(0)


def open_table(path: str | Path) -> TableSource:
    """Open a CSV or Parquet file; the format comes from the suffix, else from Parquet's magic bytes."""
    p = Path(path)
    if not p.exists():
        raise NotFound(f"File not found: {p}")
    if not p.is_file():
        raise InvalidArgument(f"Not a file: {p}")
    suffix = p.suffix.lower()
    if suffix in _PARQUET_SUFFIXES or (suffix not in _CSV_SUFFIXES and _looks_like_parquet(p)):
        try:
            return ParquetSource.open(p)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidArgument(f"Cannot read {p} as Parquet: {exc}") from exc
    return ArrowSource(_read_csv(p), name=str(p))


def from_arrays(columns: Mapping[str, object], name: str = "<arrays>") -> ArrowSource:
    """Wrap numpy arrays or lists (one per column) as a source, e.g. for an in-process window."""
    arrays = {k: pa.array(np.asarray(v)) if isinstance(v, np.ndarray) else pa.array(v) for k, v in columns.items()}
    return ArrowSource(pa.table(arrays), name=name)


def _looks_like_parquet(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _read_csv(p: Path) -> pa.Table:
    delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        return pacsv.read_csv(
            p,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidArgument(f"Cannot read {p} as CSV: {exc}") from exc
