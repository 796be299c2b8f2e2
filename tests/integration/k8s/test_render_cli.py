"""`cnai k8s render` as a check outside the suite runs it: the repository's example specs, unedited,
against a live registry (the alias resolves to a version), every target and autoscaler; every
file it writes validates strictly. And `cnai models download`, which the rendered init container
and KServe's storage initializer run, on a real registered model."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from cnai.cli.main import app
from cnai.settings import Settings
from tests.fixtures import serving_models as sm
from tests.fixtures.k8s import validate_manifests
from tests.fixtures.servers import LiveServer, start_live_server
from tests.unit.k8s.cases import COMBOS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))
runner = CliRunner()
# The version each example's models:/NAME@champion resolves to (chat's canary is version 2).
CHAMPION = {"quickstart-wine": "2", "chat": "1"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A control plane whose registry has quickstart-wine and chat (examples/chat.yaml, an LLM), each
    v1 and v2, alias champion as in CHAMPION."""
    home = tmp_path_factory.mktemp("k8s-registry")
    server = start_live_server(Settings(home=home))
    mlflow.set_tracking_uri(server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_dir = sm.save_logistic(home / "model")
        for _ in range(2):
            with mlflow.start_run():
                mlflow.log_artifacts(str(model_dir), "model")
                run_id = mlflow.active_run().info.run_id  # type: ignore[union-attr]
            mlflow.register_model(f"runs:/{run_id}/model", "quickstart-wine")
        gguf = home / "chat" / "model.gguf"  # rendering reads the registry, never the weights
        gguf.parent.mkdir()
        gguf.write_bytes(b"GGUF" + bytes(60))
        for _ in range(2):
            with mlflow.start_run():
                mlflow.log_artifact(str(gguf), "model")
                mlflow.register_model(mlflow.get_artifact_uri("model"), "chat")
    for name, version in CHAMPION.items():
        MlflowClient(server.url).set_registered_model_alias(name, "champion", version)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CNAI_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(("target", "autoscaler"), COMBOS)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_render_for_every_target_and_validate(
    registry: LiveServer, example: Path, target: str, autoscaler: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, output = invoke(
        "k8s", "render", "-f", str(example), "--target", target, "--autoscaler", autoscaler,
        "-o", str(out), "--tracking-uri", registry.url,
    )  # fmt: skip
    assert code == 0, output
    files = sorted(out.glob("*.yaml"))
    assert files, output
    documents = [doc for f in files for doc in yaml.safe_load_all(f.read_text())]
    assert validate_manifests(documents) == len([d for d in documents if d])
    served = [d for d in documents if d and d["kind"] in ("Deployment", "InferenceService", "Service")]
    [spec] = [d["spec"] for d in yaml.safe_load_all(example.read_text()) if d and d["kind"] == "Deployment"]
    name = spec["model"].removeprefix("models:/").partition("@")[0]  # models:/NAME@champion in every example
    annotations = [d["metadata"].get("annotations", {}) for d in served]
    pinned = [a for a in annotations if a.get("cnai.io/resolved-from")]
    # Knative and KServe render a canary as the new revision beside the running one (which they
    # name in cnai.io/stable-model): only the canary's model is resolved then.
    if "canary" not in spec or target == "kubernetes":
        assert pinned, "the alias's resolution is stated in an annotation"
    for a in pinned:
        assert a["cnai.io/resolved-from"] == f"models:/{name}@champion"
        assert a["cnai.io/model-version"] == CHAMPION[name]
        assert a["cnai.io/model"] == f"models:/{name}/{CHAMPION[name]}"
    if "canary" in spec:
        assert spec["canary"]["model"] in {a.get("cnai.io/model") for a in annotations}


def test_an_alias_without_a_tracking_uri_is_one_line(tmp_path: Path) -> None:
    code, output = invoke("k8s", "render", "-f", str(EXAMPLES[0]), "-o", str(tmp_path))
    assert code == 1
    assert output.count("\n") == 1
    assert "--tracking-uri" in output
    assert not list(tmp_path.glob("*.yaml"))


def test_a_bad_spec_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {model: models:/w/1, replicaz: 2}\n"
    )
    code, output = invoke("k8s", "render", "-f", str(spec), "-o", str(tmp_path / "out"))
    assert code == 1
    assert output.count("\n") == 1
    assert "spec.replicaz" in output
    assert not (tmp_path / "out").exists()


def test_an_unknown_alias_is_one_line(registry: LiveServer, tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {model: models:/quickstart-wine@gone}\n"
    )
    code, output = invoke("k8s", "render", "-f", str(spec), "-o", str(tmp_path), "--tracking-uri", registry.url)
    assert code == 1
    assert output.count("\n") == 1
    assert "no alias 'gone'" in output


def test_models_download_fetches_the_pinned_version_into_dest(registry: LiveServer, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "wine"
    code, output = invoke(
        "models", "download", "models:/quickstart-wine@champion", str(dest), "--tracking-uri", registry.url
    )
    assert code == 0, output
    assert "version 2" in output
    assert (dest / "MLmodel").is_file()
    from cnai.serving.runtimes import read_model_dir

    read_model_dir(dest)  # a model `cnai serve NAME=DEST` can load
    code, output = invoke("models", "download", "models:/quickstart-wine/1", str(dest), "--tracking-uri", registry.url)
    assert code == 1
    assert "already holds a model" in output
    code, output = invoke(
        "models", "download", "models:/quickstart-wine/9", str(tmp_path / "x"), "--tracking-uri", registry.url
    )
    assert code == 1
    assert "not found in the registry" in output
