"""Run with kfp 2.17's interpreter: load a compiled pipeline YAML with kfp and check its structure.

Prints a JSON summary; exits non-zero with the reason when a check fails. Kept apart from the test
because kfp pins protobuf and requests below what the shared environment has.
"""

import json
import sys

import yaml
from google.protobuf import json_format
from kfp import components
from kfp.pipeline_spec import pipeline_spec_pb2


def main(path: str) -> None:
    with open(path) as f:
        doc = yaml.safe_load(f)
    # Strict: an unknown or misspelled field anywhere fails here.
    spec = json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec())
    component = components.load_component_from_file(path)
    problems = []
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    for name, comp in spec.components.items():
        if comp.executor_label not in executors:
            problems.append(f"{name}: executor {comp.executor_label} does not resolve")
    tasks = spec.root.dag.tasks
    for tname, task in tasks.items():
        comp = spec.components.get(task.component_ref.name)
        if comp is None:
            problems.append(f"task {tname}: component {task.component_ref.name} does not resolve")
            continue
        for pname, pspec in comp.input_definitions.parameters.items():
            if pname not in task.inputs.parameters and not pspec.is_optional:
                problems.append(f"task {tname}: input parameter {pname} is not bound")
        for aname in comp.input_definitions.artifacts:
            if aname not in task.inputs.artifacts:
                problems.append(f"task {tname}: input artifact {aname} is not bound")
        for pname, binding in task.inputs.parameters.items():
            kind = binding.WhichOneof("kind")
            if kind == "task_output_parameter":
                producer = binding.task_output_parameter.producer_task
                if producer not in task.dependent_tasks:
                    problems.append(f"task {tname}: {pname} reads {producer} without depending on it")
            elif kind == "component_input_parameter":
                if binding.component_input_parameter not in spec.root.input_definitions.parameters:
                    problems.append(f"task {tname}: {pname} reads an undeclared pipeline parameter")
        for dep in task.dependent_tasks:
            if dep not in tasks:
                problems.append(f"task {tname}: depends on unknown task {dep}")
    state = {}

    def visit(name, path):
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            problems.append(f"cycle through {' -> '.join([*path, name])}")
            return
        state[name] = 1
        for dep in tasks[name].dependent_tasks:
            if dep in tasks:
                visit(dep, [*path, name])
        state[name] = 2

    for name in tasks:
        visit(name, [])
    if problems:
        sys.exit("; ".join(problems))
    summary = {
        "name": component.name,
        "inputs": sorted(component.component_spec.inputs or {}),
        "tasks": {
            n: {
                "deps": sorted(t.dependent_tasks),
                "cache": t.caching_options.enable_cache,
                "retries": t.retry_policy.max_retry_count,
                "trigger": t.trigger_policy.condition
                or pipeline_spec_pb2.PipelineTaskSpec.TriggerPolicy.TriggerStrategy.Name(t.trigger_policy.strategy),
            }
            for n, t in tasks.items()
        },
    }
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
