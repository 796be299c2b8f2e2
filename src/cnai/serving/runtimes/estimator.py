"""Models with the scikit-learn estimator API (sklearn, and xgboost/lightgbm's sklearn classes).

The flavor modules only load the object; this class serves it. At load time it decides once
whether the model can take a bare numpy array: a model fitted on a DataFrame remembers its column
names and warns (or refuses) on arrays, so we try a copy with the names stripped on a probe row and
keep it when it predicts cleanly; otherwise the model gets DataFrames (built only for it).
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any

import numpy as np

from cnai.serving.runtimes.base import ModelDir, ModelInput, Runtime

log = logging.getLogger("cnai.serving")


class EstimatorRuntime(Runtime):
    def __init__(self, model_dir: ModelDir, model: Any, flavor: str) -> None:
        super().__init__(model_dir)
        self.flavor = flavor
        self.model = model
        self.outputs = ("predict", "predict_proba") if hasattr(model, "predict_proba") else ("predict",)
        self.needs_dataframe = True
        # XGBoost and LightGBM read NaN as missing; scikit-learn says per estimator.
        self.accepts_non_finite = flavor != "sklearn" or _allows_nan(model)
        if model_dir.signature.columns and not model_dir.signature.all_numeric:
            return  # strings and the like: only a DataFrame can carry them
        probe = _probe_array(model_dir)
        if probe is None:
            self.needs_dataframe = False  # no names known: arrays are all we can build anyway
            return
        stripped = _strip_feature_names(copy.deepcopy(model))
        if _predicts_cleanly(stripped, probe):
            self.model = stripped
            self.needs_dataframe = False
        else:
            log.info("model needs DataFrame input (feature names or mixed columns); pandas on its path")

    def predict(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = {}
        for name in outputs:
            result[name] = np.asarray(getattr(self.model, name)(data))
        return result


def _allows_nan(model: Any) -> bool:
    """Whether a scikit-learn model takes NaN, from its ``allow_nan`` tag; True when unsure.

    A Pipeline's own tag does not follow its steps, so the first step decides (it sees the raw
    input, and a step that refuses NaN raises before any later one could impute). Other
    meta-estimators (ColumnTransformer, FeatureUnion...) route columns to several steps: their
    tag says nothing, and the input is let through.
    """
    steps = getattr(model, "steps", None)
    if steps:
        first = next((s for _, s in steps if s is not None and s != "passthrough"), None)
        return True if first is None else _allows_nan(first)
    if any(hasattr(model, attr) for attr in ("transformers", "transformer_list", "estimators", "estimator")):
        return True
    try:
        from sklearn.utils import get_tags  # scikit-learn >= 1.6

        return bool(get_tags(model).input_tags.allow_nan)
    except ImportError:
        pass
    except Exception:
        return True
    try:
        return bool(model._get_tags().get("allow_nan", True))
    except Exception:
        return True


def _probe_array(model_dir: ModelDir) -> np.ndarray | None:
    n = len(model_dir.signature.columns)
    if model_dir.signature.tensor is not None or n == 0:
        return None
    try:
        example = model_dir.input_example()
    except Exception:
        example = None
    if example is not None and len(example):
        return np.asarray(example[model_dir.signature.column_names].to_numpy(dtype=np.float64))[:2]
    return np.zeros((1, n))


def _predicts_cleanly(model: Any, probe: np.ndarray) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.predict(probe)
    except Exception:
        return False
    return True


def _strip_feature_names(model: Any) -> Any:
    """Forget the DataFrame column names a model was fitted with (sklearn, xgboost, lightgbm)."""
    if "feature_names_in_" in vars(model):
        del model.feature_names_in_
    steps = getattr(model, "steps", None)
    if steps:
        _strip_feature_names(steps[0][1])
    get_booster = getattr(model, "get_booster", None)
    if callable(get_booster):  # xgboost keeps them on the booster
        try:
            booster = get_booster()
            booster.feature_names = None
            booster.feature_types = None
        except Exception:
            pass
    return model
