"""The real tritonclient.http against cnai serve: binary tensors (its default) and JSON tensors."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.fixtures import serving_models as sm

pytestmark = pytest.mark.integration

BINARY = [True, False]


@pytest.fixture
def client(live: sm.LiveServing) -> httpclient.InferenceServerClient:
    c = httpclient.InferenceServerClient(live.url.removeprefix("http://"))
    yield c
    c.close()


def _input(name: str, data: np.ndarray, datatype: str, binary: bool) -> httpclient.InferInput:
    inp = httpclient.InferInput(name, list(data.shape), datatype)
    inp.set_data_from_numpy(data, binary_data=binary)
    return inp


def test_health_and_server_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "cnai"
    assert "binary_tensor_data" in meta["extensions"]
    assert client.is_model_ready("lr")
    assert client.is_model_ready("lr", "1")
    assert not client.is_model_ready("lr", "7")


def test_model_metadata_from_signature(client: httpclient.InferenceServerClient) -> None:
    meta = client.get_model_metadata("mixed", "1")
    assert meta["versions"] == ["1"]
    assert {(i["name"], i["datatype"]) for i in meta["inputs"]} == {("x", "FP32"), ("n", "INT64"), ("color", "BYTES")}
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    lr = client.get_model_metadata("lr")
    assert [i["name"] for i in lr["inputs"]] == sm.FEATURES
    assert lr["inputs"][0]["datatype"] == "FP64"


@pytest.mark.parametrize("binary", BINARY)
def test_fp64_matrix_batched_with_requested_outputs(
    client: httpclient.InferenceServerClient, model_dirs: dict[str, Path], binary: bool
) -> None:
    x, _ = sm.training_frame(n=17, seed=5)
    expected = mlflow.pyfunc.load_model(str(model_dirs["lr"])).predict(x)
    proba = mlflow.sklearn.load_model(str(model_dirs["lr"])).predict_proba(x)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary),
        httpclient.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer("lr", [_input("features", x.to_numpy(), "FP64", binary)], outputs=outputs, request_id="req-1")
    np.testing.assert_array_equal(result.as_numpy("predict"), expected)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba)
    assert result.get_response()["id"] == "req-1"


@pytest.mark.parametrize("binary", BINARY)
def test_fp32_int64_bytes_columns(
    client: httpclient.InferenceServerClient, model_dirs: dict[str, Path], binary: bool
) -> None:
    frame, _ = sm.mixed_frame(n=9, seed=3)
    expected = mlflow.pyfunc.load_model(str(model_dirs["mixed"])).predict(frame)
    inputs = [
        _input("x", frame["x"].to_numpy(), "FP32", binary),
        _input("n", frame["n"].to_numpy(), "INT64", binary),
        _input("color", frame["color"].to_numpy().astype(np.object_), "BYTES", binary),
    ]
    result = client.infer("mixed", inputs, outputs=[httpclient.InferRequestedOutput("predict", binary_data=binary)])
    np.testing.assert_array_equal(result.as_numpy("predict"), expected)


@pytest.mark.parametrize("binary", BINARY)
@pytest.mark.parametrize("model", ["xgb", "lgb"])
def test_boosted_models_served_unchanged(
    client: httpclient.InferenceServerClient, model_dirs: dict[str, Path], model: str, binary: bool
) -> None:
    x, _ = sm.training_frame(n=11, seed=9)
    expected = mlflow.pyfunc.load_model(str(model_dirs[model])).predict(x)
    cols = [_input(name, x[name].to_numpy(), "FP64", binary) for name in sm.FEATURES]
    # No requested outputs: tritonclient asks for all outputs in binary; the default one comes back.
    result = client.infer(model, cols)
    np.testing.assert_array_equal(result.as_numpy("predict").reshape(-1), np.asarray(expected).reshape(-1))


def test_concurrent_requests_batched_and_correct(
    client: httpclient.InferenceServerClient, live: sm.LiveServing, model_dirs: dict[str, Path]
) -> None:
    x, _ = sm.training_frame(n=64, seed=11)
    expected = mlflow.sklearn.load_model(str(model_dirs["lr"])).predict(x)
    pool = httpclient.InferenceServerClient(live.url.removeprefix("http://"), concurrency=16)
    try:
        pending = [
            pool.async_infer("lr", [_input("f", x.to_numpy()[i : i + 1], "FP64", True)], request_id=str(i))
            for i in range(64)
        ]
        got = [p.get_result().as_numpy("predict")[0] for p in pending]
    finally:
        pool.close()
    np.testing.assert_array_equal(np.array(got), expected)


def test_errors_surface_in_client(client: httpclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="no output"):
        client.infer(
            "lr",
            [_input("f", np.zeros((1, 4)), "FP64", True)],
            outputs=[httpclient.InferRequestedOutput("nope")],
        )
    with pytest.raises(InferenceServerException, match="not served"):
        client.get_model_metadata("missing")
