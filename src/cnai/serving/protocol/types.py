"""Decoded inference requests: plain dataclasses over numpy arrays (no pydantic on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class Tensor:
    """One named input or output; ``data`` already has ``shape`` and the datatype's dtype."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray


@dataclass(slots=True, frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(slots=True)
class InferRequest:
    inputs: list[Tensor]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None  # None: the model's default outputs
    binary_output: bool = False  # request-level ``binary_data_output``
    parameters: dict[str, Any] = field(default_factory=dict)
