"""The monitor controller's Prometheus series, registered on the registry it is given (the
control plane serves that registry at ``/metrics``)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from cnai.monitoring.monitor.evaluate import WindowVerdict


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.drift_share = Gauge(
            "cnai_drift_share", "Share of drifted features in the last window", ["monitor"], registry=r
        )
        self.dataset_drift = Gauge(
            "cnai_dataset_drift", "1 when the last window's dataset-level verdict is drift", ["monitor"], registry=r
        )
        self.feature_score = Gauge(
            "cnai_feature_drift_score",
            "Drift score of a feature in the last window (the test's p-value or distance)",
            ["monitor", "feature"],
            registry=r,
        )
        self.feature_drifted = Gauge(
            "cnai_feature_drifted", "1 when the feature drifted in the last window", ["monitor", "feature"], registry=r
        )
        self.windows = Counter("cnai_monitor_windows", "Windows evaluated", ["monitor"], registry=r)
        self.breaches = Counter(
            "cnai_monitor_breaches", "Windows that breached (drift or performance)", ["monitor"], registry=r
        )
        self.rows = Gauge("cnai_monitor_rows", "Rows in the last window", ["monitor"], registry=r)
        self.open_rows = Gauge(
            "cnai_monitor_open_window_rows", "Rows in the window being filled", ["monitor"], registry=r
        )
        self.performance = Gauge(
            "cnai_monitor_performance",
            "Live model quality of the latest window with labels (accuracy, f1, rmse, mae)",
            ["monitor", "metric"],
            registry=r,
        )
        self.service = Gauge(
            "cnai_monitor_service",
            "Service statistics of the last window (requests, errorRate, latencyP95Ms, ttftP95Ms, tokens...)",
            ["monitor", "metric"],
            registry=r,
        )
        self.prompt_drift_score = Gauge(
            "cnai_monitor_prompt_drift_score",
            "tests.promptDrift: the embedding drift score of the last window's prompts (NaN: none computed)",
            ["monitor", "method"],
            registry=r,
        )
        self.prompt_drift = Gauge(
            "cnai_monitor_prompt_drift",
            "1 when the last window's prompts drifted from the reference prompts",
            ["monitor"],
            registry=r,
        )
        self.labelled = Gauge(
            "cnai_monitor_labelled_rows", "Labelled rows in the latest window with labels", ["monitor"], registry=r
        )
        self.action_failures = Counter(
            "cnai_monitor_action_failures",
            "Failed action attempts (retried until maxRetries)",
            ["monitor", "action"],
            registry=r,
        )
        self.actions_delivered = Counter(
            "cnai_monitor_actions_delivered", "Actions delivered", ["monitor", "action"], registry=r
        )
        self.actions_abandoned = Counter(
            "cnai_monitor_actions_abandoned",
            "Actions given up after their last retry",
            ["monitor", "action"],
            registry=r,
        )
        self.events_skipped = Counter(
            "cnai_monitor_events_skipped", "Records on the inference topic that are not inference events", registry=r
        )
        self._features: dict[str, set[str]] = {}
        self._metrics: dict[str, set[str]] = {}
        self._service: dict[str, set[str]] = {}
        self._prompt_method: dict[str, str] = {}

    def observe_window(self, monitor: str, verdict: WindowVerdict, breached: bool) -> None:
        self.windows.labels(monitor).inc()
        if breached:
            self.breaches.labels(monitor).inc()
        self.rows.labels(monitor).set(verdict.rows)
        self.drift_share.labels(monitor).set(verdict.drift_share)
        self.dataset_drift.labels(monitor).set(1 if verdict.dataset_drift else 0)
        for gone in self._features.get(monitor, set()) - set(verdict.features):
            self._remove(self.feature_score, monitor, gone)
            self._remove(self.feature_drifted, monitor, gone)
        for feature, result in verdict.features.items():
            score = result.get("score")
            self.feature_score.labels(monitor, feature).set(float("nan") if score is None else score)
            self.feature_drifted.labels(monitor, feature).set(1 if result.get("drifted") else 0)
        self._features[monitor] = set(verdict.features)
        stats = {k: v for k, v in (verdict.service or {}).items() if isinstance(v, int | float) and k != "breached"}
        for gone in self._service.get(monitor, set()) - set(stats):
            self._remove(self.service, monitor, gone)
        for name, value in stats.items():
            self.service.labels(monitor, name).set(value)
        self._service[monitor] = set(stats)
        prompts = verdict.prompt_drift
        if prompts is not None:
            method = str(prompts.get("method"))
            if self._prompt_method.get(monitor, method) != method:
                self._remove(self.prompt_drift_score, monitor, self._prompt_method[monitor])
            self._prompt_method[monitor] = method
            score = prompts.get("score")
            self.prompt_drift_score.labels(monitor, method).set(float("nan") if score is None else score)
            self.prompt_drift.labels(monitor).set(1 if prompts.get("drifted") else 0)

    def observe_performance(self, monitor: str, performance: dict[str, Any]) -> None:
        values = {k: v for k, v in performance.items() if k in ("accuracy", "f1", "rmse", "mae") and v is not None}
        for gone in self._metrics.get(monitor, set()) - set(values):
            self._remove(self.performance, monitor, gone)
        for metric, value in values.items():
            self.performance.labels(monitor, metric).set(value)
        self._metrics[monitor] = set(values)
        self.labelled.labels(monitor).set(performance.get("labelled", 0))

    def forget(self, monitor: str) -> None:
        """Drop a deleted monitor's series (counters too: the monitor is gone)."""
        for metric in (
            self.drift_share,
            self.dataset_drift,
            self.rows,
            self.open_rows,
            self.labelled,
            self.windows,
            self.breaches,
            self.prompt_drift,
        ):
            self._remove(metric, monitor)
        if monitor in self._prompt_method:
            self._remove(self.prompt_drift_score, monitor, self._prompt_method.pop(monitor))
        for feature in self._features.pop(monitor, set()):
            self._remove(self.feature_score, monitor, feature)
            self._remove(self.feature_drifted, monitor, feature)
        for name in self._metrics.pop(monitor, set()):
            self._remove(self.performance, monitor, name)
        for name in self._service.pop(monitor, set()):
            self._remove(self.service, monitor, name)

    @staticmethod
    def _remove(metric: Gauge | Counter, *labels: str) -> None:
        try:
            metric.remove(*labels)
        except KeyError:
            pass  # never set
