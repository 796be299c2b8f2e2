"""OIP tensors → one model input, checked against the model's MLflow signature.

Two request layouts are accepted: one 2-D tensor ``[batch, features]`` (columns in signature
order), or one tensor per signature column (``[batch]`` or ``[batch, 1]``), matched by name.
Numeric columns become one 2-D numpy array; a DataFrame is built only when the model needs one
(fitted on named columns it cannot forget, or string columns).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnai.errors import InvalidArgument
from cnai.serving.protocol.types import Tensor
from cnai.serving.runtimes.base import ModelInput, Runtime
from cnai.serving.signature import Field

_FLOATS = ("FP16", "FP32", "FP64")
_INTS = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
# Which request datatypes may feed a signature column of each type (MLflow's schema enforcement
# also allows widening ints to floats, never the other way round).
_ACCEPTS = {
    "FP64": (*_FLOATS, *_INTS),
    "FP32": (*_FLOATS, *_INTS),
    "INT64": _INTS,
    "INT32": _INTS,
    "BOOL": ("BOOL",),
    "BYTES": ("BYTES",),
}


def from_tensors(tensors: list[Tensor], runtime: Runtime) -> tuple[ModelInput, int]:
    """The model input and its number of rows; InvalidArgument on a mismatch with the signature."""
    sig = runtime.signature
    if len(tensors) == 1 and tensors[0].data.ndim != 1 and not (sig.columns and len(sig.columns) == 1):
        return _from_matrix(tensors[0], runtime)
    if sig.tensor is not None:
        raise InvalidArgument(f"Model takes one tensor {list(sig.tensor.shape)}; got {len(tensors)} inputs")
    columns = _columns(tensors, sig.columns)
    rows = len(columns[0][1])
    for name, col in columns:
        if len(col) != rows:
            raise InvalidArgument(f"Input {name!r} has {len(col)} rows, input {columns[0][0]!r} has {rows}")
    if runtime.needs_dataframe or any(col.dtype == object for _, col in columns):
        import pandas as pd

        return pd.DataFrame({name: _text(col) for name, col in columns}), rows
    if len(columns) == 1:
        return columns[0][1].reshape(-1, 1), rows
    return np.column_stack([col for _, col in columns]), rows


def _from_matrix(t: Tensor, runtime: Runtime) -> tuple[ModelInput, int]:
    sig = runtime.signature
    if sig.tensor is not None:
        want = sig.tensor.shape
        if len(want) != t.data.ndim or any(w not in (-1, g) for w, g in zip(want, t.shape, strict=True)):
            raise InvalidArgument(f"Input {t.name!r} has shape {list(t.shape)}; the model takes {list(want)}")
        return t.data, t.shape[0]
    if t.data.ndim != 2:
        raise InvalidArgument(f"Input {t.name!r} has shape {list(t.shape)}; expected [batch, features]")
    if sig.columns:
        if t.shape[1] != len(sig.columns):
            raise InvalidArgument(
                f"Input {t.name!r} has {t.shape[1]} features; the model takes {len(sig.columns)}: {sig.column_names}"
            )
        for field in sig.columns:
            _check_datatype(field, t.datatype, t.name)
        if runtime.needs_dataframe:
            import pandas as pd

            return pd.DataFrame(_text(t.data), columns=sig.column_names), t.shape[0]
    return t.data, t.shape[0]


def _columns(tensors: list[Tensor], fields: tuple[Field, ...]) -> list[tuple[str, np.ndarray]]:
    by_name: dict[str, Tensor] = {}
    for t in tensors:
        if t.name in by_name:
            raise InvalidArgument(f"Input {t.name!r} appears twice")
        if t.data.ndim == 2 and t.shape[1] == 1:
            t = Tensor(t.name, t.datatype, (t.shape[0],), t.data.reshape(-1))
        if t.data.ndim != 1:
            raise InvalidArgument(f"Input {t.name!r} has shape {list(t.shape)}; a column is [batch] or [batch, 1]")
        by_name[t.name] = t
    if not fields:
        return [(t.name, t.data) for t in by_name.values()]
    names = [f.name for f in fields]
    missing = [n for n in names if n not in by_name]
    extra = [n for n in by_name if n not in set(names)]
    if missing or extra:
        parts = [f"missing inputs {missing}" if missing else "", f"unexpected inputs {extra}" if extra else ""]
        raise InvalidArgument(f"Inputs do not match the model signature {names}: {'; '.join(p for p in parts if p)}")
    out = []
    for field in fields:
        t = by_name[field.name]
        _check_datatype(field, t.datatype, t.name)
        out.append((field.name, t.data))
    return out


def _check_datatype(field: Field, datatype: str, name: str) -> None:
    if datatype not in _ACCEPTS.get(field.datatype, (datatype,)):
        raise InvalidArgument(f"Input {name!r} has datatype {datatype}; column {field.name!r} takes {field.datatype}")


def _text(col: np.ndarray) -> Any:
    """BYTES elements arrive as ``bytes`` (binary) or ``str`` (JSON); models trained on text want str."""
    if col.dtype != object:
        return col
    return np.array([v.decode() if isinstance(v, bytes) else v for v in col.reshape(-1)], dtype=object).reshape(
        col.shape
    )


_SMALL = 64  # elements checked in Python rather than numpy (see _has_non_finite)


def check_model_input(data: ModelInput, rows: int, runtime: Runtime, model: str) -> None:
    """What every model input must satisfy before predict, whichever protocol built it.

    No rows is the caller's mistake (most models raise on it, which would be a 500). NaN and
    infinities are refused only for a runtime that declares it cannot take them: XGBoost and
    LightGBM read NaN as a missing value, and a pyfunc model may handle it itself.
    """
    if rows == 0:
        raise InvalidArgument("The request has no rows: send at least one")
    if not runtime.accepts_non_finite and _has_non_finite(data):
        raise InvalidArgument(
            f"The input has NaN or infinite values, which model {model!r} ({runtime.flavor}) cannot take"
        )


def _has_non_finite(data: ModelInput) -> bool:
    if isinstance(data, np.ndarray):
        kind = data.dtype.kind
        if kind == "f" and data.size <= _SMALL:
            # A request's few values: math.isfinite over a list takes a sixth of the time of
            # np.isfinite(...).all(), two numpy calls with their fixed costs.
            return not all(map(math.isfinite, data.ravel().tolist()))
        return kind in "fc" and not bool(np.isfinite(data).all())
    dtypes = getattr(data, "dtypes", None)
    if dtypes is None:
        return False
    return any(
        dtype.kind == "f" and not bool(np.isfinite(data[col].to_numpy(dtype=np.float64, na_value=np.nan)).all())
        for col, dtype in dtypes.items()
    )
