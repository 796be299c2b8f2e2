"""The study driver: asks Optuna for trials, hands them to an executor, tells Optuna the outcome,
and writes every trial as a child run of the study's run.

Resuming is the same call: the driver re-opens the study's journal, marks the trials a killed
driver left running as failed, enqueues their params again (the retry), repairs the runs the
killed driver did not finish writing, and asks only for the trials still missing. Completed
trials are in the journal, so they are never run again.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument
from cnai.settings import Settings
from cnai.tune import algorithms
from cnai.tune.executors import make_executor
from cnai.tune.executors.base import Executor, Finished, Lost, Report, Task
from cnai.tune.space import Space, load_space, parse_space
from cnai.tune.store import StudyStore, check_study_name, sync
from cnai.tune.tracking import (
    STUDY_TAG,
    TRIAL_TAG,
    Tracker,
    TrialLog,
    make_tracker,
    now_ms,
    trial_metrics,
)
from cnai.tune.trial_runner import Outcome

RETRY_OF = "cnai.retry_of"
RETRY_REASON = "cnai.retry_reason"  # "worker" (retried once) or "driver" (not the trial's fault)
RETRIED = "cnai.retried"  # on a failed trial whose params run again as another trial
ERROR = "cnai.error"
WORKER = "cnai.worker"
PARENT_RUN = "cnai.parent_run_id"
EXPERIMENT = "cnai.experiment_id"


@dataclass
class TuneConfig:
    objective: str
    space: Space
    trials: int
    workers: int = 1
    direction: str = "maximize"
    executor: str = "local"
    sampler: str = "tpe"
    pruner: str = "median"
    timeout: float | None = None
    study: str = ""
    register: str = ""
    tracking_uri: str = ""
    seed: int | None = None
    executor_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudyResult:
    study: str
    best_value: float | None
    best_params: dict[str, Any]
    trials: int
    run_id: str
    experiment: str
    states: dict[str, int]
    registered_version: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "study": self.study,
            "best_value": self.best_value,
            "best_params": self.best_params,
            "trials": self.trials,
            "run_id": self.run_id,
            "experiment": self.experiment,
            "states": self.states,
        }
        if self.registered_version:
            out["registered_version"] = self.registered_version
        return out


Progress = Callable[[int, int, float | None], None]


def run(
    objective: str,
    space: Space | Mapping[str, Any] | str | Path,
    *,
    trials: int,
    workers: int = 1,
    direction: str = "maximize",
    executor: str = "local",
    sampler: str = "tpe",
    pruner: str = "median",
    timeout: float | None = None,
    study: str | None = None,
    register: str | None = None,
    tracking_uri: str | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
    executor_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> StudyResult:
    """Run (or resume) a study; the Python form of ``cnai tune``. ``space`` is a Space, its dict
    form, or a YAML file's path. Without ``tracking_uri`` the runs go to the store under CNAI_HOME."""
    parsed = load_space(space) if isinstance(space, str | Path) else parse_space(space)
    config = TuneConfig(
        objective=objective,
        space=parsed,
        trials=trials,
        workers=workers,
        direction=direction,
        executor=executor,
        sampler=sampler,
        pruner=pruner,
        timeout=timeout,
        study=study or default_study_name(objective),
        register=register or "",
        tracking_uri=tracking_uri or "",
        seed=seed,
        executor_options=executor_options or {},
    )
    return StudyDriver(config, settings or Settings(), progress).run()


def default_study_name(objective: str) -> str:
    function = objective.rpartition(":")[2] or "study"
    return f"{function}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_config(config: TuneConfig) -> None:
    check_study_name(config.study)
    if config.trials < 1:
        raise InvalidArgument("--trials must be at least 1.")
    if config.workers < 1:
        raise InvalidArgument("--workers must be at least 1.")
    if config.direction not in ("maximize", "minimize"):
        raise InvalidArgument(f"Unknown direction {config.direction!r}; use maximize or minimize.")
    if config.timeout is not None and config.timeout <= 0:
        raise InvalidArgument("--timeout must be a positive number of seconds.")


