"""The chart's checks run the real helm binary (3.17), fetched once by scripts/get-helm.sh."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "deploy" / "helm" / "cnai"
PRODUCTION_VALUES = CHART / "values-production.yaml"

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm() -> Path:
    """HELM=path wins; otherwise the pinned helm under .tools/, installed on first use (seconds)."""
    if os.environ.get("HELM"):
        return Path(os.environ["HELM"])
    result = subprocess.run(
        [str(REPO / "scripts" / "get-helm.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        found = shutil.which("helm")
        if found is None:
            pytest.fail(f"scripts/get-helm.sh could not install helm: {result.stderr.strip()}")
        return Path(found)
    return Path(result.stdout.strip().splitlines()[-1])


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """``render(*helm_args)``: the documents `helm template cnai CHART -n cnai ...` prints (each
    setup rendered once per session; callers get their own copy)."""
    rendered: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _render(*args: str) -> list[dict[str, Any]]:
        if args not in rendered:
            result = run_helm(helm, "template", "cnai", str(CHART), "--namespace", "cnai", *args)
            assert result.returncode == 0, result.stderr
            rendered[args] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return copy.deepcopy(rendered[args])

    return _render
