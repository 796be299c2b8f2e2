"""Kubeflow Pipelines: the pipeline IR (``PipelineSpec``, schema 2.1.0) as YAML.

One component and one executor per step (a container of the cnai image running
``cnai.pipelines.entry``), tasks wired with ``componentInputParameter`` /
``taskOutputParameter`` / ``taskOutputArtifact``; ``cachingOptions`` and ``retryPolicy`` carry the
step's settings, resources go on the container, a ``when`` becomes the task's ``triggerPolicy``
condition and a ``finally`` step runs with ``ALL_UPSTREAM_TASKS_COMPLETED``. Not compiled yet:
``for_each`` (it needs a ParallelFor sub-DAG) and ``pipeline_status()`` (passed as "unknown").
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import yaml

from cnai import __version__
from cnai.pipelines.compilers import entry_args
from cnai.pipelines.dsl import Node, PipelineError, Ref
from cnai.pipelines.types import is_artifact_type

if TYPE_CHECKING:
    from cnai.pipelines.service import Loaded

PARAM_TYPES = {
    int: "NUMBER_INTEGER",
    float: "NUMBER_DOUBLE",
    str: "STRING",
    bool: "BOOLEAN",
    list: "LIST",
    dict: "STRUCT",
}
SCHEMA = {"Dataset": "system.Dataset", "Model": "system.Model", "Metrics": "system.Metrics"}
OUT = "Output"


def _ptype(annotation: Any) -> str:
    return PARAM_TYPES.get(getattr(annotation, "__origin__", annotation), "STRING")


def _atype(annotation: Any) -> dict[str, str]:
    return {"schemaTitle": SCHEMA.get(getattr(annotation, "kind", ""), "system.Artifact"), "schemaVersion": "0.0.1"}


def _channel(node: str) -> str:
    return f"pipelinechannel--{node}-{OUT}"


def _cel(value: Any) -> str:
    return json.dumps(value)


def compile_kfp(loaded: Loaded, image: str) -> str:
    graph = loaded.graph
    components: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    tasks: dict[str, Any] = {}
    for name in graph.order():
        node = graph.nodes[name]
        if node.fan_out is not None:
            raise PipelineError(f"Step {name!r}: for_each is not supported by the kfp compiler yet; use --target argo")
        comp_in: dict[str, Any] = {"parameters": {}, "artifacts": {}}
        task_in: dict[str, Any] = {"parameters": {}, "artifacts": {}}
        args = entry_args(loaded, node)
        deps: set[str] = set(node.after)
        for arg, value in sorted(node.inputs.items()):
            annotation = node.step.input_types.get(arg)
            artifact = _is_artifact_input(loaded, node, value)
            if artifact:
                comp_in["artifacts"][arg] = {"artifactType": _atype(annotation)}
                task_in["artifacts"][arg] = _artifact_binding(value)
                kind = getattr(annotation, "kind", "Artifact")
                args += ["--input", f"{arg}=artifact:{kind}:{{{{$.inputs.artifacts['{arg}'].path}}}}"]
            else:
                comp_in["parameters"][arg] = {"parameterType": _ptype(annotation)}
                task_in["parameters"][arg] = _param_binding(value)
                args += ["--input", f"{arg}=value:{{{{$.inputs.parameters['{arg}']}}}}"]
            if isinstance(value, Ref) and value.node is not None:
                deps.add(value.node)
        task: dict[str, Any] = {"taskInfo": {"name": name}, "componentRef": {"name": f"comp-{name}"}}
        if node.conditions:
            clauses = []
            for cond in node.conditions:
                if cond.op == "in":
                    raise PipelineError(f"Step {name!r}: the kfp compiler supports comparisons, not 'in'")
                channel = cond.ref.param if cond.ref.param is not None else _channel(str(cond.ref.node))
                comp_in["parameters"][channel] = {
                    "parameterType": "STRING" if cond.ref.node else _ptype(graph.params[channel][0])
                }
                task_in["parameters"][channel] = _param_binding(cond.ref)
                if cond.ref.node:
                    deps.add(cond.ref.node)
                clauses.append(f"inputs.parameter_values['{channel}'] {cond.op} {_cel(cond.value)}")
            task["triggerPolicy"] = {"condition": " && ".join(clauses)}
        if node.is_finally:
            deps |= {n for n, other in graph.nodes.items() if not other.is_finally}
            task["triggerPolicy"] = {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
        if deps:
            task["dependentTasks"] = sorted(deps)
        task["inputs"] = {k: v for k, v in task_in.items() if v}
        task["cachingOptions"] = {"enableCache": bool(node.step.options.cache and not node.is_finally)}
        if node.step.options.retries:
            task["retryPolicy"] = {
                "maxRetryCount": node.step.options.retries,
                "backoffDuration": f"{node.step.options.backoff:g}s",
                "backoffFactor": 2,
                "backoffMaxDuration": "3600s",
            }
        out_type = node.step.output_type
        comp_out: dict[str, Any]
        if is_artifact_type(out_type):
            comp_out = {"artifacts": {OUT: {"artifactType": _atype(out_type)}}}
            args += ["--output", f"artifact:{{{{$.outputs.artifacts['{OUT}'].path}}}}"]
        else:
            comp_out = {"parameters": {OUT: {"parameterType": _ptype(out_type)}}}
            args += ["--output", f"value:{{{{$.outputs.parameters['{OUT}'].output_file}}}}"]
        component: dict[str, Any] = {"executorLabel": f"exec-{name}", "outputDefinitions": comp_out}
        if any(comp_in.values()):
            component["inputDefinitions"] = {k: v for k, v in comp_in.items() if v}
        components[f"comp-{name}"] = component
        container: dict[str, Any] = {"image": image, "command": ["python", "-m", "cnai.pipelines.entry"], "args": args}
        resources = _resources(dict(node.step.options.resources))
        if resources:
            container["resources"] = resources
        executors[f"exec-{name}"] = {"container": container}
        tasks[name] = task
    root: dict[str, Any] = {"dag": {"tasks": tasks}}
    root_in = _root_inputs(loaded)
    if root_in:
        root["inputDefinitions"] = root_in
    spec = {
        "components": components,
        "deploymentSpec": {"executors": executors},
        "pipelineInfo": {"name": _k8s_name(graph.name)},
        "root": root,
        "schemaVersion": "2.1.0",
        "sdkVersion": f"cnai-{__version__}",
    }
    header = (
        f"# PIPELINE DEFINITION\n# Name: {_k8s_name(graph.name)}\n# Generated by cnai pipeline compile --target kfp\n"
    )
    body: str = yaml.safe_dump(spec, sort_keys=False, width=1 << 20)
    return header + body


def _is_artifact_input(loaded: Loaded, node: Node, value: Any) -> bool:
    if not isinstance(value, Ref):
        return False
    if value.node is not None:
        return is_artifact_type(loaded.graph.nodes[value.node].step.output_type)
    if value.param is not None:
        return is_artifact_type(loaded.graph.params[value.param][0])
    return False


def _artifact_binding(ref: Ref) -> dict[str, Any]:
    if ref.node is not None:
        return {"taskOutputArtifact": {"producerTask": ref.node, "outputArtifactKey": OUT}}
    return {"componentInputArtifact": ref.param}


def _param_binding(value: Any) -> dict[str, Any]:
    if isinstance(value, Ref):
        if value.node is not None:
            return {"taskOutputParameter": {"producerTask": value.node, "outputParameterKey": OUT}}
        if value.param is not None:
            return {"componentInputParameter": value.param}
        return {"runtimeValue": {"constant": "unknown"}}
    return {"runtimeValue": {"constant": value}}


def _root_inputs(loaded: Loaded) -> dict[str, Any]:
    import inspect

    params: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    for name, (annotation, default) in loaded.graph.params.items():
        if is_artifact_type(annotation):
            artifacts[name] = {"artifactType": _atype(annotation)}
            continue
        entry: dict[str, Any] = {"parameterType": _ptype(annotation)}
        if default is not inspect.Parameter.empty:
            entry["defaultValue"] = default
            entry["isOptional"] = True
        params[name] = entry
    return {k: v for k, v in (("parameters", params), ("artifacts", artifacts)) if v}


def _resources(res: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "cpu" in res:
        out["resourceCpuLimit"] = str(res["cpu"])
        out["resourceCpuRequest"] = str(res["cpu"])
    if "memory" in res:
        out["resourceMemoryLimit"] = _kfp_memory(res["memory"])
        out["resourceMemoryRequest"] = _kfp_memory(res["memory"])
    if "gpu" in res:
        out["accelerator"] = {"resourceType": res.get("gpu_type", "nvidia.com/gpu"), "resourceCount": str(res["gpu"])}
    return out


def _kfp_memory(value: str) -> str:
    return value


def _k8s_name(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "pipeline"
