"""One measured pipeline run in a fresh process (called by bench/pipeline.py); prints JSON.

    python _pipeline_run.py cnai FILE HOME      # cnai's local executor, embedded store in HOME
    python _pipeline_run.py kfp FILE ROOT       # the kfp file's pipeline on kfp.local's SubprocessRunner

Imports are timed apart: the number that matters for per-step overhead is the run itself.
"""

from __future__ import annotations

import json
import runpy
import sys
import time


def cnai(file: str, home: str) -> dict[str, object]:
    t0 = time.perf_counter()
    import cnai.pipelines.executors.local
    import cnai.pipelines.tracking
    import cnai.registry.store
    import cnai.tracking.runs  # imported here so they are timed as imports, as kfp's are
    from cnai.pipelines import service
    from cnai.settings import Settings

    imported = time.perf_counter() - t0
    settings = Settings(home=home)
    # A user's CNAI_HOME already holds a store: creating its schema (first use only) is timed
    # apart, as imports are; the cache is still empty on a first run.
    t_store = time.perf_counter()
    cnai.pipelines.tracking.StoreTracker(settings).close()
    store_init = time.perf_counter() - t_store
    t1 = time.perf_counter()
    loaded = service.load(file, None, {})
    planned = service.plan(loaded, settings)
    t2 = time.perf_counter()
    report = service.run(loaded, settings)
    t3 = time.perf_counter()
    return {
        "import_s": imported,
        "store_init_s": store_init,
        "plan_s": t2 - t1,
        "run_s": t3 - t2,
        "status": report.status,
        "output": report.output,
        "executed": report.executed,
        "predicted_run": sorted(s.name for s in planned if not s.cached),
        "ran": sorted(s.name for s in report.steps if not s.cached),
    }


def kfp(file: str, root: str) -> dict[str, object]:
    t0 = time.perf_counter()
    namespace = runpy.run_path(file)  # defines the components and the pipeline; kfp imported here
    imported = time.perf_counter() - t0
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
    t1 = time.perf_counter()
    task = namespace["chain"](x=0)
    t2 = time.perf_counter()
    return {"import_s": imported, "run_s": t2 - t1, "status": "succeeded", "output": task.output}


if __name__ == "__main__":
    tool, file, where = sys.argv[1:4]
    result = cnai(file, where) if tool == "cnai" else kfp(file, where)
    print(json.dumps(result))
