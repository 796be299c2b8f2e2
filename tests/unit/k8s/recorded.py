"""Load the recorded API objects in tests/data/k8s-objects/ (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OBJECTS = Path(__file__).resolve().parents[2] / "data" / "k8s-objects"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OBJECTS / f"{name}.json").read_text())
    return data
