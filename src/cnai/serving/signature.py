"""An MLflow model's signature, read from its ``MLmodel`` file without importing mlflow.

MLflow stores ``signature.inputs``/``outputs`` as JSON strings: either column specs
(``{"name", "type", "required"}``, a DataFrame's columns) or tensor specs
(``{"type": "tensor", "tensor-spec": {"dtype", "shape"}}``). Spec: mlflow/types/schema.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from cnai.errors import InvalidArgument
from cnai.serving.protocol.datatypes import from_numpy_dtype

# MLflow column types → OIP datatypes.
_COLUMN_TYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    datatype: str  # OIP datatype
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """``columns`` when the model takes named columns; ``tensor`` when it takes one tensor."""

    columns: tuple[Field, ...] = ()
    tensor: Field | None = None
    output: Field | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def all_numeric(self) -> bool:
        return all(c.datatype not in ("BYTES",) for c in self.columns)


def parse_signature(mlmodel: dict[str, Any]) -> Signature:
    sig = mlmodel.get("signature") or {}
    inputs = _load(sig.get("inputs"))
    outputs = _load(sig.get("outputs"))
    columns: list[Field] = []
    tensor: Field | None = None
    for i, spec in enumerate(inputs):
        if spec.get("type") == "tensor":
            tensor = _tensor_field(spec, spec.get("name") or "input")
            break
        columns.append(Field(str(spec.get("name", f"c{i}")), _COLUMN_TYPES.get(spec.get("type", ""), "BYTES"), (-1,)))
    output = None
    if outputs:
        spec = outputs[0]
        output = (
            _tensor_field(spec, "predict")
            if spec.get("type") == "tensor"
            else Field("predict", _COLUMN_TYPES.get(spec.get("type", ""), "BYTES"), (-1,))
        )
    return Signature(tuple(columns), tensor, output)


def _load(raw: Any) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"MLmodel signature is not valid JSON: {exc}") from None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _tensor_field(spec: dict[str, Any], name: str) -> Field:
    ts = spec.get("tensor-spec") or {}
    datatype = from_numpy_dtype(np.dtype(ts.get("dtype", "float64")))
    return Field(name, datatype, tuple(int(d) for d in ts.get("shape", [-1])))
