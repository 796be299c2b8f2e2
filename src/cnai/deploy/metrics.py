"""Prometheus metrics of deployments: routers, autoscaler decisions and replicas.

Registered once into the registry the caller passes (the control plane serves it at ``/metrics``),
with a ``deployment`` label, so any number of deployments share one set of metric families and
two controllers in one process (tests) do not collide on the global registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DeployMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "cnai_router_requests",
            "Requests answered by a deployment's router, by target and HTTP status.",
            ["deployment", "target", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "cnai_router_request_duration_seconds",
            "Time from the router receiving a request to the replica's answer.",
            ["deployment", "target"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "cnai_router_in_flight_requests",
            "Requests in flight through the router.",
            ["deployment"],
            registry=registry,
        )
        self.retries = Counter(
            "cnai_router_retries",
            "Requests retried on another replica after a transport error.",
            ["deployment"],
            registry=registry,
        )
        self.held = Gauge(
            "cnai_router_held_requests",
            "Requests waiting for a replica (scale from zero).",
            ["deployment"],
            registry=registry,
        )
        self.desired_replicas = Gauge(
            "cnai_deployment_desired_replicas", "Replicas the autoscaler wants.", ["deployment"], registry=registry
        )
        self.ready_replicas = Gauge(
            "cnai_deployment_ready_replicas",
            "Replicas answering ready, by target.",
            ["deployment", "target"],
            registry=registry,
        )
        self.observed_concurrency = Gauge(
            "cnai_autoscaler_observed_concurrency",
            "Stable-window average of in-flight requests.",
            ["deployment"],
            registry=registry,
        )
        self.panic = Gauge(
            "cnai_autoscaler_panic_mode", "1 while the autoscaler is in panic mode.", ["deployment"], registry=registry
        )
        self.decisions = Counter(
            "cnai_autoscaler_decisions", "Autoscaler decisions, by action.", ["deployment", "action"], registry=registry
        )
        self.restarts = Counter(
            "cnai_replica_restarts",
            "Replicas replaced after they crashed or failed health checks.",
            ["deployment"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "cnai_canary_rollbacks", "Automatic canary rollbacks.", ["deployment"], registry=registry
        )

    def forget(self, deployment: str) -> None:
        """Drop a deleted deployment's series so /metrics does not report it forever."""
        for family in (
            self.requests, self.latency, self.in_flight, self.retries, self.held, self.desired_replicas,
            self.ready_replicas, self.observed_concurrency, self.panic, self.decisions, self.restarts, self.rollbacks,
        ):  # fmt: skip
            for labels in list(family._metrics):  # prometheus_client keeps children keyed by label tuple
                if labels and labels[0] == deployment:
                    family.remove(*labels)
