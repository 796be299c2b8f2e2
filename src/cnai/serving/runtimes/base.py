"""The runtime plug-in point: a loaded model that maps a batch of rows to named output arrays.

A runtime knows nothing of HTTP, batching or other models. Its ``predict`` receives one model input
(a 2-D numpy array, or a pandas DataFrame when ``needs_dataframe``) and the output names asked for,
and returns one array per name whose first dimension is the number of rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnai.serving.signature import Signature

ModelInput = Any  # np.ndarray (2-D) or pandas.DataFrame


@dataclass(frozen=True, slots=True)
class ModelDir:
    """A local MLflow model directory and its parsed ``MLmodel`` file."""

    path: Path
    mlmodel: dict[str, Any]
    signature: Signature

    @property
    def flavors(self) -> dict[str, Any]:
        return dict(self.mlmodel.get("flavors") or {})

    def input_example(self) -> Any | None:
        """The saved input example as a DataFrame (needs pandas), or None."""
        info = self.mlmodel.get("saved_input_example_info") or {}
        path = self.path / str(info.get("artifact_path", "input_example.json"))
        if info.get("type") != "dataframe" or not path.is_file():
            return None
        import orjson
        import pandas as pd

        doc = orjson.loads(path.read_bytes())
        if info.get("pandas_orient", "split") == "split" and isinstance(doc, dict):
            return pd.DataFrame(doc.get("data", []), columns=doc.get("columns"))
        return pd.DataFrame(doc)


class Runtime(ABC):
    """One loaded model. ``predict`` runs in the batcher's thread; it may raise anything."""

    flavor: str = "base"
    #: output names this model can produce, the default one first
    outputs: tuple[str, ...] = ("predict",)
    #: the model must receive a DataFrame with named columns (trained on one, or mixed types)
    needs_dataframe: bool = False
    #: NaN and infinities in float inputs reach predict; False when the model is known to refuse them
    #: (they are then a 400 for the caller instead of a 500 from inside predict)
    accepts_non_finite: bool = True

    def __init__(self, model_dir: ModelDir) -> None:
        self.model_dir = model_dir
        self.signature = model_dir.signature

    @abstractmethod
    def predict(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]: ...

    def close(self) -> None:  # noqa: B027 - optional hook, most runtimes hold nothing to release
        """Release what the model holds (sessions, threads); the default has nothing to release."""
