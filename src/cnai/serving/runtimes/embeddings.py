"""Sentence embeddings through sentence-transformers, batched across concurrent requests.

Requests queue their inputs; one task takes everything waiting (up to ``max_batch`` sentences,
after at most ``max_delay_s``) and encodes it as one batch in a worker thread, so sixteen clients
sending one sentence each cost about one batch of sixteen, not sixteen forward passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnai.errors import InvalidArgument, Unavailable

MARKERS = ("modules.json", "config_sentence_transformers.json")


def is_sentence_transformers_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in MARKERS)


@dataclass(frozen=True, slots=True)
class Embedded:
    vectors: np.ndarray  # float32, one row per input
    tokens: int


class SentenceEmbedder:
    flavor = "sentence_transformers"

    def __init__(
        self,
        path: Path,
        *,
        max_batch: int = 64,
        max_delay_s: float = 0.002,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise Unavailable(
                f"{path} is a sentence-transformers model, and sentence-transformers is not installed: "
                "pip install 'cnai[embeddings]'"
            ) from None
        self.path = path
        self.model = SentenceTransformer(str(path), device="cpu")
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimensions = int(dimension() or 0)
        self.max_tokens = int(self.model.max_seq_length)
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.on_batch = on_batch  # called with the sentences of each encode
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future[Embedded]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def embed(self, texts: list[str]) -> Embedded:
        if not texts:
            raise InvalidArgument("input is empty")
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._loop())
        future: asyncio.Future[Embedded] = asyncio.get_running_loop().create_future()
        await self._queue.put((texts, future))
        return await future

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0][0])
            deadline = loop.time() + self.max_delay_s
            while size < self.max_batch:
                timeout = deadline - loop.time()
                try:
                    job = (
                        self._queue.get_nowait() if timeout <= 0 else await asyncio.wait_for(self._queue.get(), timeout)
                    )
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                jobs.append(job)
                size += len(job[0])
            jobs = [j for j in jobs if not j[1].done()]  # a client that left
            if not jobs:
                continue
            texts = [t for inputs, _ in jobs for t in inputs]
            if self.on_batch is not None:
                self.on_batch(len(texts))
            try:
                vectors, counts = await asyncio.to_thread(self._encode, texts)
            except Exception as exc:
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for inputs, future in jobs:
                end = start + len(inputs)
                if not future.done():
                    future.set_result(Embedded(vectors[start:end], int(counts[start:end].sum())))
                start = end

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        features = self.model.tokenizer(texts, truncation=True, max_length=self.max_tokens)
        counts = np.array([len(ids) for ids in features["input_ids"]])
        vectors: Any = self.model.encode(texts, batch_size=self.max_batch, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32), counts

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
