"""Runtimes per flavor: native loading without DataFrames where possible, --optimize onnx with its
output check and fallback, and the onnx flavor itself."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest

from cnai.serving.runtimes import load_runtime, read_model_dir
from tests.fixtures import serving_models as sm

pytestmark = pytest.mark.integration


def test_sklearn_fitted_on_dataframe_served_from_arrays(model_dirs: dict[str, Path]) -> None:
    rt = load_runtime(read_model_dir(model_dirs["lr"]))
    assert rt.flavor == "sklearn"
    assert not rt.needs_dataframe  # feature names stripped once at load, no pandas per request
    x, _ = sm.training_frame(n=6, seed=3)
    expected = mlflow.pyfunc.load_model(str(model_dirs["lr"])).predict(x)
    np.testing.assert_array_equal(rt.predict(x.to_numpy(), ("predict",))["predict"], expected)


def test_string_columns_keep_dataframes(model_dirs: dict[str, Path]) -> None:
    rt = load_runtime(read_model_dir(model_dirs["mixed"]))
    assert rt.needs_dataframe


def test_optimize_onnx_converts_when_outputs_match(model_dirs: dict[str, Path]) -> None:
    rt = load_runtime(read_model_dir(model_dirs["lr"]), "onnx")
    assert rt.flavor == "onnx"
    x, _ = sm.training_frame(n=20, seed=6)
    native = load_runtime(read_model_dir(model_dirs["lr"]))
    want = native.predict(x.to_numpy(), ("predict", "predict_proba"))
    got = rt.predict(x.to_numpy(), ("predict", "predict_proba"))
    np.testing.assert_array_equal(got["predict"], want["predict"])
    np.testing.assert_allclose(got["predict_proba"], want["predict_proba"], atol=1e-6)


def test_optimize_onnx_falls_back_with_a_log_line(
    model_dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnai.serving")
    rt = load_runtime(read_model_dir(model_dirs["mixed"]), "onnx")
    assert rt.flavor == "sklearn"
    assert "keeping scikit-learn" in caplog.text


def test_onnx_flavor(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    import mlflow.onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    x, y = sm.training_frame(n=80)
    model = LogisticRegression().fit(x.to_numpy(), y)
    onx = convert_sklearn(
        model, initial_types=[("X", FloatTensorType([None, 4]))], options={id(model): {"zipmap": False}}
    )
    mlflow.onnx.save_model(onx, str(tmp_path / "onnx"), pip_requirements=["onnxruntime"])
    rt = load_runtime(read_model_dir(tmp_path / "onnx"))
    assert rt.flavor == "onnx"
    assert rt.outputs == ("predict", "predict_proba")
    got = rt.predict(x.to_numpy()[:10], ("predict",))["predict"]
    np.testing.assert_array_equal(got, model.predict(x.to_numpy()[:10].astype(np.float32)))