class StudyDriver:
    def __init__(self, config: TuneConfig, settings: Settings, progress: Progress | None = None) -> None:
        check_config(config)
        self.config = config
        self.settings = settings
        self.progress = progress
        self.store = StudyStore(settings.home)
        self.running: dict[int, tuple[int, Any, int]] = {}  # number -> (slot, optuna trial, start ms)
        self.best: float | None = None
        self.done = 0

    # -- the whole study ------------------------------------------------------------------
    def run(self) -> StudyResult:
        config = self.config
        algorithms.check_names(config.sampler, config.pruner)
        driver_lock = self.store.hold_driver(config.study)
        # Start-up overlaps: the workers boot and import the objective, the tracking thread opens
        # its store, and the driver imports Optuna, all at once. Only once the workers are ready
        # does the study's journal or any run come to exist, so an objective that cannot be
        # imported leaves nothing behind.
        executor = make_executor(config.executor, **config.executor_options)
        log: TrialLog | None = None
        try:
            executor.launch(config.objective, config.workers)
            log = TrialLog(functools.partial(make_tracker, self.settings, config.tracking_uri), config.study)
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            sampler = algorithms.make_sampler(config.sampler, config.space, config.seed)
            pruner = algorithms.make_pruner(config.pruner)
            trials_wanted = config.trials
            if config.sampler == "grid":
                trials_wanted = min(trials_wanted, algorithms.grid_size(config.space))
            executor.start(config.objective, config.workers)
            log.check()
            return self._study(optuna, executor, log, sampler, pruner, trials_wanted)
        finally:
            executor.close()
            if log is not None:
                log.close(raise_errors=False)  # a no-op when the study closed it (and raised what failed)
            sync(self.store.journal(config.study))
            os.close(driver_lock)

    def _study(
        self, optuna: Any, executor: Executor, log: TrialLog, sampler: Any, pruner: Any, wanted: int
    ) -> StudyResult:
        config = self.config
        study = optuna.create_study(
            study_name=config.study,
            storage=self.store.storage(config.study),
            sampler=sampler,
            pruner=pruner,
            direction=config.direction,
            load_if_exists=True,
        )
        if study.direction.name.lower() != config.direction:
            raise InvalidArgument(
                f"Study {config.study!r} was created to {study.direction.name.lower()}; "
                f"pass --direction {study.direction.name.lower()} or use another --study."
            )
        self._recover_running(study)
        # The parent run, then the repair of runs a killed driver left, are the tracking thread's
        # first writes; the first trials are dispatched meanwhile, their runs written after these.
        log.setup(functools.partial(self._parent_run, study, log))
        log.setup(functools.partial(self._reconcile_runs, self._ended(study), log))
        try:
            self._loop(study, executor, log, wanted)
            executor.stop()  # the workers exit while the last writes are made
            result = self._result(study)
            log.call(functools.partial(self._close_parent, log, result))
        except BaseException:
            log.call(lambda tracker: tracker.end(log.parent_run_id, "KILLED", now_ms()) if log.parent_run_id else None)
            raise
        finally:
            log.close()
        result.run_id = log.parent_run_id
        if config.register:
            from cnai.tune.register import register_best

            result.registered_version = register_best(
                self.settings, config.tracking_uri, config.register, study, log.run_ids, self._model_dir()
            )
        return result

    # -- resume -----------------------------------------------------------------------------
    def _recover_running(self, study: Any) -> int:
        """Trials a killed driver left RUNNING: failed, and their params enqueued again."""
        from optuna.trial import TrialState

        storage = study._storage
        count = 0
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_user_attr(t._trial_id, ERROR, "the driver stopped while the trial ran")
            storage.set_trial_user_attr(t._trial_id, RETRIED, True)
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            study.enqueue_trial(t.params, user_attrs={RETRY_OF: t.number, RETRY_REASON: "driver"})
            count += 1
        return count

    def _parent_run(self, study: Any, log: TrialLog, tracker: Tracker) -> None:
        """The study's run (in the tracking thread): re-opened on resume, else created."""
        attrs = study.user_attrs
        if attrs.get(PARENT_RUN):
            log.parent_run_id = str(attrs[PARENT_RUN])
            log.experiment_id = str(attrs[EXPERIMENT])
            tracker.end(log.parent_run_id, "RUNNING", None)
            return
        experiment_id = tracker.experiment(self.config.study)
        tags = {
            STUDY_TAG: self.config.study,
            "cnai.tune.objective": self.config.objective,
            "cnai.tune.sampler": self.config.sampler,
            "cnai.tune.pruner": self.config.pruner,
            "cnai.tune.direction": self.config.direction,
            "cnai.tune.executor": self.config.executor,
            "cnai.tune.space": str(self.config.space.to_dict())[:5000],
        }
        parent = tracker.create_run(experiment_id, self.config.study, tags, now_ms())
        # In the journal before any child run exists: a resumed study finds this parent, not a new one.
        study.set_user_attr(PARENT_RUN, parent)
        study.set_user_attr(EXPERIMENT, experiment_id)
        log.experiment_id, log.parent_run_id = experiment_id, parent

    @staticmethod
    def _ended(study: Any) -> list[Any]:
        """The journal's trials as they were at the start (a copy: the loop goes on changing them)."""
        from optuna.trial import TrialState

        return [t for t in study.get_trials(deepcopy=True) if t.state != TrialState.WAITING]

    def _reconcile_runs(self, finished: list[Any], log: TrialLog, tracker: Tracker) -> None:
        """Bring the runs in line with the journal: one run per finished trial, ended, with its value."""
        if not finished:
            return
        runs = {_tag(r, TRIAL_TAG): r for r in tracker.children(log.experiment_id, log.parent_run_id)}
        for t in finished:
            state = _state_name(t.state)
            run = runs.get(str(t.number))
            if run is not None:
                log.run_ids[t.number] = run["info"]["run_id"]
            if state == "running":
                continue
            outcome = outcome_of(t)
            end = _ms(t.datetime_complete) or now_ms()
            if run is None:
                start = _ms(t.datetime_start) or end
                log.start(t.number, t.params, str(t.user_attrs.get(WORKER, "unknown")), start)
                log.finish(t.number, outcome, state, end, _extra_tags(t))
            elif run["info"]["status"] == "RUNNING":
                has_value = any(m["key"] == "value" for m in run["data"].get("metrics", []))
                run_id = run["info"]["run_id"]
                metrics = [] if has_value else trial_metrics(outcome, state, end)
                tags = {"cnai.tune.state": state, **_extra_tags(t)}
                _end_run(tracker, run_id, metrics, tags, state, end)

    # -- the loop ---------------------------------------------------------------------------
    def _loop(self, study: Any, executor: Executor, log: TrialLog, wanted: int) -> None:
        from optuna.trial import TrialState

        config = self.config
        self.done = counted(study)
        self.best = _best_value(study)
        if self.done >= wanted and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return
        deadline = time.monotonic() + config.timeout if config.timeout else None
        prune = config.pruner != "none"
        changed = True  # the first progress: drawn once the parent run is written
        while True:
            log.check()  # the tracking store could not be opened or the parent run written: stop
            out_of_time = deadline is not None and time.monotonic() >= deadline
            # Idle workers get their next trial first; the progress line is drawn after.
            for slot in executor.idle():
                if out_of_time or self.done + len(self.running) >= wanted:
                    break
                trial = study.ask()
                params = config.space.sample(trial)
                start = now_ms()
                worker = executor.worker(slot)
                trial.set_user_attr(WORKER, worker)
                self.running[trial.number] = (slot, trial, start)
                model_path = str(self._model_dir() / f"{trial.number}.pkl") if config.register else ""
                executor.submit(slot, Task(trial.number, params, prune, model_path))
                log.start(trial.number, params, worker, start)
            log.flush()  # the finished trials' writes (held since the poll below) and the starts
            if changed and log.settled():
                self._progress(wanted)
                changed = False
            if not self.running and (out_of_time or self.done >= wanted):
                return  # (nothing running but trials missing: a replaced worker is starting)
            events = executor.poll(0.2)
            log.hold()
            for event in events:
                if isinstance(event, Report):
                    executor.answer(event.slot, self._report(event))
                elif isinstance(event, Finished):
                    self._finish(study, log, event.number, event.outcome)
                    changed = True
                elif isinstance(event, Lost):
                    changed = self._lost(study, log, event) or changed

    def _report(self, event: Report) -> bool:
        entry = self.running.get(event.number)
        if entry is None:
            return False
        trial = entry[1]
        trial.report(event.value, event.step)
        return bool(trial.should_prune())

    def _finish(self, study: Any, log: TrialLog, number: int, outcome: Outcome) -> None:
        from optuna.trial import TrialState

        _, trial, _ = self.running.pop(number)
        extra: dict[str, str] = {}
        if self.config.pruner == "none":  # the steps came with the outcome: into the journal too
            for step, value in outcome.steps:
                trial.report(value, step)
        if outcome.state == "complete":
            _tell(study, trial, TrialState.COMPLETE, outcome.value)
        elif outcome.state == "pruned":
            _tell(study, trial, TrialState.PRUNED, None)
        else:
            trial.set_user_attr(ERROR, outcome.error)
            _tell(study, trial, TrialState.FAIL, None)
        retry_of = trial.user_attrs.get(RETRY_OF)
        if retry_of is not None:
            extra["cnai.tune.retry_of"] = str(retry_of)
        log.finish(number, outcome, outcome.state, now_ms(), extra)
        self.done += 1
        if outcome.state == "complete" and outcome.value is not None and self._better(outcome.value):
            self.best = outcome.value

    def _lost(self, study: Any, log: TrialLog, event: Lost) -> bool:
        """A worker died mid-trial: the trial fails; its params run once more unless this was the retry.
        True when the trial counts as done (no retry)."""
        from optuna.trial import TrialState

        _, trial, _ = self.running.pop(event.number)
        retry = trial.user_attrs.get(RETRY_REASON) != "worker"
        trial.set_user_attr(ERROR, event.reason)
        if retry:
            trial.set_user_attr(RETRIED, True)
        _tell(study, trial, TrialState.FAIL, None)
        outcome = Outcome("failed", error=event.reason)
        log.finish(event.number, outcome, "failed", now_ms(), {"cnai.tune.retried": str(retry).lower()})
        if retry:
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF: event.number, RETRY_REASON: "worker"})
            return False
        self.done += 1
        return True

    # -- helpers ----------------------------------------------------------------------------
    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.config.direction == "maximize" else value < self.best

    def _progress(self, wanted: int) -> None:
        if self.progress:
            self.progress(self.done, wanted, self.best)

    def _model_dir(self) -> Path:
        return self.store.root / f"{self.config.study}.models"

    def _result(self, study: Any) -> StudyResult:
        from optuna.trial import TrialState

        states: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            states[_state_name(t.state)] = states.get(_state_name(t.state), 0) + 1
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = study.best_trial if complete else None
        return StudyResult(
            study=self.config.study,
            best_value=best.value if best else None,
            best_params=dict(best.params) if best else {},
            trials=counted(study),
            run_id="",  # the parent run's id, once the tracking thread has written it
            experiment=self.config.study,
            states=states,
        )

    def _close_parent(self, log: TrialLog, result: StudyResult, tracker: Tracker) -> None:
        parent = log.parent_run_id
        tags = {f"best.{k}": str(v) for k, v in result.best_params.items()}
        tags["cnai.tune.trials"] = str(result.trials)
        metrics = (
            [("best_value", float(result.best_value), now_ms(), result.trials)] if result.best_value is not None else []
        )
        tracker.log_chunked(parent, metrics, {}, tags)
        tracker.end(parent, "FINISHED", now_ms())


