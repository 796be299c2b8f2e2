"""The DAG's steps come upstream first, whatever their start times say."""

from __future__ import annotations

from typing import Any

from cnai.pipelines.lineage import dag


def _run(run_id: str, step: str, upstream: str = "", start: int = 1000) -> dict[str, Any]:
    tags = {"cnai.pipeline.step": step, "cnai.pipeline.upstream": upstream, "cnai.pipeline.state": "succeeded"}
    return {
        "info": {"run_id": run_id, "start_time": start, "end_time": start + 1, "status": "FINISHED"},
        "data": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }


PARENT = {"info": {"run_id": "p"}, "data": {"tags": [{"key": "cnai.pipeline.name", "value": "arts"}]}}


def test_cached_steps_started_in_one_millisecond_come_upstream_first() -> None:
    # Run ids sort the wrong way round: a tie on start time used to put "train" first.
    children = [_run("c", "make-data"), _run("a", "train", "make-data"), _run("b", "evaluate", "train")]
    steps = [n["name"] for n in dag(PARENT, children)["nodes"] if n["type"] == "step"]
    assert steps == ["make-data", "train", "evaluate"]


def test_independent_steps_keep_their_start_order() -> None:
    children = [_run("z", "late", start=2000), _run("y", "early", start=1000), _run("x", "join", "early,late", 1500)]
    steps = [n["name"] for n in dag(PARENT, children)["nodes"] if n["type"] == "step"]
    assert steps == ["early", "late", "join"]
