"""MLflow's scoring protocol: answers equal what the MLflow pyfunc model predicts, and what a real
`mlflow models serve` returns for the same requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import mlflow.pyfunc
import numpy as np
import pytest

from tests.fixtures import serving_models as sm
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration


def _payloads(frame: Any) -> dict[str, Any]:
    split = frame.to_dict(orient="split")
    return {
        "dataframe_split": {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        "dataframe_split_reordered": {
            "dataframe_split": {
                "columns": list(reversed(split["columns"])),
                "data": [list(reversed(row)) for row in split["data"]],
            }
        },
        "dataframe_records": {"dataframe_records": frame.to_dict(orient="records")},
        "instances_records": {"instances": frame.to_dict(orient="records")},
        "inputs_columns": {"inputs": frame.to_dict(orient="list")},
    }


@pytest.mark.parametrize("model", ["lr", "mixed", "xgb", "lgb"])
def test_invocations_match_pyfunc_predict(live: sm.LiveServing, model_dirs: dict[str, Path], model: str) -> None:
    frame = sm.mixed_frame(n=7, seed=4)[0] if model == "mixed" else sm.training_frame(n=7, seed=4)[0]
    expected = np.asarray(mlflow.pyfunc.load_model(str(model_dirs[model])).predict(frame)).tolist()
    for kind, body in _payloads(frame).items():
        r = httpx.post(f"{live.url}/models/{model}/invocations", json=body)
        assert r.status_code == 200, (kind, r.text)
        assert r.json() == {"predictions": expected}, kind


def test_default_invocations_csv_and_ping(live: sm.LiveServing, model_dirs: dict[str, Path]) -> None:
    frame = sm.training_frame(n=5, seed=2)[0]
    expected = mlflow.pyfunc.load_model(str(model_dirs["lr"])).predict(frame).tolist()
    r = httpx.post(f"{live.url}/invocations", content=frame.to_csv(index=False), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == expected
    r = httpx.post(f"{live.url}/invocations", json={"instances": frame.to_numpy().tolist()})
    assert r.json()["predictions"] == expected
    assert httpx.get(f"{live.url}/ping").status_code == 200
    assert httpx.get(f"{live.url}/health").status_code == 200
    assert httpx.get(f"{live.url}/version").text


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}},
        {"dataframe_records": [{"sepal_length": 1.0}]},
        {"unknown_key": []},
        {"instances": [[1.0, 2.0]]},
        {"dataframe_split": {"columns": sm.FEATURES, "data": [["x", 1, 2, 3]]}},
    ],
)
def test_bad_invocations_are_400(live: sm.LiveServing, body: dict[str, Any]) -> None:
    r = httpx.post(f"{live.url}/invocations", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "BAD_REQUEST"
    assert r.json()["error"]


@pytest.mark.slow
def test_same_answers_as_mlflow_models_serve(live: sm.LiveServing, model_dirs: dict[str, Path], tmp_path: Path) -> None:
    port = free_port()
    bindir = str(Path(sys.executable).parent)  # mlflow execs `uvicorn` from PATH
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    mlflow_bin = f"{bindir}/mlflow"
    log = (tmp_path / "mlflow-serve.log").open("wb")
    proc = subprocess.Popen(
        [mlflow_bin, "models", "serve", "-m", str(model_dirs["lr"]), "-p", str(port), "--env-manager", "local"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "mlflow-serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "mlflow-serve.log").read_text()
            time.sleep(0.25)
        frame = sm.training_frame(n=9, seed=8)[0]
        for kind, body in _payloads(frame).items():
            theirs = httpx.post(f"{url}/invocations", json=body, timeout=30)
            ours = httpx.post(f"{live.url}/invocations", json=body)
            assert theirs.status_code == ours.status_code == 200, kind
            assert ours.json() == theirs.json(), kind
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
        log.close()
