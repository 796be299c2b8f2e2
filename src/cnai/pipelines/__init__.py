"""ML pipelines: ``@step`` functions composed by ``@pipeline``, cached by content, retried,
tracked as a parent run with a child run per step, and compiled to Kubeflow Pipelines or Argo.

Only the DSL is imported here: a worker process running a step imports this package, and the
store, tracking and executor machinery it does not need would cost it start-up time.
See :mod:`cnai.pipelines.service` for running and planning.
"""

from __future__ import annotations

from cnai.pipelines.dsl import (
    Pipeline,
    PipelineError,
    Ref,
    Step,
    for_each,
    on_exit,
    pipeline,
    pipeline_status,
    step,
    when,
)
from cnai.pipelines.types import Artifact, Dataset, File, Metrics, Model

__all__ = [
    "Artifact",
    "Dataset",
    "File",
    "Metrics",
    "Model",
    "Pipeline",
    "PipelineError",
    "Ref",
    "Step",
    "for_each",
    "on_exit",
    "pipeline",
    "pipeline_status",
    "step",
    "when",
]
