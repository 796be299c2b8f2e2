"""One set of toy models per session, and one live server over all of them per module."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnai.serving.settings import ServeSettings
from tests.fixtures import serving_models as sm


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    with warnings.catch_warnings():  # mlflow's hint that integer outputs cannot hold NaN: intended
        warnings.simplefilter("ignore", UserWarning)
        return _save_all(root)


def _save_all(root: Path) -> dict[str, Path]:
    return {
        "lr": sm.save_logistic(root / "lr"),
        "mixed": sm.save_mixed(root / "mixed"),
        "xgb": sm.save_xgboost(root / "xgb"),
        "lgb": sm.save_lightgbm(root / "lgb"),
        "boom": sm.save_exploding(root / "boom"),
    }


def serve_settings(home: Path, model_dirs: dict[str, Path], **overrides: object) -> ServeSettings:
    models = [f"{name}={path}" for name, path in model_dirs.items()]
    base: dict[str, object] = {"models": models, "home": home, "event_bus": f"sqlite:///{home / 'events.db'}"}
    base.update(overrides)
    return ServeSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def live(model_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[sm.LiveServing]:
    home = tmp_path_factory.mktemp("serve-home")
    server = sm.start_serving(serve_settings(home, model_dirs))
    yield server
    server.stop()
