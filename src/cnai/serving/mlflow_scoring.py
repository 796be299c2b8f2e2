"""MLflow's scoring protocol (``POST /invocations``), so ``mlflow models serve`` clients carry over.

Accepted JSON bodies, as mlflow/pyfunc/scoring_server: ``{"dataframe_split": {"columns", "data"}}``,
``{"dataframe_records": [{col: value}, ...]}``, ``{"instances": ...}`` and ``{"inputs": ...}``
(rows as lists, records as dicts, or a dict of columns); and ``text/csv`` with a header row.
The answer is ``{"predictions": [...]}``. Numeric inputs go straight into numpy in signature order;
pandas is used only for string columns, CSV, or models that need a DataFrame.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson

from cnai.errors import InvalidArgument
from cnai.serving.runtimes.base import ModelInput, Runtime

_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse_invocation(body: bytes, content_type: str, runtime: Runtime) -> tuple[ModelInput, int]:
    """The model input and its row count for one ``/invocations`` body."""
    if content_type.startswith("text/csv"):
        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(body))
        except Exception as exc:
            raise InvalidArgument(f"Invalid CSV body: {exc}") from None
        return _from_frame(frame, runtime)
    if content_type and not content_type.startswith("application/json"):
        raise InvalidArgument(f"Unsupported content type {content_type!r}: use application/json or text/csv")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"The body must be a JSON object with one of the keys {list(_KEYS)}")
    present = [k for k in _KEYS if k in doc]
    if len(present) != 1:
        raise InvalidArgument(f"The body must have exactly one of the keys {list(_KEYS)}; got {sorted(doc)}")
    key = present[0]
    payload = doc[key]
    if key == "dataframe_split":
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise InvalidArgument("dataframe_split needs {'columns': [...], 'data': [[...], ...]}")
        return _from_rows(payload["data"], payload.get("columns"), runtime)
    if key == "dataframe_records":
        return _from_records(payload, runtime)
    # instances / inputs: rows, records, or a dict of columns (TF-serving style).
    if isinstance(payload, dict):
        return _from_column_dict(payload, runtime)
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        return _from_records(payload, runtime)
    if isinstance(payload, list):
        return _from_rows(payload, None, runtime)
    raise InvalidArgument(f"'{key}' must be a list of rows or a dict of columns")


def predictions_body(predictions: np.ndarray) -> bytes:
    arr = np.asarray(predictions)
    if arr.dtype.kind in "OUS":
        return orjson.dumps({"predictions": arr.tolist()})
    return orjson.dumps({"predictions": arr}, option=orjson.OPT_SERIALIZE_NUMPY)


def _names(runtime: Runtime) -> list[str]:
    return runtime.signature.column_names


def _numeric_ok(runtime: Runtime) -> bool:
    return not runtime.needs_dataframe and runtime.signature.all_numeric


def _from_rows(rows: list[Any], columns: Any, runtime: Runtime) -> tuple[ModelInput, int]:
    names = _names(runtime)
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise InvalidArgument("'columns' must be a list of strings")
    if _numeric_ok(runtime):
        try:
            arr = np.asarray(rows, dtype=np.float64)
        except (ValueError, TypeError):
            arr = None
        if arr is not None:
            if arr.ndim == 1 and names and len(names) == 1:
                arr = arr.reshape(-1, 1)
            if arr.ndim != 2:
                raise InvalidArgument(f"Expected rows of features; got an array of shape {list(arr.shape)}")
            if columns is not None and names:
                _check_columns(columns, names)
                if columns != names:
                    arr = arr[:, [columns.index(n) for n in names]]
            elif names and arr.shape[1] != len(names):
                raise InvalidArgument(f"Rows have {arr.shape[1]} values; the model takes {len(names)}: {names}")
            return arr, arr.shape[0]
    import pandas as pd

    try:
        frame = pd.DataFrame(
            rows, columns=columns or (names if names and rows and len(rows[0]) == len(names) else None)
        )
    except Exception as exc:
        raise InvalidArgument(f"Rows do not form a table: {exc}") from None
    return _from_frame(frame, runtime)


def _from_records(records: Any, runtime: Runtime) -> tuple[ModelInput, int]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidArgument("Records must be a list of objects")
    names = _names(runtime)
    if _numeric_ok(runtime) and names:
        try:
            arr = np.array([[r[n] for n in names] for r in records], dtype=np.float64)
            if not all(len(r) == len(names) for r in records):
                raise KeyError
            return arr.reshape(len(records), len(names)), len(records)
        except (KeyError, ValueError, TypeError):
            pass  # let the DataFrame path name what is wrong
    import pandas as pd

    return _from_frame(pd.DataFrame.from_records(records), runtime)


def _from_column_dict(columns: dict[str, Any], runtime: Runtime) -> tuple[ModelInput, int]:
    import pandas as pd

    try:
        frame = pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in columns.items()})
    except Exception as exc:
        raise InvalidArgument(f"Columns do not form a table: {exc}") from None
    return _from_frame(frame, runtime)


def _from_frame(frame: Any, runtime: Runtime) -> tuple[ModelInput, int]:
    names = _names(runtime)
    if names:
        _check_columns([str(c) for c in frame.columns], names)
        frame = frame[names]
    if runtime.needs_dataframe or not runtime.signature.all_numeric:
        return frame, len(frame)
    try:
        return frame.to_numpy(dtype=np.float64), len(frame)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"Input values are not numbers: {exc}") from None


def _check_columns(got: list[str], want: list[str]) -> None:
    missing = [n for n in want if n not in got]
    extra = [n for n in got if n not in want]
    if missing or extra:
        raise InvalidArgument(f"Columns do not match the model signature {want}: missing {missing}, unexpected {extra}")
