"""Run Evidently's default DataDriftPreset and return its per-column verdicts, to compare with cnai's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class EvidentlyVerdicts:
    drifted: dict[str, bool]  # column -> drift detected
    method: dict[str, str]  # column -> display name of the test Evidently chose
    score: dict[str, float]
    share: float


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame, **preset: Any) -> EvidentlyVerdicts:
    """``preset`` goes to ``DataDriftPreset`` (e.g. ``per_column_method``); none means its defaults."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset(**preset)], include_tests=True).run(current, reference)
    data = snapshot.dict()
    method: dict[str, str] = {}
    score: dict[str, float] = {}
    share = float("nan")
    for m in data["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            method[cfg["column"]] = cfg["method"]
            score[cfg["column"]] = float(m["value"])
        elif cfg["type"].endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
    drifted = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in data["tests"]
        if t["metric_config"]["params"]["type"].endswith("ValueDrift")
    }
    return EvidentlyVerdicts(drifted=drifted, method=method, score=score, share=share)
