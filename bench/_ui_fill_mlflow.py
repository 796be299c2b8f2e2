"""Fill a stock MLflow SQLite database for bench/ui.py; runs inside bench/.venvs/mlflow-stock.

    python _ui_fill_mlflow.py DB_URI ARTIFACT_ROOT RUNS METRICS STEPS COMPARED

MLflow's own store creates the schema and the experiments; the rows are then inserted in bulk
through its engine (one transaction per table), because 10,000 ``log_batch`` calls would take
longer than the benchmark itself. The rows are what ``log_batch`` writes: runs, their tags
(run name), params, metric points and the latest value per metric. Prints the experiment ids and
the compared run ids as JSON.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import sqlalchemy as sa
from mlflow.entities import ExperimentTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore


def main() -> None:
    db_uri, artifact_root = sys.argv[1], sys.argv[2]
    n_runs, n_metrics, steps, compared = (int(x) for x in sys.argv[3:7])
    store = SqlAlchemyStore(db_uri, artifact_root)
    big = store.create_experiment("ui-bench-runs")
    cmp_exp = store.create_experiment("ui-bench-compare")
    # MLflow 3's UI opens an experiment of unknown kind on its GenAI overview; this tag (what its
    # "Model training" toggle sets) makes it open on the runs table, as a training user sees it.
    for exp in (big, cmp_exp):
        store.set_experiment_tag(exp, ExperimentTag("mlflow.experimentKind", "custom_model_development"))
    now = int(time.time() * 1000)
    run_rows, tag_rows, param_rows, metric_rows, latest_rows = [], [], [], [], []
    compared_ids = []

    def add_run(exp: str, i: int, name: str) -> str:
        rid = uuid.uuid4().hex
        start = now - i * 1000
        run_rows.append(
            {
                "run_uuid": rid,
                "name": name,
                "source_type": "LOCAL",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": start,
                "end_time": start + 500,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{artifact_root}/{exp}/{rid}/artifacts",
                "experiment_id": int(exp),
            }
        )
        tag_rows.append({"key": "mlflow.runName", "value": name, "run_uuid": rid})
        for p in range(5):
            param_rows.append({"key": f"p{p}", "value": str((i * 7 + p) % 13), "run_uuid": rid})
        return rid

    for i in range(n_runs):
        rid = add_run(big, i, f"bench-run-{i:05d}")
        for m in range(n_metrics):
            value = ((i * 31 + m * 17) % 1000) / 1000
            point = {"key": f"m{m:02d}", "value": value, "timestamp": now, "step": 0, "is_nan": False, "run_uuid": rid}
            metric_rows.append(point)
            latest_rows.append(point)
    for i in range(compared):
        rid = add_run(cmp_exp, i, f"cmp-run-{i}")
        compared_ids.append(rid)
        for s in range(steps):
            point = {
                "key": "loss",
                "value": 2.0 / (1 + s * (i + 1) * 0.01),
                "timestamp": now + s * 10,
                "step": s,
                "is_nan": False,
                "run_uuid": rid,
            }
            metric_rows.append(point)
        latest_rows.append(point)
    meta = sa.MetaData()
    meta.reflect(store.engine, only=["runs", "tags", "params", "metrics", "latest_metrics"])
    with store.engine.begin() as conn:
        for table, rows in (
            ("runs", run_rows),
            ("tags", tag_rows),
            ("params", param_rows),
            ("metrics", metric_rows),
            ("latest_metrics", latest_rows),
        ):
            conn.execute(meta.tables[table].insert(), rows)
    print(json.dumps({"experiment": big, "compare_experiment": cmp_exp, "compared": compared_ids}))


if __name__ == "__main__":
    main()
