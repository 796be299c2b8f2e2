"""Valid state for the fuzzed requests to aim at: an experiment, a run with a metric, a logged
model, a registered model with a version and an alias, an artifact, a Deployment with a canary,
a Monitor and a feedback label. ``ensure`` puts back whatever an accepted request deleted, so
later cases still find targets (restores and re-creates only; it never rolls anything back)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from starlette.testclient import TestClient

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MODEL = "fuzz-model"
ALIAS = "champion"
DEPLOYMENT = "fuzz-dep"
MONITOR = "fuzz-mon"
REQUEST_ID = "fuzz-req-1"
ARTIFACT = "seed/dir/file.txt"


class Refs:
    """Ids of the seeded objects; read at draw time, because re-seeding can change them."""

    experiment_id = "0"
    run_id = "0" * 32
    logged_model_id = "m-0"


def ref(name: str) -> st.SearchStrategy[str]:
    return st.just(name).map(lambda attr: str(getattr(Refs, attr)))


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code < 300, (
        f"seeding failed: {response.request.method} {response.request.url} -> "
        f"{response.status_code} {response.text[:500]}"
    )
    return response.json() if response.content else {}


def deployment_doc(name: str = DEPLOYMENT) -> dict[str, Any]:
    return {
        "apiVersion": "cnai.io/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"model": f"models:/{MODEL}@{ALIAS}", "canary": {"model": f"models:/{MODEL}/1", "percent": 20}},
    }


def monitor_doc(name: str = MONITOR) -> dict[str, Any]:
    return {
        "apiVersion": "cnai.io/v1",
        "kind": "Monitor",
        "metadata": {"name": name},
        "spec": {
            "target": {"model": {"name": MODEL}},
            "reference": {"modelVersion": f"models:/{MODEL}/1"},
            "window": {"count": 100},
            "actions": [{"alert": {}}],
        },
    }


def ensure(client: TestClient) -> None:
    """Create or restore every seeded object (idempotent)."""
    found = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": "fuzz-exp"})
    if found.status_code == 404:
        Refs.experiment_id = _ok(client.post(f"{API}/experiments/create", json={"name": "fuzz-exp"}))["experiment_id"]
    else:
        experiment = _ok(found)["experiment"]
        Refs.experiment_id = experiment["experiment_id"]
        if experiment["lifecycle_stage"] != "active":
            _ok(client.post(f"{API}/experiments/restore", json={"experiment_id": Refs.experiment_id}))

    run = client.get(f"{API}/runs/get", params={"run_id": Refs.run_id})
    if run.status_code == 404:
        created = _ok(client.post(f"{API}/runs/create", json={"experiment_id": Refs.experiment_id, "run_name": "fuzz"}))
        Refs.run_id = created["run"]["info"]["run_id"]
        _ok(
            client.post(
                f"{API}/runs/log-metric", json={"run_id": Refs.run_id, "key": "acc", "value": 0.5, "timestamp": 1}
            )
        )
    elif _ok(run)["run"]["info"]["lifecycle_stage"] != "active":
        _ok(client.post(f"{API}/runs/restore", json={"run_id": Refs.run_id}))

    if client.get(f"{API}/logged-models/{Refs.logged_model_id}").status_code == 404:
        created = _ok(
            client.post(f"{API}/logged-models", json={"experiment_id": Refs.experiment_id, "name": "fuzz-lm"})
        )
        Refs.logged_model_id = created["model"]["info"]["model_id"]

    if client.get(f"{API}/registered-models/get", params={"name": MODEL}).status_code == 404:
        _ok(client.post(f"{API}/registered-models/create", json={"name": MODEL}))
    if client.get(f"{API}/model-versions/get", params={"name": MODEL, "version": "1"}).status_code == 404:
        _ok(
            client.post(
                f"{API}/model-versions/create",
                json={"name": MODEL, "source": f"runs:/{Refs.run_id}/model", "run_id": Refs.run_id},
            )
        )
    if client.get(f"{API}/registered-models/alias", params={"name": MODEL, "alias": ALIAS}).status_code == 404:
        versions = _ok(client.get(f"{API}/model-versions/search", params={"filter": f"name = '{MODEL}'"}))
        if versions.get("model_versions"):
            latest = max(int(v["version"]) for v in versions["model_versions"])
            _ok(
                client.post(
                    f"{API}/registered-models/alias", json={"name": MODEL, "alias": ALIAS, "version": str(latest)}
                )
            )

    if client.get(f"{ARTIFACTS}/{ARTIFACT}").status_code == 404:
        _ok(client.put(f"{ARTIFACTS}/{ARTIFACT}", content=b"seed"))

    deployment = client.get(f"/api/v1/resources/deployments/{DEPLOYMENT}")
    if deployment.status_code == 404 or not _ok(deployment)["spec"].get("canary"):
        _ok(client.put(f"/api/v1/resources/deployments/{DEPLOYMENT}", json=deployment_doc()))
    if client.get(f"/api/v1/resources/monitors/{MONITOR}").status_code == 404:
        _ok(client.put(f"/api/v1/resources/monitors/{MONITOR}", json=monitor_doc()))
    if client.get(f"/api/v1/feedback/{REQUEST_ID}").status_code == 404:
        _ok(client.post("/api/v1/feedback", json={"request_id": REQUEST_ID, "label": 1}))
