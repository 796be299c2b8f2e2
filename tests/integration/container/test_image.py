"""The images as a user runs them: built from the working tree with podman, on the host network.

`cnai server` runs in a container of the control-plane image on a fresh PostgreSQL database; the
stock mlflow client of this test's environment logs a run with a scikit-learn model and registers
it through that server; `cnai serve models:/NAME/1` runs in a container of the serving image and
answers an OIP v2 request with the model's own predictions.

Artifacts go through the control plane's artifact proxy (`mlflow-artifacts`), stored in the
control-plane container: the serving container then needs nothing but the tracking URI, as a
model server beside one control plane does; S3 for artifacts is exercised by the compose test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import mlflow
import pytest

from tests.fixtures import serving_models as sm
from tests.fixtures.servers import free_port, postgres_database
from tests.integration.container.podman import REPO, Podman, wait_for_http

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(3000)]

NON_ROOT_UID = "10001"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("target", ["cnai", "serving"])
def test_images_run_as_non_root(podman: Podman, images: dict[str, str], target: str) -> None:
    image = images[target]
    config = podman.run("image", "inspect", "--format", "{{.Config.User}} {{json .Config.Entrypoint}}", image)
    assert config.stdout.split() == [f"{NON_ROOT_UID}:{NON_ROOT_UID}", '["cnai"]']
    uid = podman.run("run", "--rm", "--network", "host", "--entrypoint", "id", image, "-u").stdout.strip()
    assert uid == NON_ROOT_UID
    # No compiler in a final stage.
    found = podman.run(
        "run", "--rm", "--network", "host", "--entrypoint", "sh", image, "-c", "command -v gcc cc || true"
    )
    assert found.stdout.strip() == ""
    help_text = podman.run("run", "--rm", "--network", "host", image, "--help").stdout
    assert "serve" in help_text
    assert "server" in help_text


def test_mlflow_registers_through_container_and_serve_container_answers(
    podman: Podman, images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    plane_port, serve_port = free_port(), free_port()
    plane_url = f"http://127.0.0.1:{plane_port}"
    name = f"container-lr-{uuid.uuid4().hex[:6]}"
    with postgres_database() as store:
        server_args = ["server", "--host", "127.0.0.1", "--port", str(plane_port), "--store", store]
        with podman.container(images["cnai"], server_args) as plane:
            health = wait_for_http(f"{plane_url}/health", podman, plane)
            assert health.status_code == 200

            monkeypatch.setenv("MLFLOW_TRACKING_URI", plane_url)
            mlflow.set_tracking_uri(plane_url)
            try:
                x, y = sm.training_frame(n=80)
                model = LogisticRegression().fit(x, y)
                mlflow.set_experiment("container-test")
                with mlflow.start_run() as run:
                    mlflow.log_param("C", 1.0)
                    mlflow.log_metric("train_accuracy", float(model.score(x, y)))
                    mlflow.sklearn.log_model(model, name="model", input_example=x.head(2), registered_model_name=name)
            finally:
                mlflow.set_tracking_uri(None)
            client = mlflow.MlflowClient(plane_url)
            assert client.get_run(run.info.run_id).data.params == {"C": "1.0"}
            assert client.get_model_version(name, "1").status == "READY"

            serve_args = ["serve", f"models:/{name}/1", "--host", "127.0.0.1", "--port", str(serve_port)]
            serve_env = {"MLFLOW_TRACKING_URI": plane_url}
            with podman.container(images["serving"], serve_args, serve_env) as serving:
                serve_url = f"http://127.0.0.1:{serve_port}"
                wait_for_http(f"{serve_url}/v2/health/ready", podman, serving, timeout=120)
                rows = x.tail(7)
                body = {
                    "inputs": [
                        {"name": "x", "shape": [7, 4], "datatype": "FP64", "data": rows.to_numpy().ravel().tolist()}
                    ]
                }
                response = httpx.post(f"{serve_url}/v2/models/{name}/infer", json=body, timeout=30)
                assert response.status_code == 200, f"{response.text}\n{podman.logs(serving)}"
                outputs = response.json()["outputs"]
                assert outputs[0]["data"] == model.predict(rows).tolist()
                assert outputs[0]["shape"][0] == 7
                uid = podman.run("exec", serving, "id", "-u").stdout.strip()
                assert uid == "10001"
