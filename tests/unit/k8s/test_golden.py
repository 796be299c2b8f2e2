"""Golden files: what `cnai k8s render` writes for fixed specs, byte for byte.

A change to rendering shows up as a diff here, to be read and accepted on purpose:

    CNAI_UPDATE_GOLDEN=1 pytest tests/unit/k8s/test_golden.py    # rewrite golden/*.yaml
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from cnai.k8s import render_text
from cnai.k8s.output import dump_manifests
from tests.unit.k8s.cases import options, text

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CNAI_UPDATE_GOLDEN") == "1"
SCENARIOS = [
    ("full", "kubernetes", "hpa"),
    ("full", "kubernetes", "keda"),
    ("full", "kserve", "knative"),
    ("full", "knative", "knative"),
    ("gpu-scale-to-zero", "kubernetes", "keda"),
    ("gpu-scale-to-zero", "kserve", "keda"),
    ("gpu-scale-to-zero", "knative", "knative"),
    ("local-path", "kubernetes", "hpa"),
]


@pytest.mark.parametrize(("case", "target", "autoscaler"), SCENARIOS)
def test_render_matches_golden_file(case: str, target: str, autoscaler: str) -> None:
    rendered = render_text(text(case), options(target, autoscaler, namespace="ml"))
    got = "".join(f"# {r.filename}\n{dump_manifests(r.manifests)}" for r in rendered)
    path = GOLDEN / f"{case}-{target}-{autoscaler}.yaml"
    if UPDATE:
        path.write_text(got)
    assert path.exists(), f"{path.name} is missing: run with CNAI_UPDATE_GOLDEN=1 to create it"
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "rendered"))
        pytest.fail(f"{path.name} differs (CNAI_UPDATE_GOLDEN=1 accepts the new output):\n{diff}")
