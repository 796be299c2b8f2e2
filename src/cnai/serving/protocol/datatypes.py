"""OIP tensor datatypes and their numpy dtypes (little-endian, as the binary extension requires)."""

from __future__ import annotations

import numpy as np

from cnai.errors import InvalidArgument

_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_FROM_NUMPY: dict[str, str] = {f"{dt.kind}{dt.itemsize}": name for name, dt in _TO_NUMPY.items() if name != "BYTES"}

_BY_DTYPE: dict[np.dtype, str] = {dt: name for name, dt in _TO_NUMPY.items() if name != "BYTES"}
DATATYPES = frozenset(_TO_NUMPY)


def to_numpy_dtype(datatype: str) -> np.dtype:
    try:
        return _TO_NUMPY[datatype]
    except (KeyError, TypeError):
        raise InvalidArgument(f"Unsupported datatype {datatype!r}; use one of {', '.join(sorted(DATATYPES))}") from None


def from_numpy_dtype(dtype: np.dtype) -> str:
    """The OIP datatype for a numpy dtype; strings and objects travel as BYTES."""
    name = _BY_DTYPE.get(dtype)  # every response asks: look the common dtypes up directly
    if name is not None:
        return name
    if dtype.kind in "OUSa":
        return "BYTES"
    name = _FROM_NUMPY.get(f"{dtype.kind}{dtype.itemsize}")
    if name is None:
        raise InvalidArgument(f"numpy dtype {dtype} has no Open Inference Protocol datatype")
    return name


def is_numeric(datatype: str) -> bool:
    return datatype not in ("BYTES", "BOOL")
