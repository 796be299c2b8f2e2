"""Prometheus metrics of the model server, in its own registry (no global state).

With ``--workers N`` a scrape reaches one worker, yet must count all of them: the parent sets
``PROMETHEUS_MULTIPROC_DIR`` (see ``run.py``) before the workers start, prometheus_client then
keeps every value in memory-mapped files there, and ``render`` aggregates the files of all
workers. Gauges say how to aggregate: queue depth and loaded models are sums over the live
workers. ``cnai_serving_in_flight`` is computed when scraped (a plain counter on the hot path),
so with several workers it is not exported. A single process keeps plain in-memory values.
"""

from __future__ import annotations

import os
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "cnai_serving_requests", "Inference requests answered", ["model", "version", "protocol", "code"], registry=r
        )
        self.errors = Counter("cnai_serving_errors", "Inference requests that failed", ["model", "code"], registry=r)
        self.latency = Histogram(
            "cnai_serving_request_duration_seconds",
            "Inference latency, body read to response",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "cnai_serving_batch_size", "Rows per predict call", ["model"], buckets=_BATCH_BUCKETS, registry=r
        )
        live: Literal["livesum"] = "livesum"  # with several workers: the sum over the running workers
        self.queue_depth = Gauge(
            "cnai_serving_queue_depth", "Requests waiting for predict", ["model"], registry=r, multiprocess_mode=live
        )
        self.in_flight = Gauge(
            "cnai_serving_in_flight", "HTTP requests being handled", registry=r, multiprocess_mode=live
        )
        self.models_loaded = Gauge("cnai_serving_models_loaded", "Models in memory", registry=r, multiprocess_mode=live)
        self.predict_timeouts = Counter(
            "cnai_serving_predict_timeouts", "Predicts that ran past the model's timeout", ["model"], registry=r
        )
        self.hung_predicts = Gauge(
            "cnai_serving_hung_predicts",
            "Timed-out predicts whose thread is still running (abandoned; a thread cannot be killed)",
            ["model"],
            registry=r,
            multiprocess_mode=live,
        )
        self.evictions = Counter("cnai_serving_evictions", "Models unloaded to fit the memory budget", registry=r)
        self.log_dropped = Counter(
            "cnai_serving_inference_log_dropped", "Inference events dropped (buffer full or bus error)", registry=r
        )
        self.log_written = Counter("cnai_serving_inference_log_written", "Inference events written", registry=r)
        self.llm = LLMMetrics(r)

    def render(self) -> bytes:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
_LLM_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class LLMMetrics:
    """The OpenAI routes' metrics: latency split the way LLM serving is judged (time to the first
    token, then per token), token counts, and the slots' occupancy."""

    def __init__(self, r: CollectorRegistry) -> None:
        live: Literal["livesum"] = "livesum"
        self.ttft = Histogram(
            "cnai_llm_time_to_first_token_seconds",
            "Request received to its first generated token",
            ["model"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "cnai_llm_time_per_output_token_seconds",
            "Mean time between generated tokens of a request, after the first",
            ["model"],
            buckets=_TPOT_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "cnai_llm_request_duration_seconds",
            "OpenAI-route requests, received to last byte sent",
            ["model", "operation"],
            buckets=_LLM_DURATION_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "cnai_llm_requests", "OpenAI-route requests answered", ["model", "operation", "code"], registry=r
        )
        self.prompt_tokens = Counter("cnai_llm_prompt_tokens", "Prompt (input) tokens processed", ["model"], registry=r)
        self.generation_tokens = Counter("cnai_llm_generation_tokens", "Tokens generated", ["model"], registry=r)
        self.cached_prompt_tokens = Counter(
            "cnai_llm_prompt_tokens_cached",
            "Prompt tokens found in a slot's cache (a prefix shared with an earlier request), not read again",
            ["model"],
            registry=r,
        )
        self.running = Gauge(
            "cnai_llm_requests_running", "Sequences being generated", ["model"], registry=r, multiprocess_mode=live
        )
        self.waiting = Gauge(
            "cnai_llm_requests_waiting",
            "Requests queued for a free slot",
            ["model"],
            registry=r,
            multiprocess_mode=live,
        )
        self.step_sequences = Histogram(
            "cnai_llm_step_sequences",
            "Sequences in one decode step (above 1: continuous batching at work)",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.embedding_batch = Histogram(
            "cnai_llm_embedding_batch_size",
            "Sentences per sentence-transformers encode (requests are batched together)",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.rejected = Counter(
            "cnai_llm_requests_rejected", "Requests refused with 429 (slots and queue full)", ["model"], registry=r
        )
        self.cancelled = Counter(
            "cnai_llm_requests_cancelled", "Generations stopped because the client disconnected", ["model"], registry=r
        )
