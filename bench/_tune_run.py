"""One contender of bench/tune.py in a fresh process; prints one JSON line.

    python bench/_tune_run.py cnai|optuna|ray-default|ray-reuse|cnai-10ms WORKDIR

Wall time starts when the contender is asked to tune (its own library imported, its workers not
yet started) and ends when it has every result; Σ trial time comes from the objective's own log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import _tune_objective as workload  # noqa: E402

WORKERS = 2


def run_cnai(work: Path) -> dict[str, Any]:
    import cnai.tune
    from cnai.settings import Settings

    space = {name: {"type": "categorical", "choices": values} for name, values in workload.GRID.items()}
    settings = Settings(home=work / "cnai-home")
    started = time.perf_counter()
    result = cnai.tune.run(
        f"{BENCH / '_tune_objective.py'}:cnai_objective", space, trials=40, workers=WORKERS, sampler="grid",
        pruner="none", study="bench", settings=settings,
    )  # fmt: skip
    wall = time.perf_counter() - started
    return {"wall": wall, "best": result.best_value, "trials": result.trials, "tracked": _tracked(settings, result)}


def run_cnai_10ms(work: Path) -> dict[str, Any]:
    import cnai.tune
    from cnai.settings import Settings

    settings = Settings(home=work / "cnai-home")
    started = time.perf_counter()
    result = cnai.tune.run(
        f"{BENCH / '_tune_objective.py'}:sleep_10ms", {"x": {"type": "float", "low": 0, "high": 1}},
        trials=1000, workers=WORKERS, sampler="random", pruner="none", study="bench-10ms", settings=settings,
    )  # fmt: skip
    wall = time.perf_counter() - started
    return {"wall": wall, "best": result.best_value, "trials": result.trials, "tracked": _tracked(settings, result)}


def _tracked(settings: Any, result: Any) -> int:
    from cnai.tune.tracking import StoreTracker

    tracker = StoreTracker(settings)
    try:
        runs = tracker.children(tracker.experiment(result.study), result.run_id)
        return sum(1 for r in runs if r["info"]["status"] == "FINISHED")
    finally:
        tracker.close()


OPTUNA_WORKER = """
import sys, optuna
sys.path.insert(0, {bench!r})
import _tune_objective as workload
optuna.logging.set_verbosity(optuna.logging.WARNING)
storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend({journal!r}))
study = optuna.load_study(study_name="bench", storage=storage, sampler=optuna.samplers.GridSampler(workload.GRID))
def objective(trial):
    return workload.score({{k: trial.suggest_categorical(k, v) for k, v in workload.GRID.items()}})
study.optimize(objective, n_trials=40)
"""


def run_optuna(work: Path) -> dict[str, Any]:
    """Optuna's documented multi-process setup: one process per worker on a journal file."""
    import optuna

    journal = str(work / "optuna.journal")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    optuna.create_study(study_name="bench", storage=storage, direction="maximize")
    code = OPTUNA_WORKER.format(bench=str(BENCH), journal=journal)
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(WORKERS)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"optuna workers exited with {codes}")
    study = optuna.load_study(study_name="bench", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {"wall": wall, "best": study.best_value, "trials": len(done), "tracked": 0}


def run_ray(work: Path, reuse: bool) -> dict[str, Any]:
    import ray
    from ray import tune

    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    try:

        def trainable(config: dict[str, Any]) -> dict[str, float]:
            sys.path.insert(0, str(BENCH))
            import _tune_objective

            return {"score": _tune_objective.score(config)}

        space = {name: tune.grid_search(values) for name, values in workload.GRID.items()}
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(metric="score", mode="max", max_concurrent_trials=WORKERS, reuse_actors=reuse),
            run_config=tune.RunConfig(storage_path=str(work / "ray-results"), verbose=0),
        )
        started = time.perf_counter()
        results = tuner.fit()
        wall = time.perf_counter() - started
        best = results.get_best_result()
        return {"wall": wall, "best": best.metrics["score"], "trials": len(results), "tracked": 0}
    finally:
        ray.shutdown()


def main() -> None:
    contender, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    log = work / "trials.log"
    log.unlink(missing_ok=True)
    os.environ["CNAI_BENCH_TRIAL_LOG"] = str(log)
    runners = {
        "cnai": lambda: run_cnai(work),
        "cnai-10ms": lambda: run_cnai_10ms(work),
        "optuna": lambda: run_optuna(work),
        "ray-default": lambda: run_ray(work, reuse=False),
        "ray-reuse": lambda: run_ray(work, reuse=True),
    }
    out = runners[contender]()
    rows = [[float(v) for v in line.split()] for line in log.read_text().splitlines()] if log.exists() else []
    out.update(
        contender=contender,
        trial_sum=sum(r[0] for r in rows),
        import_sum=sum(r[1] for r in rows),
        trial_count=len(rows),
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
