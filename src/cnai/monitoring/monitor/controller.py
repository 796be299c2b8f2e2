"""The monitor controller: inference events in, windows judged, alerts out, once per incident.

Two asyncio tasks run inside the control plane:

**Consume** (one member of the consumer group ``cnai-monitors`` on the inference topic). Every
poll becomes one database transaction (:meth:`MonitorStore.write_batch`) holding everything the
records changed: rows added to each monitor's open window, the windows that closed (result,
predictions, and one outbox row per action under the idempotency key
``<monitor>/<window seq>/<action index>``), and the next offset of each partition read. Only
after that transaction commits are the offsets committed on the bus. So:

- a crash before the transaction loses nothing: the records are delivered again (at-least-once);
- a crash after it but before the bus commit replays records the database already holds; their
  offsets are at or past the stored ones and they are skipped, so no row counts twice and no
  window, and hence no alert, is created twice;
- the open window lives in the database, not in memory, so a restart continues it where it
  stopped: a breach that straddles the restart is neither lost nor doubled.

Which actions a breaching window queues is decided by :mod:`.incidents`: consecutive breaching
windows are one incident, which fires each action once (again only after ``cooldownSeconds``).
Its state is rebuilt from the stored windows and actions after a restart.

**Deliver** (the outbox). Pending actions are claimed one attempt at a time (the claim is a lease
past the attempt's timeout, so two deliverers never send the same attempt and a deliverer that
dies mid-attempt leaves it for the lease to expire), attempted, and marked delivered or
rescheduled with exponential backoff; after ``maxRetries`` retries they are marked failed
(counted, logged). Each attempt carries the same idempotency key and the same body. Delivery is
therefore at-least-once with a stable key: exactly one webhook POST per firing (window and
action) when nothing fails, and a receiver that dedupes on ``Idempotency-Key`` sees exactly once
even when a POST's answer is lost and the POST is repeated.

Resources are re-listed every ``resync_interval_s``: new Monitors start, changed specs (a new
generation) reload their reference, deleted ones drop their open window and series. Labels
posted to ``/api/v1/feedback`` are joined with the stored predictions every
``feedback_interval_s``; a window whose performance breaches a threshold, and had not breached
yet, is marked and its actions queued in the same transaction (at most one alert per window,
whatever breached first, and only for actions out of their cooldown).

Before each attempt the server's opt-ins are checked again (``context``): a command runs only on
a server started with ``--allow-command-actions`` and its program on ``--command-allowlist``, a
webhook connects only to an address that is public or on ``--webhook-allowlist``. A refusal is a
failed delivery, recorded like any other.

The status is written when it changes or when a new generation of the spec has been read, so
``observedGeneration`` follows an apply within ``resync_interval_s``.

Predictions stored for the label join, and the labels themselves, are kept for ``retention_s``
(7 days by default) after their window ended; window results and alerts are kept.

A Monitor reads only events produced after it was created. One controller per consumer group is
the intended setup; a second one is safe (overlapping writes conflict on the unique keys, abort
and reload) but not load-balanced across monitors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from cnai._clock import now_ms
from cnai.errors import CnaiError
from cnai.events import INFERENCE_TOPIC
from cnai.events.base import Bus, Consumer, Record
from cnai.events.cloudevents import format_time
from cnai.monitoring.io import TableSource
from cnai.monitoring.monitor import actions as attempts
from cnai.monitoring.monitor.alerts import outbox
from cnai.monitoring.monitor.evaluate import WindowVerdict, evaluate, monitored_features, without_drift
from cnai.monitoring.monitor.incidents import Incident, on_late_breach, on_window, restored
from cnai.monitoring.monitor.metrics import MonitorMetrics
from cnai.monitoring.monitor.performance import metrics as performance_metrics
from cnai.monitoring.monitor.prompts import (
    PROMPT_INPUT,
    EmbeddingsClient,
    PromptState,
    clip_prompts,
    judge,
    reference_prompts,
)
from cnai.monitoring.monitor.reference import ReferenceLoader, load_file_reference
from cnai.monitoring.monitor.rows import Row, parse_inference, rows_of
from cnai.monitoring.monitor.service import window_stats
from cnai.monitoring.monitor.spec import KIND, AlertAction, Command, MonitorSpec, Webhook, parse_monitor_spec
from cnai.monitoring.monitor.store import DELIVERED, FAILED, PENDING, ActionRow, Batch, ClosedWindow, MonitorStore
from cnai.monitoring.monitor.window import close_windows
from cnai.resources.admission import AdmissionContext
from cnai.resources.store import Resource, ResourceStore

log = logging.getLogger("cnai.monitoring")

DEFAULT_GROUP = "cnai-monitors"
FEEDBACK_LOOKBACK_MS = 24 * 3600 * 1000  # labels that arrived while the controller was down
FEEDBACK_OVERLAP_MS = 10_000  # a label committed a little after a newer one is still seen
LEASE_MARGIN_MS = 30_000
ALERT_TIMEOUT_S = 30.0
STOP_GRACE_S = 15.0
PRUNE_INTERVAL_MS = 3600 * 1000  # retention is enforced hourly


@dataclass
class _Monitor:
    """One Monitor as the controller runs it: its spec, reference and open window."""

    name: str
    generation: int
    created_at: int
    spec: MonitorSpec | None = None
    reference: TableSource | None = None
    features: list[str] = field(default_factory=list)
    error: str | None = None
    seq: int = 1  # the open window's number
    rows: list[Row] = field(default_factory=list)
    perf_seq: int = 0  # the newest window whose performance is on the gauges
    incident: Incident = field(default_factory=Incident)  # which actions the next breach fires
    prompts: PromptState | None = None  # tests.promptDrift: the reference prompts (and their vectors)

    @property
    def ready(self) -> bool:
        if self.spec is None or self.error is not None:
            return False
        if self.spec.tests.prompt_drift is not None and self.prompts is None:
            return False
        return self.reference is not None or self.spec.reference is None  # no reference: service/prompts only

    @property
    def row_features(self) -> list[str]:
        """The event inputs kept on each row: the features, and the prompt for tests.promptDrift."""
        if self.spec is not None and self.spec.tests.prompt_drift is not None and PROMPT_INPUT not in self.features:
            return [*self.features, PROMPT_INPUT]
        return self.features

    @property
    def next_ordinal(self) -> int:
        return self.rows[-1].ordinal + 1 if self.rows else 1


class MonitorController:
    """Implements ``cnai.resources.Controller`` for ``kind: Monitor``.

    ``bus`` is this controller's own (unstarted) connection to the event bus: it is started by
    ``start()`` and closed by ``stop()``. ``registry`` receives the Prometheus series.
    ``reference_loader`` resolves a spec's reference (default: files only; see
    :class:`~cnai.monitoring.monitor.reference.ArtifactReferenceLoader` for run artifacts).
    ``context``: the server's opt-ins, checked again before each command or webhook runs (the
    default allows no command and no webhook to a non-public address). ``only``: the names of
    the monitors to run (default: every Monitor in the store).
    """

    name = "monitors"

    def __init__(
        self,
        engine: Engine,
        resources: ResourceStore,
        bus: Bus,
        registry: CollectorRegistry,
        *,
        reference_loader: ReferenceLoader = load_file_reference,
        group: str = DEFAULT_GROUP,
        topic: str = INFERENCE_TOPIC,
        resync_interval_s: float = 2.0,
        feedback_interval_s: float = 2.0,
        retention_s: float = 7 * 24 * 3600,
        poll_timeout_ms: int = 500,
        max_poll_records: int = 1000,
        clock: Callable[[], int] = now_ms,
        http_client: httpx.AsyncClient | None = None,
        context: AdmissionContext | None = None,
        only: frozenset[str] | None = None,
        embeddings: EmbeddingsClient | None = None,
    ) -> None:
        self.store = MonitorStore(engine)
        # ``only``: run just these monitors (one controller per Monitor on Kubernetes); others
        # in the store are left alone, not forgotten.
        self.only = only
        self.resources = resources
        self.bus = bus
        self.metrics = MonitorMetrics(registry)
        self.reference_loader = reference_loader
        self.group = group
        self.topic = topic
        self.resync_interval_ms = round(resync_interval_s * 1000)
        self.feedback_interval_ms = round(feedback_interval_s * 1000)
        self.retention_ms = round(retention_s * 1000)
        self._next_prune = 0
        self.poll_timeout_ms = poll_timeout_ms
        self.max_poll_records = max_poll_records
        self.clock = clock
        self._http = http_client
        self._owns_http = http_client is None
        self.context = context or AdmissionContext()
        # tests.promptDrift: embeddings from a Deployment's router on this machine (see .prompts).
        self._embeddings = embeddings
        self._owns_embeddings = embeddings is None
        self._monitors: dict[str, _Monitor] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        self._statuses: dict[str, tuple[int, dict[str, Any]]] = {}  # the last written (generation, status)
        self._status_lock = threading.Lock()
        self._dirty: set[tuple[str, int]] = set()  # windows whose performance to (re)compute
        self._feedback_since = 0
        self._topics: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        await self.bus.start()
        with contextlib.suppress(Exception):  # exists already, or the broker auto-creates it
            await self.bus.create_topic(self.topic)
        if self._http is None:
            # No proxy from the environment: a webhook connects to the address its check approved.
            self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._consume_loop(), name="cnai-monitors-consume"),
            asyncio.create_task(self._deliver_loop(), name="cnai-monitors-deliver"),
        ]

    async def stop(self) -> None:
        if not self._tasks:
            return
        self._stopping.set()
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in late:  # an attempt past its grace: its claim's lease hands it to the next run
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._owns_embeddings and self._embeddings is not None:
            self._embeddings.close()
            self._embeddings = None
        await self.bus.close()

    # -- consuming -------------------------------------------------------------------------------

    async def _consume_loop(self) -> None:
        consumer: Consumer | None = None
        assignment: frozenset[tuple[str, int]] | None = None
        next_resync = next_feedback = 0
        while not self._stopping.is_set():
            try:
                if consumer is None:
                    await asyncio.to_thread(self._load)
                    consumer = self.bus.consumer([self.topic], self.group, from_beginning=True)
                    await consumer.start()
                    assignment = None
                    next_resync = self.clock() + self.resync_interval_ms
                records = await consumer.poll(max_records=self.max_poll_records, timeout_ms=self.poll_timeout_ms)
                owned = consumer.assignment()
                if assignment and owned != assignment:
                    # Partitions moved between members: another may have advanced our monitors.
                    await asyncio.to_thread(self._load)
                assignment = owned or assignment
                now = self.clock()
                if now >= next_resync:
                    await asyncio.to_thread(self._resync, now)
                    next_resync = now + self.resync_interval_ms
                windows = await asyncio.to_thread(self._process, records, now)
                if records:
                    await consumer.commit()
                if windows:
                    self._wake.set()
                if now >= next_feedback:
                    if await asyncio.to_thread(self._performance_pass, now):
                        self._wake.set()
                    next_feedback = now + self.feedback_interval_ms
                if now >= self._next_prune:
                    await asyncio.to_thread(self._prune, now)
                if windows:
                    await asyncio.to_thread(self._publish_statuses, {w.monitor for w in windows})
            except Exception:
                log.exception("monitor controller: consume step failed; reloading state from the database")
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        await consumer.close()  # without committing: the records come back
                    consumer = None
                await self._pause(1.0)
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.close()

    def _load(self) -> None:
        """(Re)build every in-memory piece from the database: offsets, monitors, open windows."""
        self._offsets = self.store.applied_offsets(self.group)
        self._monitors = {}
        self._feedback_since = self.clock() - FEEDBACK_LOOKBACK_MS
        self._resync(self.clock())

    def _resync(self, now: int) -> None:
        listed = {r.name: r for r in self.resources.list(KIND) if self.only is None or r.name in self.only}
        for name in [n for n in self._monitors if n not in listed]:
            del self._monitors[name]
            self._statuses.pop(name, None)
            self.store.forget(name)
            self.metrics.forget(name)
            log.info("monitor %s deleted", name)
        for name, resource in listed.items():
            monitor = self._monitors.get(name)
            if monitor is None:
                seq, rows = self.store.open_window(name)
                incident = restored(*self.store.incident(name))
                monitor = _Monitor(
                    name, resource.generation, resource.created_at, seq=seq, rows=rows, incident=incident
                )
                self._monitors[name] = monitor
                self._configure(monitor, resource)
            elif monitor.generation != resource.generation or monitor.error is not None:
                self._configure(monitor, resource)
        self._publish_statuses(set(self._monitors))

    def _configure(self, monitor: _Monitor, resource: Resource) -> None:
        monitor.generation = resource.generation
        monitor.created_at = resource.created_at
        try:
            spec = parse_monitor_spec(resource.spec)
            reference = self.reference_loader(spec.reference) if spec.reference is not None else None
            monitor.features = monitored_features(spec, reference) if reference is not None else []
            prompt_drift = spec.tests.prompt_drift
            prompts = None
            if prompt_drift is not None:
                source = self.reference_loader(prompt_drift.reference)
                prompts = PromptState(reference_prompts(source, prompt_drift.reference.column))
            monitor.spec, monitor.reference, monitor.prompts, monitor.error = spec, reference, prompts, None
        except CnaiError as exc:
            monitor.error = exc.message
        except Exception as exc:  # an unreadable file, a store error: shown in the status, retried
            monitor.error = f"{type(exc).__name__}: {exc}"
        if monitor.error is not None:
            log.warning("monitor %s: %s", monitor.name, monitor.error)

    def _process(self, records: list[Record], now: int) -> list[ClosedWindow]:
        """Apply one poll's records (and the clock, for time windows) in one transaction."""
        batch = Batch()
        new_rows: dict[str, list[Row]] = {}
        ready = [m for m in self._monitors.values() if m.ready]
        skipped = 0
        for record in records:
            tp = (record.topic, record.partition)
            if record.offset < self._offsets.get(tp, 0):
                continue  # stored before a crash that came ahead of the bus commit
            batch.offsets[tp] = max(batch.offsets.get(tp, 0), record.offset + 1)
            inference = parse_inference(record.value)
            if inference is None:
                skipped += 1
                continue
            for m in ready:
                assert m.spec is not None
                if inference.ts_ms >= m.created_at and m.spec.target.matches(inference.model, inference.version):
                    perf = m.spec.tests.performance
                    rows = rows_of(inference, m.row_features, perf.prediction_output if perf else None)
                    if m.spec.tests.prompt_drift is not None:
                        rows = clip_prompts(rows)
                    new_rows.setdefault(m.name, []).extend(rows)
        updates: list[tuple[_Monitor, int, list[Row], Incident]] = []
        for m in ready:
            assert m.spec is not None
            fresh = new_rows.get(m.name, [])
            if not fresh and (not m.rows or m.spec.window.count is not None):
                continue  # nothing new, and only time can close a window without new rows
            first = m.next_ordinal
            fresh = [replace(r, ordinal=first + i) for i, r in enumerate(fresh)]
            closed, remaining = close_windows(m.spec.window, m.rows + fresh, now)
            seq, incident = m.seq, m.incident
            for rows in closed:
                window, incident = self._close(m, seq, rows, incident, now)
                batch.windows.append(window)
                seq += 1
            last_closed = closed[-1][-1].ordinal if closed else 0
            if closed:
                batch.consumed[m.name] = last_closed
            batch.buffered.extend((m.name, r) for r in fresh if r.ordinal > last_closed)
            updates.append((m, seq, remaining, incident))
        if batch:
            self.store.write_batch(self.group, batch, now)
        # Only now, with the transaction committed, does memory move forward.
        self._offsets.update(batch.offsets)
        if skipped:
            self.metrics.events_skipped.inc(skipped)
        for m, seq, remaining, incident in updates:
            m.seq, m.rows, m.incident = seq, remaining, incident
            self.metrics.open_rows.labels(m.name).set(len(remaining))
        for w in batch.windows:
            self.metrics.observe_window(w.monitor, w.verdict, w.breached)
            monitor = self._monitors.get(w.monitor)
            if monitor is not None and monitor.spec is not None and monitor.spec.tests.performance is not None:
                self._dirty.add((w.monitor, w.seq))
            if w.breached and w.reason == "service":
                log.warning(
                    "monitor %s: window %d breached service thresholds: %s%s",
                    w.monitor,
                    w.seq,
                    (w.verdict.service or {}).get("breached"),
                    "" if w.actions else "; same incident, actions in cooldown",
                )
            elif w.breached and w.reason == "promptDrift":
                result = w.verdict.prompt_drift or {}
                log.warning(
                    "monitor %s: window %d: prompts drifted (%s score %s, threshold %s)%s",
                    w.monitor,
                    w.seq,
                    result.get("method"),
                    result.get("score"),
                    result.get("threshold"),
                    "" if w.actions else "; same incident, actions in cooldown",
                )
            elif w.breached:
                log.warning(
                    "monitor %s: window %d drifted (share %.2f: %s)%s",
                    w.monitor,
                    w.seq,
                    w.verdict.drift_share,
                    ", ".join(w.verdict.drifted),
                    "" if w.actions else "; same incident, actions in cooldown",
                )
        return batch.windows

    def _close(
        self, m: _Monitor, seq: int, rows: list[Row], incident: Incident, now: int
    ) -> tuple[ClosedWindow, Incident]:
        assert m.spec is not None
        verdict = evaluate(m.spec, m.reference, m.features, rows) if m.reference is not None else without_drift(rows)
        reason = "drift" if verdict.dataset_drift else None
        service = m.spec.tests.service
        if service is not None:
            stats = window_stats(rows) or {"requests": 0}
            stats["breached"] = service.breached(stats)
            verdict = replace(verdict, service=stats)
            if stats["breached"] and reason is None:
                reason = "service"
        prompt_drift = m.spec.tests.prompt_drift
        if prompt_drift is not None and m.prompts is not None:
            result = judge(prompt_drift, m.prompts, rows, self._embeddings_client())
            verdict = replace(verdict, prompt_drift=result)
            if result.get("drifted") and reason is None:
                reason = "promptDrift"
        breached = reason is not None
        incident, fire = on_window(incident, breached, now, m.spec.cooldowns_ms)
        view = _window_view(m, seq, verdict)
        actions = outbox(m.name, m.spec, view, reason or "drift", now, fire) if fire else []
        predictions = []
        if m.spec.tests.performance is not None:
            predictions = [
                (r.request_id, r.index, r.prediction)
                for r in rows
                if r.request_id is not None and r.prediction is not None
            ]
        window = ClosedWindow(m.name, seq, m.generation, verdict, breached, actions, predictions, reason)
        return window, incident

    def _embeddings_client(self) -> EmbeddingsClient:
        if self._embeddings is None:
            self._embeddings = EmbeddingsClient(self.resources)
        return self._embeddings

    # -- ground truth ----------------------------------------------------------------------------

    def _performance_pass(self, now: int) -> bool:
        """Recompute performance where labels arrived (or a window just closed); True if a window
        newly breached and queued actions."""
        since = self._feedback_since - FEEDBACK_OVERLAP_MS
        touched, newest = self.store.windows_with_labels_since(since)
        self._feedback_since = max(self._feedback_since, newest)
        targets, self._dirty = sorted(touched | self._dirty), set()
        queued = False
        for name, seq in targets:
            m = self._monitors.get(name)
            if m is None or m.spec is None or m.spec.tests.performance is None:
                continue
            perf_spec = m.spec.tests.performance
            predictions, labels = self.store.labelled(name, seq, m.spec.target.model_name)
            perf = performance_metrics(perf_spec.task, predictions, labels, perf_spec.positive_label)
            breached = perf_spec.breached(perf) if perf["labelled"] >= perf_spec.min_labels else []
            perf["breached"] = breached
            breach = None
            incident = m.incident
            if breached:
                window = self.store.window(name, seq)
                if window is not None and not window["breached"]:
                    incident, fire = on_late_breach(m.incident, now, m.spec.cooldowns_ms)
                    breach = outbox(name, m.spec, {**window, "performance": perf}, "performance", now, fire)
            if self.store.set_performance(name, seq, perf, breach, now):
                m.incident = incident
                queued = queued or bool(breach)
                self.metrics.breaches.labels(name).inc()
                log.warning(
                    "monitor %s: window %d breached performance thresholds: %s%s",
                    name,
                    seq,
                    breached,
                    "" if breach else "; actions in cooldown",
                )
            if perf["labelled"] and seq >= m.perf_seq:
                m.perf_seq = seq
                self.metrics.observe_performance(name, perf)
        if targets:
            self._publish_statuses({name for name, _ in targets})
        return queued

    # -- status ----------------------------------------------------------------------------------

    def _publish_statuses(self, names: set[str]) -> None:
        with self._status_lock:  # called from both loops' worker threads
            self._publish_statuses_locked(names)

    def _publish_statuses_locked(self, names: set[str]) -> None:
        for name in sorted(names):
            m = self._monitors.get(name)
            if m is None:
                continue
            # The generation is part of what was written: a new spec read is reported at once
            # (observedGeneration), even while no window has closed and the status is the same.
            written = (m.generation, self._status(m))
            if self._statuses.get(name) != written:
                self.resources.set_status(KIND, name, written[1], m.generation)
                self._statuses[name] = written

    def _status(self, m: _Monitor) -> dict[str, Any]:
        summary = self.store.summary(m.name)
        status: dict[str, Any] = {
            "phase": "Error" if m.error else "Ready",
            "windows": summary["windows"],
            "breaches": summary["breaches"],
            "openWindowRows": len(m.rows),
            "alerts": summary["actions"],
        }
        if m.error:
            status["message"] = m.error
        last = summary["last_window"]
        if last is not None:
            status["lastWindow"] = {
                "window": last["window"],
                "start": format_time(last["start_ms"]),
                "end": format_time(last["end_ms"]),
                "rows": last["rows"],
                "driftShare": last["drift_share"],
                "datasetDrift": last["dataset_drift"],
                "breached": last["breached"],
                "driftedFeatures": sorted(f for f, r in last["features"].items() if r.get("drifted")),
            }
            if last["performance"] is not None:
                status["lastWindow"]["performance"] = last["performance"]
            if last["service"] is not None:
                status["lastWindow"]["service"] = last["service"]
            if last["prompt_drift"] is not None:
                status["lastWindow"]["promptDrift"] = last["prompt_drift"]
            if last["error"]:
                status["lastWindow"]["error"] = last["error"]
        return status

    # -- delivering ------------------------------------------------------------------------------

    def _prune(self, now: int) -> None:
        predictions, labels = self.store.prune(now - self.retention_ms)
        if predictions or labels:
            log.info("monitors: pruned %d stored predictions and %d labels past retention", predictions, labels)
        self._next_prune = now + min(self.retention_ms, PRUNE_INTERVAL_MS)

    async def _deliver_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                now = self.clock()
                due = await asyncio.to_thread(self.store.due_actions, now)
                if due:
                    await asyncio.gather(*(self._deliver(a) for a in due))
                    await asyncio.to_thread(self._publish_statuses, {a.monitor for a in due})
                    continue
                upcoming = await asyncio.to_thread(self.store.next_due_ms)
                delay = 1.0 if upcoming is None else min(1.0, max(0.01, (upcoming - now) / 1000))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except Exception:
                log.exception("monitor controller: delivery step failed")
                await self._pause(1.0)

    async def _deliver(self, action: ActionRow) -> None:
        try:
            options = _action_options(action)
        except Exception as exc:  # stored by another version of cnai, unreadable here: never deliverable
            detail = f"unreadable {action.kind} action: {exc}"
            await asyncio.to_thread(self.store.record_attempt, action.key, FAILED, self.clock(), detail, self.clock())
            return
        timeout_s = options.timeout_seconds if isinstance(options, Webhook | Command) else ALERT_TIMEOUT_S
        now = self.clock()
        lease_until = now + round(timeout_s * 1000) + LEASE_MARGIN_MS
        if not await asyncio.to_thread(self.store.claim, action, lease_until, now):
            return  # taken by another deliverer
        try:
            attempt = await self._attempt(options, action)
        except Exception as exc:  # a bug or an unexpected error: counted as a failed attempt, not a stuck one
            log.exception("monitor action %s: attempt raised", action.key)
            attempt = attempts.Attempt(False, True, f"{type(exc).__name__}: {exc}")
        count = action.attempts + 1
        now = self.clock()
        if attempt.ok:
            status, next_ms = DELIVERED, now
            self.metrics.actions_delivered.labels(action.monitor, action.kind).inc()
        else:
            self.metrics.action_failures.labels(action.monitor, action.kind).inc()
            if attempt.retryable and count <= options.max_retries:
                status, next_ms = PENDING, now + attempts.backoff_ms(options.backoff_seconds, count)
                log.info("monitor action %s attempt %d failed (%s); retrying", action.key, count, attempt.detail)
            else:
                status, next_ms = FAILED, now
                self.metrics.actions_abandoned.labels(action.monitor, action.kind).inc()
                log.warning("monitor action %s failed after %d attempt(s): %s", action.key, count, attempt.detail)
        await asyncio.to_thread(self.store.record_attempt, action.key, status, next_ms, attempt.detail, now)

    async def _attempt(self, options: Webhook | AlertAction | Command, action: ActionRow) -> attempts.Attempt:
        if isinstance(options, Webhook):
            assert self._http is not None
            return await attempts.post_webhook(self._http, options, action.key, action.payload, self.context)
        if isinstance(options, Command):
            return await attempts.run_command(options, action.key, action.payload, self.context)
        if options.topic not in self._topics:
            with contextlib.suppress(Exception):
                await self.bus.create_topic(options.topic)
            self._topics.add(options.topic)
        return await attempts.publish_alert(self.bus, options, action.key, action.payload)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _action_options(action: ActionRow) -> Webhook | AlertAction | Command:
    kinds: dict[str, type[Webhook] | type[AlertAction] | type[Command]] = {
        "webhook": Webhook,
        "alert": AlertAction,
        "command": Command,
    }
    return kinds[action.kind].model_validate(action.options)


def _window_view(m: _Monitor, seq: int, verdict: WindowVerdict) -> dict[str, Any]:
    """A closing window in the shape of a stored one (what alert payloads are built from)."""
    return {
        "window": seq,
        "generation": m.generation,
        "start_ms": verdict.start_ms,
        "end_ms": verdict.end_ms,
        "rows": verdict.rows,
        "drift_share": verdict.drift_share,
        "dataset_drift": verdict.dataset_drift,
        "features": verdict.features,
        "performance": None,
        "service": verdict.service,
        "prompt_drift": verdict.prompt_drift,
    }
