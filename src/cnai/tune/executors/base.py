"""The executor plugin point: where trials run. The driver owns the study; an executor owns workers.

An executor has ``slots`` (one per worker). The driver submits a trial to an idle slot and polls
for events: a step ``Report`` (answered with prune or not when the study prunes), a ``Finished``
trial, or a ``Lost`` one (its worker died; the executor has already replaced the worker).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from cnai.tune.trial_runner import Outcome


@dataclass
class Report:
    slot: int
    number: int
    step: int
    value: float


@dataclass
class Finished:
    slot: int
    number: int
    outcome: Outcome


@dataclass
class Lost:
    slot: int
    number: int
    reason: str


Event = Report | Finished | Lost


@dataclass
class Task:
    number: int
    params: dict[str, Any]
    prune: bool  # the worker waits for an answer to each report only when the study prunes
    model_path: str  # where the worker saves a returned model ("" = drop it)


class Executor(ABC):
    name = "base"

    def launch(self, objective: str, workers: int) -> None:
        """Begin starting the workers and return at once, so that the driver opens its study and
        tracking store while they boot; ``start`` then waits for them. By default nothing happens
        here and ``start`` does it all."""
        return None

    @abstractmethod
    def start(self, objective: str, workers: int) -> None:
        """Start the workers (or finish what ``launch`` began) and wait until each has imported the
        objective once. Raise ObjectiveImportError if it cannot."""

    @abstractmethod
    def idle(self) -> list[int]:
        """Slots whose worker is ready and has no trial."""

    @abstractmethod
    def submit(self, slot: int, task: Task) -> None: ...

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events that arrived, waiting up to ``timeout`` seconds for the first."""

    @abstractmethod
    def answer(self, slot: int, prune: bool) -> None:
        """Reply to the slot's pending report (only when its task has ``prune``)."""

    @abstractmethod
    def worker(self, slot: int) -> str:
        """A name for the worker now in the slot, recorded on the trial's run."""

    def stop(self) -> None:
        """Ask the workers to exit once their trial is done, without waiting (``close`` waits): the
        driver calls it as soon as no trial is left, and records the last results meanwhile."""
        return None

    @abstractmethod
    def close(self) -> None: ...
