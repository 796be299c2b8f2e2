"""Live model quality from late labels: accuracy and F1 (classification), RMSE and MAE (regression).

Pure functions over (prediction, label) pairs. Classes are compared by a canonical text form so
that a model predicting ``1`` (int64) and a client posting ``1``, ``1.0`` or ``"1"`` agree; a
prediction that is a list (class probabilities) counts as its arg-max. F1 is binary when the
classes are {0, 1} or {false, true} or a positive label is given (as scikit-learn's default
``average="binary", pos_label=1``), otherwise the macro average over the classes seen in either
column (``average="macro"``); a class without predictions or labels scores 0, as scikit-learn's
``zero_division`` default does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_BINARY_SETS = ({"0", "1"}, {"false", "true"})


def class_key(value: Any) -> str | None:
    """The canonical text of a class label; None for what cannot be one (null, NaN, nested lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        return str(int(np.argmax(value)))  # class probabilities
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, list) and len(value) == 1:
        return number(value[0])
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def classification(predictions: Sequence[Any], labels: Sequence[Any], positive_label: Any = None) -> dict[str, Any]:
    pairs = [(class_key(p), class_key(y)) for p, y in zip(predictions, labels, strict=True)]
    kept = [(p, y) for p, y in pairs if p is not None and y is not None]
    if not kept:
        return {"labelled": 0, "accuracy": None, "f1": None}
    pred = np.array([p for p, _ in kept], dtype=object)
    true = np.array([y for _, y in kept], dtype=object)
    classes = set(pred.tolist()) | set(true.tolist())
    positive = class_key(positive_label) if positive_label is not None else _default_positive(classes)
    if positive is not None:
        f1 = _f1(pred == positive, true == positive)
        average = "binary"
    else:
        f1 = float(np.mean([_f1(pred == c, true == c) for c in sorted(classes)]))
        average = "macro"
    return {"labelled": len(kept), "accuracy": float(np.mean(pred == true)), "f1": f1, "f1_average": average}


def regression(predictions: Sequence[Any], labels: Sequence[Any]) -> dict[str, Any]:
    pairs = [(number(p), number(y)) for p, y in zip(predictions, labels, strict=True)]
    kept = np.array([(p, y) for p, y in pairs if p is not None and y is not None], dtype=np.float64)
    if kept.size == 0:
        return {"labelled": 0, "rmse": None, "mae": None}
    error = kept[:, 0] - kept[:, 1]
    return {
        "labelled": int(kept.shape[0]),
        "rmse": float(np.sqrt(np.mean(error * error))),
        "mae": float(np.mean(np.abs(error))),
    }


def metrics(task: str, predictions: Sequence[Any], labels: Sequence[Any], positive_label: Any = None) -> dict[str, Any]:
    if task == "classification":
        return classification(predictions, labels, positive_label)
    return regression(predictions, labels)


def _default_positive(classes: set[str]) -> str | None:
    for binary in _BINARY_SETS:
        if classes <= binary:
            return "1" if "1" in binary else "true"
    return None


def _f1(predicted: np.ndarray, actual: np.ndarray) -> float:
    tp = int(np.sum(predicted & actual))
    fp = int(np.sum(predicted & ~actual))
    fn = int(np.sum(~predicted & actual))
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0
