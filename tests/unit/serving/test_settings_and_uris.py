"""Serve settings and MODEL arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.errors import InvalidArgument, NotFound
from cnai.serving.resolve import fetch_model, parse_model_arg
from cnai.serving.settings import ServeSettings, parse_size


@pytest.mark.parametrize(
    ("text", "size"), [("512", 512), ("1K", 1024), ("2MB", 2 << 20), ("1.5G", 3 << 29), ("1GiB", 1 << 30)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_refuses_garbage() -> None:
    with pytest.raises(InvalidArgument, match="Invalid size"):
        parse_size("lots")


def test_model_args() -> None:
    assert parse_model_arg("models:/iris/3").name == "iris"
    assert parse_model_arg("models:/iris@champion").uri == "models:/iris@champion"
    spec = parse_model_arg("prod=models:/iris@champion")
    assert (spec.name, spec.uri) == ("prod", "models:/iris@champion")
    assert parse_model_arg("/tmp/some dir/my model").name == "my-model"
    with pytest.raises(InvalidArgument, match="registry URI"):
        parse_model_arg("models:/only-a-name")


def test_registry_uri_without_control_plane(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="CNAI_TRACKING_URI"):
        fetch_model("models:/iris/1", "", tmp_path)
    with pytest.raises(NotFound, match="No MLflow model"):
        fetch_model(str(tmp_path), "", tmp_path)


def test_settings_round_trip_through_worker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = ServeSettings(models=["a=/x", "models:/b/1"], home=tmp_path, max_memory="1G", max_batch_size=1)
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    again = ServeSettings()
    assert again.model_dump() == settings.model_dump()
    assert not again.batching
    assert again.event_bus == f"sqlite:///{tmp_path / 'events.db'}"


def test_control_plane_port_does_not_move_the_model_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNAI_PORT", "9999")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://plane:5000")
    settings = ServeSettings()
    assert settings.port == 8081
    assert settings.tracking_uri == "http://plane:5000"
