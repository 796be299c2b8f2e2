"""``GET /api/v1/pipelines/runs/{run_id}``: a pipeline run's DAG and lineage, for the web UI and
scripts: step nodes with state, duration, attempts and cache hit; artifact and model-version nodes;
order, input, output and registration edges (see :func:`cnai.pipelines.lineage.dag`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cnai.errors import InvalidArgument
from cnai.pipelines.lineage import dag
from cnai.resources.http import handler, json_response
from cnai.tracking.runs import RunStore

MAX_STEPS = 10_000


def pipeline_dag(runs: RunStore, run_id: str) -> dict[str, object]:
    parent = runs.get(run_id)
    tags = {t["key"]: t["value"] for t in parent["data"].get("tags", [])}
    if "cnai.pipeline.name" not in tags:
        raise InvalidArgument(f"Run {run_id} is not a pipeline run")
    exp = parent["info"]["experiment_id"]
    children: list[dict[str, Any]] = []
    token: str | None = None
    while len(children) < MAX_STEPS:
        page, token = runs.search([exp], f"tags.`mlflow.parentRunId` = '{run_id}'", None, 1000, None, token)
        children += page
        if not token:
            break
    return dag(parent, children)


def routes(runs: RunStore) -> list[Route]:
    @handler
    async def get_pipeline_run(request: Request) -> Response:
        return json_response(await run_in_threadpool(pipeline_dag, runs, request.path_params["run_id"]))

    return [Route("/api/v1/pipelines/runs/{run_id}", get_pipeline_run, methods=["GET"])]
