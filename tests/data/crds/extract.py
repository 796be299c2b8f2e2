"""Regenerate the CRD schemas in this folder from the published CustomResourceDefinitions.

    python tests/data/crds/extract.py /path/to/k8s-schemas

For each CRD: the ``openAPIV3Schema`` of every served version, with ``description`` texts
dropped (they are most of the bytes and validation does not read them); nothing else changes.
The sources are listed in README.md; each project's licence (Apache-2.0) applies to its schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
SOURCES = {
    "serving.kserve.io_inferenceservices.yaml": "inferenceservice.json",
    "serving.knative.dev_services.yaml": "knative-service.json",
    "keda.sh_scaledobjects.yaml": "keda-scaledobject.json",
    "monitoring.coreos.com_servicemonitors.yaml": "servicemonitor.json",
}


def strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: strip_descriptions(v)
            for k, v in node.items()
            # "description" as a key of "properties" is a field name (e.g. a CRD's own field): keep it.
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def extract(crd: dict[str, Any]) -> dict[str, Any]:
    names = crd["spec"]["names"]
    return {
        "group": crd["spec"]["group"],
        "kind": names["kind"],
        "scope": crd["spec"]["scope"],
        "versions": {
            v["name"]: strip_descriptions(v["schema"]["openAPIV3Schema"])
            for v in crd["spec"]["versions"]
            if v.get("served", True)
        },
    }


def main(source_dir: Path) -> None:
    for source, target in SOURCES.items():
        crd = yaml.safe_load((source_dir / source).read_text())
        (HERE / target).write_text(json.dumps(extract(crd), sort_keys=True, separators=(",", ":")) + "\n")
        sys.stdout.write(f"{source} -> {target}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
