"""The search space: what a trial's params may be, declared in YAML or Python.

YAML, one entry per parameter (the form a check outside the test suite relies on)::

    learning_rate: {type: float, low: 0.001, high: 0.3, log: true}
    max_depth:     {type: int, low: 2, high: 8}
    loss:          {type: categorical, choices: [log_loss, exponential]}
    subsample:     {type: float, low: 0.5, high: 1.0, when: {loss: log_loss}}   # conditional

``step`` is optional for int and float (a grid over a range needs it); ``when`` makes a parameter
conditional: it is sampled only when each named parameter has the given value. Sampling is
define-by-run through Optuna's trial API, so conditional params cost nothing extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnai.errors import InvalidArgument

TYPES = ("float", "int", "categorical")
_KEYS = {"type", "low", "high", "log", "step", "choices", "when"}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: Mapping[str, Any] = field(default_factory=dict)

    def active(self, chosen: Mapping[str, Any]) -> bool:
        return all(name in chosen and chosen[name] == value for name, value in self.when.items())

    def suggest(self, trial: Any) -> Any:
        """Ask Optuna's trial for this param's value (the sampler decides, or an enqueued value)."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None
        assert self.high is not None
        if self.type == "int":
            step = int(self.step) if self.step else 1
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> list[Any]:
        """Every value a grid search visits: the choices, or low..high by step."""
        if self.type == "categorical":
            return list(self.choices)
        assert self.low is not None
        assert self.high is not None
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if not self.step:
            raise InvalidArgument(f"Grid search over float param {self.name!r} needs a step (or use choices).")
        count = round((self.high - self.low) / self.step)
        return [round(self.low + i * self.step, 12) for i in range(count + 1)]


@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]

    def sample(self, trial: Any) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        for param in self.params:
            if param.active(chosen):
                chosen[param.name] = param.suggest(trial)
        return chosen

    def grid(self) -> dict[str, list[Any]]:
        if any(p.when for p in self.params):
            raise InvalidArgument("Grid search cannot walk conditional params: drop `when`, or use another sampler.")
        return {p.name: p.grid() for p in self.params}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for p in self.params:
            entry: dict[str, Any] = {"type": p.type}
            if p.type == "categorical":
                entry["choices"] = list(p.choices)
            else:
                entry.update(low=p.low, high=p.high, log=p.log)
                if p.step:
                    entry["step"] = p.step
            if p.when:
                entry["when"] = dict(p.when)
            out[p.name] = entry
        return out


def parse_space(spec: Mapping[str, Any] | Space) -> Space:
    """A space from its dict form (what the YAML file holds); every mistake named with its param."""
    if isinstance(spec, Space):
        return spec
    if not isinstance(spec, Mapping) or not spec:
        raise InvalidArgument("The search space must be a mapping of parameter name to {type: ..., ...}.")
    params = [_parse_param(str(name), entry) for name, entry in spec.items()]
    names = {p.name for p in params}
    for p in params:
        for parent in p.when:
            if parent not in names or parent == p.name:
                raise InvalidArgument(f"Param {p.name!r}: `when` names {parent!r}, which is not another param.")
    # A conditional param must come after the params it depends on (define-by-run order).
    seen: set[str] = set()
    for p in params:
        if not set(p.when) <= seen:
            raise InvalidArgument(f"Param {p.name!r}: declare it after the params its `when` names.")
        seen.add(p.name)
    return Space(tuple(params))


def load_space(path: str | Path) -> Space:
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise InvalidArgument(f"Cannot read the space file {file}: {exc.strerror or exc}.") from exc
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"The space file {file} is not valid YAML: {str(exc).splitlines()[0]}.") from exc
    try:
        return parse_space(data)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{file}: {exc.message}") from exc


def _parse_param(name: str, entry: Any) -> Param:
    if not isinstance(entry, Mapping):
        raise InvalidArgument(f"Param {name!r} must be a mapping like {{type: float, low: 0, high: 1}}.")
    unknown = set(entry) - _KEYS
    if unknown:
        raise InvalidArgument(f"Param {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}.")
    kind = entry.get("type")
    if kind not in TYPES:
        raise InvalidArgument(f"Param {name!r} has unknown type {kind!r}; use one of: {', '.join(TYPES)}.")
    when = entry.get("when") or {}
    if not isinstance(when, Mapping):
        raise InvalidArgument(f"Param {name!r}: `when` must map param names to values.")
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise InvalidArgument(f"Categorical param {name!r} needs a non-empty list of choices.")
        return Param(name, kind, choices=tuple(choices), when=dict(when))
    low, high = entry.get("low"), entry.get("high")
    if not isinstance(low, int | float) or not isinstance(high, int | float) or not _is_number(low) or low >= high:
        raise InvalidArgument(f"Param {name!r} needs numbers low < high, got low={low!r} high={high!r}.")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise InvalidArgument(f"Param {name!r}: log must be true or false.")
    if log and low <= 0:
        raise InvalidArgument(f"Param {name!r}: a log scale needs low > 0.")
    step = entry.get("step")
    if step is not None and (not isinstance(step, int | float) or not _is_number(step) or step <= 0):
        raise InvalidArgument(f"Param {name!r}: step must be a positive number.")
    if log and step is not None:
        raise InvalidArgument(f"Param {name!r}: Optuna does not sample a log scale with a step; drop one.")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise InvalidArgument(f"Int param {name!r} needs whole-number low, high and step.")
    return Param(name, kind, float(low), float(high), log, float(step) if step else None, when=dict(when))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
