"""From Arrow columns to what the tests consume: sorted finite numbers, or value counts.

Everything runs in Arrow compute kernels or NumPy; Python loops touch distinct values only
(merging two value-count tables), never rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cnai.errors import InvalidArgument
from cnai.monitoring.drift.binning import Counts, FloatArray


def is_numeric_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t))


def missing_count(arr: pa.ChunkedArray) -> int:
    """Nulls, plus NaN in float columns (pandas reads both as missing)."""
    n = int(arr.null_count)
    if pa.types.is_floating(arr.type):
        n += int(pc.sum(pc.is_nan(arr)).as_py() or 0)
    return n


def distinct_count(arr: pa.ChunkedArray) -> int:
    """Distinct non-null values (``pandas.Series.nunique``)."""
    if pa.types.is_dictionary(arr.type):
        return len(value_counts(arr)[0])
    return int(pc.count_distinct(arr, mode="only_valid").as_py())


def value_counts(arr: pa.ChunkedArray) -> tuple[list[object], np.ndarray]:
    """(distinct values, their counts), missing values dropped (nulls; NaN and ±inf for floats)."""
    if pa.types.is_dictionary(arr.type) and not pa.types.is_floating(arr.type.value_type):
        # Count the integer codes with bincount over one dictionary shared by all chunks.
        arr = pa.table({"c": arr}).unify_dictionaries().column(0)
        if arr.num_chunks == 0:
            return [], np.zeros(0, dtype=np.int64)
        dictionary = arr.chunk(0).dictionary
        counts = np.zeros(len(dictionary), dtype=np.int64)
        for chunk in arr.chunks:
            codes = _chunk_to_numpy(chunk.indices.drop_null()).astype(np.int64, copy=False)
            counts += np.bincount(codes, minlength=len(dictionary))
        present = np.flatnonzero(counts)
        values = dictionary.to_pylist()  # one entry per distinct value, not per row
        return [values[i] for i in present], counts[present]
    vc = pc.value_counts(_valid(arr))
    return vc.field("values").to_pylist(), _chunk_to_numpy(vc.field("counts")).astype(np.int64)


def sorted_finite(arr: pa.ChunkedArray, column: str, which: str) -> FloatArray:
    """The column as sorted float64 without nulls, NaN or ±inf (Evidently drops all three)."""
    if not is_numeric_type(arr.type):
        raise InvalidArgument(f"Column {column!r} is numerical but {which} holds {arr.type} values")
    t = arr.type
    if pa.types.is_decimal(t) or pa.types.is_boolean(t):
        arr = arr.cast(pa.float64())
    values = to_numpy(arr.drop_null()).astype(np.float64, copy=False)
    if pa.types.is_floating(t):
        finite = np.isfinite(values)
        if not finite.all():
            values = values[finite]
    values = np.sort(values)  # one sort per column; every statistic reuses it
    if values.size == 0:
        raise InvalidArgument(f"Column {column!r} has no values in {which} to compare")
    return values


def to_numpy(arr: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as one NumPy array, zero-copy per chunk where Arrow allows it.

    ``ChunkedArray.to_numpy`` and ``Array.to_numpy(zero_copy_only=False)`` import pandas (half a
    second) even for plain numbers; null-free primitive chunks need no conversion at all.
    """
    chunks = [_chunk_to_numpy(c) for c in arr.chunks]
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(chunks)


_NUMPY_TYPES = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float16(): np.float16,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def _chunk_to_numpy(chunk: pa.Array) -> np.ndarray:
    if chunk.type not in _NUMPY_TYPES or chunk.null_count:
        chunk = chunk.cast(pa.float64()).fill_null(float("nan"))
    dtype = np.dtype(_NUMPY_TYPES[chunk.type])
    # A view on Arrow's data buffer (it honours the slice offset): no copy, no pandas.
    data = chunk.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize)


def _valid(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    arr = pc.drop_null(arr)
    if pa.types.is_floating(arr.type):
        arr = arr.filter(pc.is_finite(arr))
    return arr


def categorical_counts(reference: pa.ChunkedArray, current: pa.ChunkedArray, column: str) -> Counts:
    """Counts of each value in both samples, over the union of values (missing values dropped)."""
    ref_keys, ref_counts = value_counts(reference)
    cur_keys, cur_counts = value_counts(current)
    if not ref_keys:
        raise InvalidArgument(f"Column {column!r} has no values in reference to compare")
    if not cur_keys:
        raise InvalidArgument(f"Column {column!r} has no values in current to compare")
    # One dict entry per distinct value: the union of both samples' values.
    index: dict[object, int] = {}
    for k in ref_keys:
        index.setdefault(k, len(index))
    for k in cur_keys:
        index.setdefault(k, len(index))
    ref = np.zeros(len(index), dtype=np.int64)
    cur = np.zeros(len(index), dtype=np.int64)
    ref[np.fromiter((index[k] for k in ref_keys), dtype=np.int64, count=len(ref_keys))] = ref_counts
    cur[np.fromiter((index[k] for k in cur_keys), dtype=np.int64, count=len(cur_keys))] = cur_counts
    return Counts(keys=list(index), reference=ref, current=cur)
