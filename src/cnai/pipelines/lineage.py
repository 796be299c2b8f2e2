"""Lineage edges (artifact -> step -> artifact -> registered model version) as child-run tags, and
the DAG a UI draws, rebuilt from those runs.

Why tags and not a table: each edge is written in the same call that records its step, through the
MLflow REST API every cnai server (and MLflow itself) already serves, so a pipeline run against a
remote ``--tracking-uri`` records lineage with no extra endpoint and no migration for other
servers to match. The per-artifact tags hold one digest each, so "which steps read or wrote this
artifact" is an ordinary, indexed run search (``tags.`cnai.lineage.out` = 'sha256:...'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cnai.pipelines.dsl import Node

IN_PREFIX = "cnai.lineage.in."
OUT_TAG = "cnai.lineage.out"
OUTPUT_TAG = "cnai.lineage.output"
INPUTS_TAG = "cnai.lineage.inputs"
MODEL_TAG = "cnai.lineage.model"


def _artifacts(ref: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not ref:
        return []
    if ref.get("t") == "artifact":
        return [{"digest": ref["digest"], "uri": ref["uri"], "kind": ref["kind"]}]
    if ref.get("t") == "list":
        return [a for item in ref["items"] for a in _artifacts(item)]
    return []


def input_tags(node: Node, ref_for: Callable[[Any], dict[str, Any]]) -> dict[str, str]:
    inputs = []
    for arg, value in sorted(node.inputs.items()):
        found = _artifacts(ref_for(value))
        for art in found:
            producer = getattr(value, "node", None)
            inputs.append({"arg": arg, **art, "from": producer})
        if len(found) == 1:
            tag_arg = arg.replace("_", "-")
            inputs[-1]["tag"] = f"{IN_PREFIX}{tag_arg}"
    tags = {item.pop("tag"): item["digest"] for item in inputs if "tag" in item}
    if inputs:
        tags[INPUTS_TAG] = orjson.dumps(inputs).decode()
    return tags


def output_tags(output: dict[str, Any]) -> dict[str, str]:
    found = _artifacts(output)
    if not found:
        return {}
    tags = {OUTPUT_TAG: orjson.dumps(found).decode()}
    if len(found) == 1:
        tags[OUT_TAG] = found[0]["digest"]
    return tags


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run.get("data", {}).get("tags", [])}


def _upstream_first(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs by start time, then each step moved after the steps it depends on. Start times
    alone do not order a DAG: cached steps of one run often start within the same millisecond."""
    by_start = sorted(children, key=lambda r: (r["info"].get("start_time") or 0, r["info"]["run_id"]))
    steps = {_tags(r).get("cnai.pipeline.step") for r in by_start} - {None}
    placed: set[str] = set()
    out: list[dict[str, Any]] = []
    pending = by_start
    while pending:
        waiting = []
        for run in pending:
            tags = _tags(run)
            needs = {u for u in tags.get("cnai.pipeline.upstream", "").split(",") if u in steps} - placed
            if needs and "cnai.pipeline.item" not in tags:
                waiting.append(run)
                continue
            out.append(run)
            if "cnai.pipeline.item" not in tags and (step := tags.get("cnai.pipeline.step")):
                placed.add(step)
        if len(waiting) == len(pending):  # a cycle cannot come from a pipeline; keep what is left as it is
            out += waiting
            break
        pending = waiting
    return out


def dag(parent: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    """The pipeline run ``parent`` as nodes (steps and artifacts and model versions) and edges,
    from its child runs in MLflow's run JSON shape."""
    ptags = _tags(parent)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    artifacts: dict[str, dict[str, Any]] = {}
    models: set[str] = set()
    for run in _upstream_first(children):
        tags, info = _tags(run), run["info"]
        step = tags.get("cnai.pipeline.step")
        if step is None or "cnai.pipeline.item" in tags:
            continue
        start, end = info.get("start_time"), info.get("end_time")
        nodes.append(
            {
                "id": f"step:{step}",
                "type": "step",
                "name": step,
                "run_id": info["run_id"],
                "state": tags.get("cnai.pipeline.state", info.get("status", "").lower()),
                "cached": tags.get("cnai.pipeline.cached") == "true",
                "attempts": int(tags.get("cnai.pipeline.attempts", "0") or 0),
                "duration_ms": (end - start) if start and end else None,
                "error": tags.get("cnai.pipeline.error"),
                "finally": tags.get("cnai.pipeline.finally") == "true",
            }
        )
        for up in filter(None, tags.get("cnai.pipeline.upstream", "").split(",")):
            edges.append({"from": f"step:{up}", "to": f"step:{step}", "kind": "order"})
        for item in orjson.loads(tags.get(INPUTS_TAG, "[]")):
            artifacts.setdefault(item["digest"], {"uri": item["uri"], "kind": item["kind"]})
            edges.append(
                {"from": f"artifact:{item['digest']}", "to": f"step:{step}", "kind": "input", "arg": item["arg"]}
            )
        outputs = orjson.loads(tags.get(OUTPUT_TAG, "[]"))
        for item in outputs:
            artifacts.setdefault(item["digest"], {"uri": item["uri"], "kind": item["kind"]})
            edges.append({"from": f"step:{step}", "to": f"artifact:{item['digest']}", "kind": "output"})
        if MODEL_TAG in tags and outputs:
            models.add(tags[MODEL_TAG])
            edges.append(
                {"from": f"artifact:{outputs[0]['digest']}", "to": f"model:{tags[MODEL_TAG]}", "kind": "registered"}
            )
    nodes += [{"id": f"artifact:{d}", "type": "artifact", "digest": d, **a} for d, a in sorted(artifacts.items())]
    nodes += [
        {"id": f"model:{m}", "type": "model_version", "name": m.rsplit("/", 1)[0], "version": m.rsplit("/", 1)[1]}
        for m in sorted(models)
    ]
    return {
        "run_id": parent["info"]["run_id"],
        "pipeline": ptags.get("cnai.pipeline.name"),
        "status": ptags.get("cnai.pipeline.status", parent["info"].get("status", "").lower()),
        "error": ptags.get("cnai.pipeline.error"),
        "nodes": nodes,
        "edges": edges,
    }
