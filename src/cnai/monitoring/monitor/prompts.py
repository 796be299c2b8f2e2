"""``tests.promptDrift``: a window's LLM prompts, embedded, against a reference of prompts.

Where the numbers come from, and why this way:

- **Prompts**: the ``prompt`` input of the LLM's inference events (for chat, the messages'
  contents joined by newlines). A replica logs them only with ``--llm-capture-content`` (a
  Deployment's ``llm.captureContent: true``); otherwise a window holds requests but no prompts,
  and its result says so.
- **Embeddings**: asked of a cnai Deployment serving a sentence-transformers model, named in the
  spec (``embeddings``), through that deployment's router on this machine: ``POST /v1/embeddings``
  in batches of :data:`BATCH`. The control plane stays free of torch, and the embedding model is
  versioned, rolled out and scaled like any other. The address is the one the deployment
  controller recorded in the Deployment's status, and only a loopback or wildcard one is used
  (connecting to 127.0.0.1), so a spec cannot point the control plane at another host.
- **Reference**: read once per spec generation; embedded at the first window and again only when
  the embedding model's version (the router's ``x-cnai-model-version``) changes, since vectors of
  two models cannot be compared.
- **Verdict**: :func:`cnai.monitoring.drift.embeddings.embedding_drift`, Evidently's methods.

Embedding runs inside the monitor controller's consume step (off the event loop, outside any
database transaction), so a slow embeddings deployment delays the windows of every monitor; each
request has a timeout (:data:`TIMEOUT_S`) and a failure is the window's ``promptDrift.error``,
never a breach. Prompt text is kept only while its window is open; results hold numbers only.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
import pyarrow as pa

from cnai.errors import CnaiError, InvalidState, NotFound
from cnai.monitoring.drift.embeddings import embedding_drift
from cnai.monitoring.io import TableSource
from cnai.monitoring.monitor.rows import Row
from cnai.monitoring.monitor.spec import PromptDrift
from cnai.resources.store import ResourceStore

log = logging.getLogger("cnai.monitoring")

PROMPT_INPUT = "prompt"  # the LLM inference event's input that holds the prompt
DEPLOYMENT_KIND = "Deployment"
BATCH = 64  # sentences per /v1/embeddings request (what one replica encodes at once)
MAX_PROMPT_CHARS = 4096  # sentence-transformers models read a few hundred tokens; the rest is cut anyway
MAX_REFERENCE_PROMPTS = 10_000
TIMEOUT_S = 60.0  # a scaled-to-zero deployment starts within its activation timeout (60 s)
VERSION_HEADER = "x-cnai-model-version"
CAPTURE_HINT = (
    "the LLM deployment must log prompts: set spec.llm.captureContent: true on it (cnai serve --llm-capture-content)"
)


def reference_prompts(source: TableSource, column: str) -> list[str]:
    """The non-empty texts of ``column``; InvalidState when the column is missing, not text, or empty."""
    if column not in source.schema.names:
        raise InvalidState(
            f"promptDrift reference {source.name} has no column {column!r} (columns: {', '.join(source.schema.names)})"
        )
    values = source.column(column)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise InvalidState(f"promptDrift reference column {column!r} holds {values.type}, not text")
    texts = [v for v in values.to_pylist() if isinstance(v, str) and v.strip()]
    if len(texts) < 2:
        raise InvalidState(f"promptDrift reference column {column!r} holds {len(texts)} prompt(s); at least 2 needed")
    if len(texts) > MAX_REFERENCE_PROMPTS:
        raise InvalidState(
            f"promptDrift reference holds {len(texts)} prompts; at most {MAX_REFERENCE_PROMPTS} (sample it)"
        )
    return texts


def clip_prompts(rows: list[Row]) -> list[Row]:
    """The rows with each prompt cut to what the embedding reads, so an open window's buffer in
    the database stays bounded by the window's size, not by how long users' prompts are."""
    out = []
    for r in rows:
        prompt = r.values.get(PROMPT_INPUT)
        if isinstance(prompt, str) and len(prompt) > MAX_PROMPT_CHARS:
            r = replace(r, values={**r.values, PROMPT_INPUT: prompt[:MAX_PROMPT_CHARS]})
        out.append(r)
    return out


def window_prompts(rows: Sequence[Row]) -> tuple[list[str], int]:
    """(the prompts of the window's requests, how many requests the window holds)."""
    prompts = [v for r in rows if isinstance(v := r.values.get(PROMPT_INPUT), str) and v.strip()]
    requests = sum(1 for r in rows if r.service is not None)
    return prompts, requests


@dataclass
class PromptState:
    """One monitor's reference prompts and, once embedded, their vectors and the model version."""

    texts: list[str]
    version: str | None = None
    vectors: np.ndarray | None = field(default=None, repr=False)


class EmbeddingsClient:
    """Embeds texts with a cnai Deployment, found by name in the resource store."""

    def __init__(self, resources: ResourceStore, http: httpx.Client | None = None) -> None:
        self.resources = resources
        # No proxy from the environment and no redirects: the request goes to the loopback router.
        self.http = http or httpx.Client(trust_env=False, follow_redirects=False, timeout=TIMEOUT_S)

    def close(self) -> None:
        self.http.close()

    def endpoint(self, deployment: str) -> tuple[str, str]:
        """(the embeddings URL on this machine, the served model name) of ``deployment``."""
        try:
            resource = self.resources.get(DEPLOYMENT_KIND, deployment)
        except NotFound:
            raise InvalidState(f"embeddings deployment {deployment!r} does not exist") from None
        status = resource.status
        port, url = status.get("port"), status.get("url")
        if not isinstance(port, int) or not isinstance(url, str):
            phase = status.get("phase") or "not started"
            raise InvalidState(f"embeddings deployment {deployment!r} has no router yet (phase {phase})")
        host = urlparse(url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if host != "localhost" and (address is None or not (address.is_loopback or address.is_unspecified)):
            raise InvalidState(
                f"embeddings deployment {deployment!r} is served at {host}, not on this machine's loopback"
            )
        loopback = "[::1]" if address is not None and address.version == 6 else "127.0.0.1"
        served = resource.spec.get("servedName") or deployment
        return f"http://{loopback}:{port}/v1/embeddings", str(served)

    def embed(self, deployment: str, texts: Sequence[str]) -> tuple[np.ndarray, str]:
        """(one row per text, the model version that embedded them all)."""
        url, model = self.endpoint(deployment)
        vectors: list[list[float]] = []
        versions: set[str] = set()
        for start in range(0, len(texts), BATCH):
            batch = [t[:MAX_PROMPT_CHARS] for t in texts[start : start + BATCH]]
            try:
                answer = self.http.post(url, json={"model": model, "input": batch})
            except httpx.HTTPError as exc:
                raise InvalidState(f"embeddings deployment {deployment!r}: {type(exc).__name__}: {exc}") from None
            if answer.status_code != 200:
                raise InvalidState(
                    f"embeddings deployment {deployment!r} answered {answer.status_code}: {_error_text(answer)}"
                )
            data = answer.json().get("data")
            if not isinstance(data, list) or len(data) != len(batch):
                raise InvalidState(f"embeddings deployment {deployment!r} answered without one vector per input")
            vectors.extend(item["embedding"] for item in sorted(data, key=lambda d: d["index"]))
            versions.add(answer.headers.get(VERSION_HEADER, ""))
        if len(versions) > 1:
            raise InvalidState(
                f"embeddings deployment {deployment!r} answered with model versions {', '.join(sorted(versions))} "
                "(a canary?): vectors of different models cannot be compared"
            )
        return np.asarray(vectors, dtype=np.float64), versions.pop() if versions else ""


def judge(spec: PromptDrift, state: PromptState, rows: Sequence[Row], client: EmbeddingsClient) -> dict[str, Any]:
    """The window's ``promptDrift`` result: the method's score and verdict (``drifted``), or why
    there is none (``error``, or too few prompts). Never raises for the service's failures."""
    prompts, requests = window_prompts(rows)
    out: dict[str, Any] = {"embeddings": spec.embeddings, "method": spec.method, "prompts": len(prompts)}
    if not prompts:
        out["drifted"] = False
        if requests:
            out["error"] = f"none of the window's {requests} request(s) carries its prompt: {CAPTURE_HINT}"
        return out
    if len(prompts) < spec.min_prompts:
        out["drifted"] = False
        out["skipped"] = f"{len(prompts)} prompt(s), fewer than minPrompts ({spec.min_prompts})"
        return out
    try:
        current, version = client.embed(spec.embeddings, prompts)
        if state.vectors is None or state.version != version:
            vectors, ref_version = client.embed(spec.embeddings, state.texts)
            if ref_version != version:
                raise InvalidState(f"the embedding model moved from version {version} to {ref_version} meanwhile")
            state.vectors, state.version = vectors, version
        result = embedding_drift(state.vectors, current, spec.options())
    except CnaiError as exc:
        out["drifted"] = False
        out["error"] = exc.message
        return out
    except Exception as exc:  # an answer of the wrong shape: reported, and the window still closes
        log.warning("promptDrift: embedding with %s failed", spec.embeddings, exc_info=True)
        out["drifted"] = False
        out["error"] = f"embeddings deployment {spec.embeddings!r}: {type(exc).__name__}: {exc}"
        return out
    out.update(
        {
            "modelVersion": version,
            "score": round(result.score, 6),
            "threshold": round(result.threshold, 6),
            "drifted": result.drifted,
            "bootstrap": result.bootstrap,
            "referencePrompts": result.reference_rows,
        }
    )
    return out


def _error_text(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except ValueError:
        message = answer.text
    return str(message)[:300]
