"""The benchmark's datasets: N rows x 25 columns (20 numerical, 5 categorical), generated in code.

The current dataset shifts 8 numerical and 2 categorical columns by known amounts, so 10 of 25
columns drift (40%): per-column verdicts carry the comparison and the dataset verdict is "no
drift" for both tools. Written once per size as Parquet; both tools read the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_NUMERIC, N_CATEGORICAL = 20, 5
SHIFTED_NUMERIC, SHIFTED_CATEGORICAL = 8, 2
CATEGORIES = [[f"c{j}_{k}" for k in range(3 + j)] for j in range(N_CATEGORICAL)]


def _table(n: int, rng: np.random.Generator, shifted: bool) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for i in range(N_NUMERIC):
        shift = shifted and i < SHIFTED_NUMERIC
        kind = i % 4
        if kind == 0:
            v = rng.normal(0.5 if shift else 0.0, 1.0, n)
        elif kind == 1:
            v = rng.exponential(1.5 if shift else 1.0, n)
        elif kind == 2:
            v = rng.uniform(0.0, 1.3 if shift else 1.0, n)
        else:
            v = rng.integers(0, 130 if shift else 100, n).astype(np.float64)
        cols[f"num_{i}"] = pa.array(v)
    for j in range(N_CATEGORICAL):
        cats = CATEGORIES[j]
        p = np.full(len(cats), 1.0 / len(cats))
        if shifted and j < SHIFTED_CATEGORICAL:
            p = np.linspace(1.0, 3.0, len(cats))
            p /= p.sum()
        idx = rng.choice(len(cats), size=n, p=p)
        cols[f"cat_{j}"] = pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), pa.array(cats)).cast(
            pa.string()
        )
    return pa.table(cols)


def ensure_files(n: int, work: Path) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    ref, cur = work / f"drift_ref_{n}.parquet", work / f"drift_cur_{n}.parquet"
    if not (ref.exists() and cur.exists()):
        rng = np.random.default_rng(n)
        pq.write_table(_table(n, rng, shifted=False), ref)
        pq.write_table(_table(n, rng, shifted=True), cur)
    return ref, cur
