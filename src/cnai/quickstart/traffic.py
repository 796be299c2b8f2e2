"""Production traffic for the quickstart: one wine per request through the deployment's router,
over the Open Inference Protocol v2 (one FP64 tensor per measurement), as a real client sends it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np
import pandas as pd

CONCURRENCY = 8


@dataclass
class Served:
    """What the clients saw: per model version, how many answers and how many were right."""

    request_ids: list[str] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    failed: int = 0

    def accuracy_by_version(self, labels: np.ndarray) -> dict[str, tuple[int, float]]:
        by_version: dict[str, list[bool]] = {}
        for version, predicted, label in zip(self.versions, self.predictions, labels, strict=True):
            by_version.setdefault(version, []).append(predicted == int(label))
        return {v: (len(hits), float(np.mean(hits))) for v, hits in sorted(by_version.items())}

    def share_by_version(self) -> dict[str, float]:
        counts = Counter(self.versions)
        total = sum(counts.values()) or 1
        return {v: n / total for v, n in sorted(counts.items())}


def send(url: str, model: str, rows: pd.DataFrame, advance: Callable[[], None] = lambda: None) -> Served:
    """Send every row as its own request, ``CONCURRENCY`` at a time; answers kept in row order."""
    return asyncio.run(_send(url, model, rows, advance))


async def _send(url: str, model: str, rows: pd.DataFrame, advance: Callable[[], None]) -> Served:
    columns = list(rows.columns)
    values = rows.to_numpy(dtype=np.float64)
    answers: list[tuple[str, int, str] | None] = [None] * len(values)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(values)):
        queue.put_nowait(i)
    endpoint = f"{url}/v2/models/{model}/infer"

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            request_id = uuid.uuid4().hex
            body = {
                "id": request_id,
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "FP64", "data": [float(values[i, j])]}
                    for j, c in enumerate(columns)
                ],
                "outputs": [{"name": "predict"}],
            }
            try:
                response = await client.post(endpoint, json=body, headers={"x-request-id": request_id})
                response.raise_for_status()
                answer = response.json()
                answers[i] = (request_id, int(answer["outputs"][0]["data"][0]), str(answer.get("model_version", "")))
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            advance()

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    served = Served()
    for answer in answers:
        if answer is None:
            served.failed += 1
            served.request_ids.append("")
            served.predictions.append(-1)
            served.versions.append("failed")
        else:
            served.request_ids.append(answer[0])
            served.predictions.append(answer[1])
            served.versions.append(answer[2])
    return served
