"""Which model directories go to the OpenAI routes: the layouts the stock mlflow client produces
when a GGUF or a sentence-transformers model is logged, as they look once downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.errors import InvalidArgument
from cnai.serving.generative import generative_path, is_llm
from cnai.serving.openai_app import is_generative

GGUF_HEAD = b"GGUF" + b"\0" * 60


def gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(GGUF_HEAD)
    return path


def st_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "modules.json").write_text("[]")
    return path


def test_a_gguf_file_and_a_directory_holding_one(tmp_path: Path) -> None:
    file = gguf(tmp_path / "model" / "smol.gguf")
    assert generative_path(file) == file
    assert generative_path(file.parent) == file  # mlflow.log_artifact(path, artifact_path="model")
    assert is_llm(file)
    assert is_generative(str(file.parent))


def test_a_file_named_gguf_without_the_magic_is_not_one(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model")
    assert generative_path(fake) is None
    assert generative_path(tmp_path) is None


def test_several_gguf_files_are_refused_with_their_names(tmp_path: Path) -> None:
    gguf(tmp_path / "a.gguf")
    gguf(tmp_path / "b.gguf")
    with pytest.raises(InvalidArgument, match=r"several GGUF files \(a.gguf, b.gguf\)"):
        generative_path(tmp_path)


def test_sentence_transformers_saved_directly_or_with_the_mlflow_flavor(tmp_path: Path) -> None:
    direct = st_dir(tmp_path / "direct")
    assert generative_path(direct) == direct
    assert not is_llm(direct)

    flavored = tmp_path / "flavored"
    data = st_dir(flavored / "model.sentence_transformer")
    (flavored / "MLmodel").write_text(
        "flavors:\n  python_function: {loader_module: mlflow.sentence_transformers}\n"
        "  sentence_transformers: {data: model.sentence_transformer}\n"
    )
    assert generative_path(flavored) == data


def test_an_mlflow_model_is_left_to_the_repository(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn: {pickled_model: model.pkl}\n")
    gguf(tmp_path / "stray.gguf")  # an MLmodel decides: this is an MLflow model
    assert generative_path(tmp_path) is None
    assert not is_generative(str(tmp_path))
    assert not is_generative("models:/chat/1")  # registry URIs are decided once downloaded
