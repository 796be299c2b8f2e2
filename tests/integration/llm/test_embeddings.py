"""``cnai serve mini=DIR`` with all-MiniLM-L6-v2: /v1/embeddings through the unchanged SDK, float
and base64, one string or many, checked against sentence-transformers run directly."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.llm.conftest import TOKEN, Served, auth, minilm_dir, start_serve
from tests.integration.llm.test_openai_sdk import metric

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]  # torch imports slowly

SENTENCES = ["A cat sits on the mat.", "Stock markets fell sharply today.", "A kitten rests on a rug."]


def embeddings_python() -> str:
    python = os.environ.get("CNAI_TEST_EMBEDDINGS_PYTHON", "")
    if not python or not Path(python).exists():
        pytest.skip("CNAI_TEST_EMBEDDINGS_PYTHON names no interpreter with sentence-transformers (make test sets it)")
    return python


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    python = embeddings_python()
    served = start_serve([f"mini={minilm_dir()}"], tmp_path_factory.mktemp("emb-home"), python=python)
    yield served, python
    served.stop()


def direct(python: str, texts: list[str]) -> np.ndarray:
    """The same sentences through sentence-transformers itself, in its interpreter."""
    code = (
        "import json,sys\nfrom sentence_transformers import SentenceTransformer\n"
        f"m=SentenceTransformer({str(minilm_dir())!r},device='cpu')\n"
        "print(json.dumps(m.encode(json.loads(sys.argv[1])).tolist()))"
    )
    out = subprocess.run([python, "-c", code, json.dumps(texts)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return np.array(json.loads(out.stdout.strip().splitlines()[-1]), dtype=np.float32)


def test_sdk_embeddings_match_sentence_transformers(mini: tuple[Served, str]) -> None:
    openai = pytest.importorskip("openai")
    served, python = mini
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=TOKEN, max_retries=0, timeout=120)
    answer = client.embeddings.create(model="mini", input=SENTENCES)  # the SDK asks for base64
    got = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, direct(python, SENTENCES), atol=1e-4)
    assert answer.usage.prompt_tokens > len(SENTENCES)
    cos = got @ got.T / np.outer(np.linalg.norm(got, axis=1), np.linalg.norm(got, axis=1))
    assert cos[0, 2] > cos[0, 1]  # the cat and the kitten are closer than the cat and the markets
    one = client.embeddings.create(model="mini", input=SENTENCES[0], encoding_format="float")
    np.testing.assert_allclose(np.array(one.data[0].embedding), got[0], atol=1e-5)


def test_raw_float_and_base64_agree(mini: tuple[Served, str]) -> None:
    served, _ = mini
    url = f"{served.url}/v1/embeddings"

    def ask(fmt: str) -> dict[str, Any]:
        resp = httpx.post(url, json={"model": "mini", "input": SENTENCES, "encoding_format": fmt}, headers=auth())
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    floats = np.array([d["embedding"] for d in ask("float")["data"]], dtype=np.float32)
    raw = [base64.b64decode(d["embedding"]) for d in ask("base64")["data"]]
    np.testing.assert_array_equal(np.stack([np.frombuffer(r, dtype="<f4") for r in raw]), floats)


def test_bad_embedding_requests(mini: tuple[Served, str]) -> None:
    served, _ = mini
    url = f"{served.url}/v1/embeddings"
    for body, param in [
        ({"model": "mini", "input": []}, "input"),
        ({"model": "mini", "input": [1, 2]}, "input"),
        ({"model": "mini", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "mini", "input": "x", "dimensions": 128}, "dimensions"),
    ]:
        resp = httpx.post(url, json=body, headers=auth())
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["param"] == param
    assert httpx.post(url, json={"model": "mini", "input": "x"}).status_code == 401


def test_concurrent_single_sentences_are_batched(mini: tuple[Served, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    served, _ = mini
    url = f"{served.url}/v1/embeddings"

    def one(i: int) -> int:
        resp = httpx.post(url, json={"model": "mini", "input": f"sentence number {i}"}, headers=auth(), timeout=120)
        assert resp.status_code == 200, resp.text
        return len(resp.json()["data"][0]["embedding"])

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(one, range(64))) == [384] * 64
    text = served.metrics()
    sentences = metric(text, "cnai_llm_embedding_batch_size_sum", model="mini")
    batches = metric(text, "cnai_llm_embedding_batch_size_count", model="mini")
    assert sentences >= 64
    assert sentences / batches > 1.5


def test_a_sentence_transformers_model_from_the_registry(tmp_path: Path) -> None:
    """Logged with the stock client (``log_artifacts`` of the saved folder) and served by alias."""
    import mlflow
    from mlflow import MlflowClient

    from cnai.settings import Settings
    from tests.fixtures.servers import start_live_server

    python = embeddings_python()
    store, artifacts = f"sqlite:///{tmp_path / 'plane.db'}", (tmp_path / "a").as_uri()
    plane = start_live_server(Settings(home=tmp_path / "plane", store=store, artifacts=artifacts))
    try:
        mlflow.set_tracking_uri(plane.url)
        with mlflow.start_run():
            mlflow.log_artifacts(str(minilm_dir()), artifact_path="model")
            version = mlflow.register_model(mlflow.get_artifact_uri("model"), "emb")
        MlflowClient(plane.url).set_registered_model_alias("emb", "prod", version.version)
        served = start_serve(
            ["models:/emb@prod"], tmp_path / "home", python=python, env_extra={"MLFLOW_TRACKING_URI": plane.url}
        )
        try:
            models = httpx.get(f"{served.url}/v1/models", headers=auth()).json()
            assert [(m["id"], m["cnai_kind"]) for m in models["data"]] == [("emb", "embeddings")]
            answer = httpx.post(
                f"{served.url}/v1/embeddings", json={"model": "emb", "input": SENTENCES[0]}, headers=auth(), timeout=120
            )
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["data"][0]["embedding"]) == 384
        finally:
            served.stop()
    finally:
        mlflow.set_tracking_uri(None)
        plane.stop()
