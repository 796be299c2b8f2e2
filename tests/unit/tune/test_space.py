from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from cnai.errors import InvalidArgument
from cnai.tune.space import load_space, parse_space


def test_yaml_space_with_every_type_and_a_conditional_param(tmp_path: Path) -> None:
    file = tmp_path / "space.yaml"
    file.write_text(
        "lr: {type: float, low: 0.001, high: 0.3, log: true}\n"
        "depth: {type: int, low: 2, high: 8}\n"
        "loss: {type: categorical, choices: [log_loss, exponential]}\n"
        "subsample: {type: float, low: 0.5, high: 1.0, when: {loss: log_loss}}\n"
    )
    space = load_space(file)
    assert [p.name for p in space.params] == ["lr", "depth", "loss", "subsample"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_losses = set()
    for _ in range(30):
        params = space.sample(study.ask())
        assert 0.001 <= params["lr"] <= 0.3
        assert isinstance(params["depth"], int)
        assert 2 <= params["depth"] <= 8
        assert ("subsample" in params) == (params["loss"] == "log_loss")
        seen_losses.add(params["loss"])
    assert seen_losses == {"log_loss", "exponential"}
    assert study.trials[0].distributions["lr"].log is True


def test_enqueued_params_come_back_as_given() -> None:
    space = parse_space({"x": {"type": "float", "low": 0, "high": 1}, "k": {"type": "categorical", "choices": [1, 2]}})
    study = optuna.create_study()
    study.enqueue_trial({"x": 0.25, "k": 2})
    assert space.sample(study.ask()) == {"x": 0.25, "k": 2}


def test_grid_values() -> None:
    space = parse_space(
        {
            "n": {"type": "int", "low": 1, "high": 7, "step": 3},
            "f": {"type": "float", "low": 0, "high": 1, "step": 0.25},
            "c": {"type": "categorical", "choices": ["a", "b"]},
        }
    )
    assert space.grid() == {"n": [1, 4, 7], "f": [0.0, 0.25, 0.5, 0.75, 1.0], "c": ["a", "b"]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"x": {"type": "complex"}}, "unknown type 'complex'"),
        ({"x": {"type": "float", "low": 1, "high": 0}}, "low < high"),
        ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, "log scale needs low > 0"),
        ({"x": {"type": "int", "low": 0.5, "high": 3}}, "whole-number"),
        ({"x": {"type": "categorical", "choices": []}}, "non-empty list of choices"),
        ({"x": {"type": "float", "low": 0, "high": 1, "lo": 3}}, "unknown keys ['lo']"),
        ({"x": {"type": "float", "low": 0, "high": 1, "when": {"y": 1}}}, "not another param"),
        ({"x": 3}, "must be a mapping"),
        ({}, "must be a mapping"),
    ],
)
def test_bad_space_names_the_param_and_the_fix(spec: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        parse_space(spec)


def test_conditional_param_must_follow_its_parent() -> None:
    with pytest.raises(InvalidArgument, match="declare it after"):
        parse_space(
            {
                "sub": {"type": "float", "low": 0, "high": 1, "when": {"kind": "a"}},
                "kind": {"type": "categorical", "choices": ["a", "b"]},
            }
        )


def test_grid_refuses_a_float_range_without_step_and_conditionals() -> None:
    with pytest.raises(InvalidArgument, match="needs a step"):
        parse_space({"x": {"type": "float", "low": 0, "high": 1}}).grid()


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="Cannot read the space file"):
        load_space(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: {type: float, low: [\n")
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        load_space(bad)
