"""``python -m cnai.pipelines.entry``: run one step inside a container started by Kubeflow
Pipelines or Argo Workflows, with the engine's own files as inputs and outputs.

The compiled spec embeds the pipeline file (base64), so the image needs only cnai. Each
``--input NAME=value:TEXT`` is a parameter (JSON, or the raw text for ``str`` inputs); each
``--input NAME=artifact:KIND:PATH`` a file or directory the engine put in place. ``--output
value:PATH`` receives the return value as JSON; ``--output artifact:PATH`` a copy of the returned
artifact.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from cnai.pipelines import loader
from cnai.pipelines.dsl import Step
from cnai.pipelines.types import _OUTPUT_DIR, ARTIFACT_TYPES, Artifact


def _value(text: str, annotation: Any) -> Any:
    if annotation is str:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnai.pipelines.entry", description=__doc__)
    parser.add_argument("--source-b64", required=True)
    parser.add_argument("--filename", default="pipeline.py")
    parser.add_argument("--module", required=True)
    parser.add_argument("--qualname", required=True)
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    source = base64.b64decode(args.source_b64).decode()
    module = loader.load_source(args.module, source, args.filename)
    step = loader.resolve(module, args.qualname)
    if not isinstance(step, Step):
        sys.stderr.write(f"{args.module}.{args.qualname} is not a @step\n")
        return 2
    kwargs: dict[str, Any] = {}
    for spec in args.input:
        name, _, rest = spec.partition("=")
        kind, _, payload = rest.partition(":")
        if kind == "artifact":
            art_kind, _, path = payload.partition(":")
            kwargs[name] = ARTIFACT_TYPES.get(art_kind, Artifact)(path)
        elif name in step.signature.parameters:
            kwargs[name] = _value(payload, step.input_types.get(name))
    out_dir = Path(tempfile.mkdtemp(prefix="cnai-step-"))
    _OUTPUT_DIR.set(out_dir)
    result = step.fn(**kwargs)
    kind, _, target = args.output.partition(":")
    if kind == "artifact":
        if not isinstance(result, Artifact):
            sys.stderr.write(f"step {step.name!r} must return an artifact, not a {type(result).__name__}\n")
            return 2
        dest = Path(target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if result.path.is_dir():
            shutil.copytree(result.path, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(result.path, dest)
    elif kind == "value":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(result if isinstance(result, str) and step.output_type is str else json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
