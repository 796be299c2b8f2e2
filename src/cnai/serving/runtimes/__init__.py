"""Runtimes per MLflow flavor; ``load_runtime`` picks the most native one a model directory has."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from cnai.errors import InvalidArgument
from cnai.serving.runtimes.base import ModelDir, ModelInput, Runtime
from cnai.serving.signature import parse_signature

__all__ = ["ModelDir", "ModelInput", "Runtime", "load_runtime", "read_model_dir"]

log = logging.getLogger("cnai.serving")

# Most native first; python_function is the fallback every MLflow model has.
_FLAVORS = ("onnx", "sklearn", "xgboost", "lightgbm", "python_function")


def read_model_dir(path: str | Path) -> ModelDir:
    root = Path(path)
    mlmodel = root / "MLmodel"
    if not mlmodel.is_file():
        raise InvalidArgument(f"{root} is not an MLflow model directory (no MLmodel file)")
    doc = yaml.safe_load(mlmodel.read_text()) or {}
    return ModelDir(root, doc, parse_signature(doc))


def load_runtime(model_dir: ModelDir, optimize: str | None = None) -> Runtime:
    """Load the model with the first flavor cnai serves natively; blocking (call off the loop)."""
    flavors = model_dir.flavors
    for flavor in _FLAVORS:
        if flavor not in flavors:
            continue
        if flavor == "onnx":
            from cnai.serving.runtimes import onnx

            return onnx.load(model_dir)
        if flavor == "sklearn":
            from cnai.serving.runtimes import sklearn

            runtime = sklearn.load(model_dir)
            if optimize == "onnx":
                from cnai.serving.runtimes.onnx import convert_sklearn

                return convert_sklearn(runtime) or runtime
            return runtime
        if flavor == "xgboost":
            from cnai.serving.runtimes import xgboost

            return xgboost.load(model_dir)
        if flavor == "lightgbm":
            from cnai.serving.runtimes import lightgbm

            return lightgbm.load(model_dir)
        from cnai.serving.runtimes import pyfunc

        return pyfunc.load(model_dir)
    raise InvalidArgument(f"{model_dir.path}: no flavor cnai can serve among {sorted(flavors)}")