def counted(study: Any) -> int:
    """Trials that count toward --trials: ended, and not failed-then-retried."""
    from optuna.trial import TrialState

    ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False, states=ended) if not t.user_attrs.get(RETRIED))


def outcome_of(t: Any) -> Outcome:
    """A journal trial as the outcome the tracking writer records."""
    duration = (
        (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else 0.0
    )
    steps = sorted(t.intermediate_values.items())
    return Outcome(_state_name(t.state), t.value, str(t.user_attrs.get(ERROR, "")), duration, steps)


def _tell(study: Any, trial: Any, state: Any, value: float | None) -> None:
    try:
        study.tell(trial, value, state=state) if value is not None else study.tell(trial, state=state)
    except RuntimeError as exc:  # GridSampler calls study.stop() once the grid is covered: not in ask-and-tell
        if "Study.stop" not in str(exc):
            raise


def _best_value(study: Any) -> float | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return float(study.best_value)


def _state_name(state: Any) -> str:
    name = str(state.name)
    return {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(name, name.lower())


def _tag(run: dict[str, Any], key: str) -> str | None:
    found = [str(tag["value"]) for tag in run["data"].get("tags", []) if tag["key"] == key]
    return found[0] if found else None


def _extra_tags(t: Any) -> dict[str, str]:
    extra = {}
    if t.user_attrs.get(RETRY_OF) is not None:
        extra["cnai.tune.retry_of"] = str(t.user_attrs[RETRY_OF])
    if t.user_attrs.get(RETRIED):
        extra["cnai.tune.retried"] = "true"
    return extra


def _ms(when: datetime | None) -> int | None:
    return int(when.timestamp() * 1000) if when else None


def _end_run(tracker: Any, run_id: str, metrics: Any, tags: dict[str, str], state: str, end: int) -> None:
    from cnai.tune.tracking import RUN_STATUS

    tracker.log_chunked(run_id, metrics, {}, tags)
    tracker.end(run_id, RUN_STATUS[state], end)
