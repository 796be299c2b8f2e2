"""One deployment's convergence: its router, its two replica pools, autoscaling, canary judgement
and the status it reports.

Each tick (``tick_s``, or at once when a replica changes state or a request waits at the router)
compares what runs with what the spec asks and takes the next steps; nothing here waits for a
replica to start, so a slow start never stalls autoscaling or another deployment.

Rolling update (a new *revision*: the alias moved, or the spec changed what replicas run): new
replicas start beside the old ones; only when as many new replicas are ready as are wanted are the
old ones taken out of the router, drained (their outstanding requests finish) and stopped. Until
then both serve, so no request meets a missing replica. A new revision that never gets ready
leaves the old one serving, with the failure in the status.

Crashed replicas are replaced at once the first time and with exponential backoff when they
keep crashing before they are ready (a model that cannot load must not fork-bomb the laptop).

What happens on the way (replicas started, ready, failed, stopped; scaling decisions; roll-outs
and canary changes) is recorded as events in the status (:mod:`cnai.deploy.events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnai._clock import now_ms
from cnai.deploy import events as ev
from cnai.deploy.autoscaler import Autoscaler, Decision, ScalingPolicy
from cnai.deploy.canary import Thresholds, judge
from cnai.deploy.metrics import DeployMetrics
from cnai.deploy.replicas import FAILED, READY, STARTING, STOPPED, Launcher, Replica, ReplicaTemplate, kill_recorded
from cnai.deploy.resolver import VersionResolver
from cnai.deploy.router import CANARY, PRIMARY, Router, RouterServer
from cnai.deploy.specs import KIND, DeploymentSpec, llm_flags, llm_switches, parse_deployment_spec
from cnai.deploy.traffic import TrafficHistory
from cnai.errors import CnaiError
from cnai.resources import Resource, ResourceStore

log = logging.getLogger("cnai.deploy")

DRAIN_TIMEOUT_S = 30.0
HEALTHY_RESETS_BACKOFF_S = 30.0


@dataclass
class RunnerContext:
    """What every deployment's runner shares; built by the controller."""

    store: ResourceStore
    launcher: Launcher
    resolver: VersionResolver
    metrics: DeployMetrics
    host: str
    tick_s: float = 0.5
    activation_timeout_s: float = 60.0
    clock: Callable[[], float] = time.monotonic


class _Pool:
    def __init__(self, role: str) -> None:
        self.role = role
        self.replicas: list[Replica] = []
        self.failures = 0
        self.next_start_at = 0.0
        self.last_failure: str | None = None  # why the last replica failed, for the status

    def active(self, template: ReplicaTemplate | None) -> list[Replica]:
        return [r for r in self.replicas if r.template == template and r.state in (STARTING, READY)]

    def ready(self) -> list[Replica]:
        return [r for r in self.replicas if r.state == READY]


class DeploymentRunner:
    def __init__(self, resource: Resource, ctx: RunnerContext) -> None:
        self.name = resource.name
        self.ctx = ctx
        self.resource = resource
        self.router = Router(
            self.name, ctx.metrics, on_demand=self._on_demand, activation_timeout_s=ctx.activation_timeout_s,
            clock=ctx.clock,
        )  # fmt: skip
        self.server: RouterServer | None = None
        self.pools = {PRIMARY: _Pool(PRIMARY), CANARY: _Pool(CANARY)}
        self._draining: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._autoscaler: Autoscaler | None = None
        self._policy: ScalingPolicy | None = None
        self._desired = 0
        self._canary_revision: str | None = None
        self._last_rollback: dict[str, Any] | None = resource.status.get("lastRollback")
        self._last_status: tuple[dict[str, Any], int] | None = None
        self._error: str | None = None
        self._templates: dict[str, ReplicaTemplate | None] = {PRIMARY: None, CANARY: None}
        # Wall-clock samples of the router's counters for the UI's charts (status.traffic).
        self._traffic = TrafficHistory()
        # What happened, for describe and the UI (status.events); a restart continues the list.
        status = resource.status
        self.events = ev.EventLog(status.get("events") or [])
        self._revisions: dict[str, str | None] = {
            PRIMARY: status.get("revision"),
            CANARY: (status.get("canary") or {}).get("revision"),
        }
        self._canary_percent: float | None = (status.get("canary") or {}).get("percent")
        # The revision being rolled out, until it carries the load (also across a restart mid-way).
        self._rolling_to: str | None = status.get("revision") if status.get("phase") in _UNFINISHED else None
        self._rolled_back: str | None = None  # a canary revision the judge rolled back (its removal is known)
        self._former_canary: str | None = None  # the last canary removed: a promote may roll it out next
        self._announced: set[str] = set()  # replicas whose readiness is recorded
        self._started_at: dict[str, float] = {}

    # ---- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._adopt(self.resource.status.get("processes") or [])
        self._task = asyncio.create_task(self._loop(), name=f"deployment-{self.name}")

    def update(self, resource: Resource) -> None:
        if resource.generation != self.resource.generation:
            self._wake.set()
        self.resource = resource

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.server is not None:
            await self.server.stop()
            self.server = None
        await self.router.close()
        replicas = [r for pool in self.pools.values() for r in pool.replicas]
        for pool in self.pools.values():
            pool.replicas.clear()
        await asyncio.gather(*(self.ctx.launcher.stop(r) for r in replicas), *self._draining)
        for r in [r for r in replicas if r.state == STOPPED]:  # a failed one's failure is recorded already
            self.events.add(ev.REPLICA_STOPPED, f"{r.id} stopped: the controller is stopping", target=r.role,
                            **_fields(r))  # fmt: skip

    def stopped_status(self) -> dict[str, Any]:
        """The status to leave behind once :meth:`stop` has run (the controller writes it)."""
        last = self._last_status[0] if self._last_status else self.resource.status
        return {**last, "phase": "Stopped", "message": "controller stopped", "processes": [],
                "replicas": {"desired": 0, "ready": 0, "updated": 0}, "events": self.events.export()}  # fmt: skip

    def _on_demand(self) -> None:
        if self._autoscaler is not None:
            self._autoscaler.note_demand(self.ctx.clock())
        self._wake.set()

    def _adopt(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            replica = self.ctx.launcher.adopt(record, self._wake.set)
            if replica is None:
                continue
            pool = self.pools.get(replica.role)
            if pool is None:
                kill_recorded(record)
                continue
            log.info("%s: adopted %s (pid %d)", self.name, replica.id, replica.pid)
            pool.replicas.append(replica)
            if record.get("state") == READY:
                self._announced.add(replica.id)  # its readiness was recorded by the previous controller
            said = f"{replica.id} (pid {replica.pid}) adopted from the previous controller"
            self.events.add(ev.REPLICA_ADOPTED, said, target=replica.role, **_fields(replica))
        self._desired = len(self.pools[PRIMARY].replicas)

    async def _loop(self) -> None:
        while True:
            try:
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad tick must not end the deployment's loop
                log.exception("%s: reconcile failed", self.name)
                self._error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.ctx.tick_s)
            self._wake.clear()

    # ---- one tick ------------------------------------------------------------------------------------
    async def _reconcile(self) -> None:
        resource = self.resource
        spec = parse_deployment_spec(resource.spec)
        now = self.ctx.clock()
        self._error = None
        await self._ensure_router(spec)
        primary_t = await self._template(PRIMARY, spec.model, spec)
        if spec.canary is None:
            self._templates[CANARY] = None
        canary_t = await self._template(CANARY, spec.canary.model, spec) if spec.canary else None
        self._check_canary_revision(canary_t)
        self._note_revisions(spec, primary_t, canary_t)
        self._promote_ready_canaries(primary_t)
        self._note_ready(now)

        decision = self._autoscale(spec, now)
        canary_count = 0
        if spec.canary is not None and spec.canary.percent > 0 and decision.desired > 0:
            canary_count = max(1, math.ceil(decision.desired * spec.canary.percent / 100))

        self._converge(self.pools[PRIMARY], primary_t, decision.desired, now)
        self._converge(self.pools[CANARY], canary_t, canary_count, now)
        percent = spec.canary.percent if spec.canary is not None else 0.0
        self.router.models = frozenset({spec.served_name or self.name})  # what OpenAI requests may name
        self.router.set_backends(
            [r.backend for r in self.pools[PRIMARY].ready()], [r.backend for r in self.pools[CANARY].ready()], percent
        )
        if spec.canary is not None and canary_t is not None:
            await self._judge_canary(spec)
        self._note_rollout_done(primary_t, decision)
        await self._write_status(spec, decision, primary_t, canary_t)

    async def _ensure_router(self, spec: DeploymentSpec) -> None:
        wanted = spec.port or (self.server.port if self.server else self.resource.status.get("port") or 0)
        if self.server is not None and (spec.port is None or spec.port == self.server.port):
            return
        if self.server is not None:
            await self.server.stop()
            self.server = None
        try:
            server = RouterServer(self.router, self.ctx.host, int(wanted))
        except CnaiError as exc:
            if spec.port is not None:
                raise
            log.warning("%s: port %s is taken (%s); choosing another", self.name, wanted, exc.message)
            server = RouterServer(self.router, self.ctx.host, 0)
        await server.start()
        self.server = server
        log.info("%s: router listening on %s", self.name, server.url)

    async def _template(self, role: str, uri: str, spec: DeploymentSpec) -> ReplicaTemplate | None:
        """The template for ``uri``; when it cannot be resolved, the last one (keep serving) or None."""
        try:
            pinned, version = await self.ctx.resolver.resolve(uri)
        except CnaiError as exc:
            self._error = f"cannot resolve {uri}: {exc.message}"
            return self._templates[role]
        template = ReplicaTemplate(
            served_name=spec.served_name or self.name,
            model_uri=pinned,
            version=version,
            max_batch_size=spec.batching.max_batch_size,
            max_batch_delay_ms=spec.batching.max_batch_delay_ms,
            max_memory=spec.resources.model_budget,  # limits.memory bounds the models when maxMemory is unset
            llm_options=llm_flags(spec),
            llm_switches=llm_switches(spec),
        )
        self._templates[role] = template
        return template

    def _check_canary_revision(self, canary_t: ReplicaTemplate | None) -> None:
        revision = canary_t.revision if canary_t is not None else None
        if revision != self._canary_revision:
            self._canary_revision = revision
            self.router.stats[CANARY].reset_outcomes()  # a new canary is judged on its own traffic only

    def _promote_ready_canaries(self, primary_t: ReplicaTemplate | None) -> None:
        """After a promote, canary replicas already run the new primary: move them, start fewer."""
        canary = self.pools[CANARY]
        for replica in [r for r in canary.replicas if r.template == primary_t and r.state == READY]:
            canary.replicas.remove(replica)
            replica.role = PRIMARY
            self.pools[PRIMARY].replicas.append(replica)

    # ---- events -------------------------------------------------------------------------------------
    def _note_revisions(
        self, spec: DeploymentSpec, primary_t: ReplicaTemplate | None, canary_t: ReplicaTemplate | None
    ) -> None:
        """Roll-outs (the primary's revision changed) and canary changes, as events."""
        old_primary, old_canary = self._revisions[PRIMARY], self._revisions[CANARY]
        if spec.canary is None and old_canary is not None:
            # Promoted when the primary now runs what the canary ran (a pinned promote); else
            # rolled back by the judge (recorded then), or removed by a rollback or an edit.
            self._revisions[CANARY] = self._canary_percent = None
            if primary_t is not None and primary_t.revision == old_canary:
                self.events.add(ev.CANARY_PROMOTED, f"canary {_v(primary_t)} promoted to primary",
                                target=CANARY, revision=old_canary, version=primary_t.version)  # fmt: skip
            else:
                self._former_canary = old_canary
                if old_canary != self._rolled_back:
                    self.events.add(ev.CANARY_REMOVED, "canary removed from the spec (promote or rollback)",
                                    target=CANARY, revision=old_canary)  # fmt: skip
        if canary_t is not None and spec.canary is not None:
            percent = spec.canary.percent
            if canary_t.revision != old_canary:
                self._revisions[CANARY], self._canary_percent = canary_t.revision, percent
                self.events.add(
                    ev.CANARY_STARTED, f"canary {spec.canary.model} ({_v(canary_t)}) at {percent:g}% of traffic",
                    target=CANARY, revision=canary_t.revision, version=canary_t.version, percent=percent,
                )  # fmt: skip
            elif percent != self._canary_percent:
                before = "-" if self._canary_percent is None else f"{self._canary_percent:g}%"
                self.events.add(ev.CANARY_WEIGHT, f"canary traffic {before} -> {percent:g}%", target=CANARY,
                                percent=percent)  # fmt: skip
                self._canary_percent = percent
        if primary_t is not None and primary_t.revision != old_primary:
            self._revisions[PRIMARY] = self._rolling_to = primary_t.revision
            if old_primary is not None and primary_t.revision == self._former_canary:
                # A promote that moved an alias: the canary left the spec first, the alias moved next.
                self.events.add(ev.CANARY_PROMOTED, f"canary {_v(primary_t)} promoted to primary (alias moved)",
                                target=CANARY, revision=primary_t.revision, version=primary_t.version)  # fmt: skip
            self._former_canary = None
            self.events.add(
                ev.ROLLOUT_STARTED,
                f"rolling out revision {primary_t.revision}: {primary_t.model_uri} ({_v(primary_t)})"
                + (f", replacing revision {old_primary}" if old_primary else ""),
                target=PRIMARY, revision=primary_t.revision, version=primary_t.version,
            )  # fmt: skip

    def _note_ready(self, now: float) -> None:
        for pool in self.pools.values():
            for replica in pool.ready():
                if replica.id in self._announced:
                    continue
                self._announced.add(replica.id)
                started = self._started_at.pop(replica.id, None)
                took = f" after {now - started:.1f} s" if started is not None else ""
                self.events.add(ev.REPLICA_READY, f"{replica.id} ready{took} ({_v(replica.template)})",
                                target=pool.role, **_fields(replica))  # fmt: skip

    def _note_rollout_done(self, primary_t: ReplicaTemplate | None, decision: Decision) -> None:
        if self._rolling_to is None or primary_t is None or primary_t.revision != self._rolling_to:
            return
        pool = self.pools[PRIMARY]
        updated = [r for r in pool.ready() if r.template == primary_t]
        if len(updated) >= max(decision.desired, 1) and all(r.template == primary_t for r in pool.replicas):
            self.events.add(ev.ROLLOUT_COMPLETE,
                            f"revision {primary_t.revision} ({_v(primary_t)}) serves: {len(updated)} ready",
                            target=PRIMARY, revision=primary_t.revision, version=primary_t.version)  # fmt: skip
            self._rolling_to = None

    # ---- autoscaling ------------------------------------------------------------------------------
    def _autoscale(self, spec: DeploymentSpec, now: float) -> Decision:
        a = spec.autoscaling
        policy = ScalingPolicy(
            min_replicas=spec.replicas.min,
            max_replicas=spec.replicas.max or spec.replicas.min or 1,
            target_concurrency=a.target_concurrency,
            stable_window_s=a.stable_window_seconds,
            panic_window_s=a.panic_window_seconds,
            panic_threshold=a.panic_threshold,
            scale_to_zero_after_s=a.scale_to_zero_after_seconds,
        )
        if policy != self._policy or self._autoscaler is None:
            self._policy = policy
            self._autoscaler = Autoscaler(policy, now, current=self._desired)
        concurrency = (
            self.router.stats[PRIMARY].average_concurrency()
            + self.router.stats[CANARY].average_concurrency()
            + self.router.held
        )
        if self.router.held:
            self._autoscaler.note_demand(now)
        self._autoscaler.record(now, concurrency)
        decision = self._autoscaler.decide(now, self._desired)
        m = self.ctx.metrics
        action = "hold"
        if decision.desired != self._desired:
            action = "scale_up" if decision.desired > self._desired else "scale_down"
            log.info(
                "%s: scale %d -> %d (%s; concurrency stable %.2f, panic %.2f)",
                self.name, self._desired, decision.desired, decision.reason,
                decision.stable_concurrency, decision.panic_concurrency,
            )  # fmt: skip
            self.events.add(
                ev.SCALED_UP if action == "scale_up" else ev.SCALED_DOWN,
                f"{self._desired} -> {decision.desired} replicas ({decision.reason}; concurrency stable "
                f"{decision.stable_concurrency:.2f}, panic {decision.panic_concurrency:.2f}, "
                f"target {policy.target_concurrency:g} per replica)",
                target=PRIMARY,
                **{"from": self._desired, "to": decision.desired, "reason": decision.reason,
                   "concurrency": round(decision.stable_concurrency, 3),
                   "panicConcurrency": round(decision.panic_concurrency, 3)},
            )  # fmt: skip
        m.decisions.labels(self.name, action).inc()
        m.desired_replicas.labels(self.name).set(decision.desired)
        m.observed_concurrency.labels(self.name).set(decision.stable_concurrency)
        m.panic.labels(self.name).set(1 if decision.panic else 0)
        self._desired = decision.desired
        return decision

    # ---- replicas ----------------------------------------------------------------------------------
    def _failure_reason(self, replica: Replica) -> str:
        """``primary-4711 exited before it was ready: <the replica's last log line> (log: path)``."""
        path = self.ctx.launcher.replica_log(self.name, replica)
        last = _last_line(path)
        return f"{replica.id} {replica.error or 'failed'}" + (f": {last}" if last else "") + f" (log: {path})"

    def _converge(self, pool: _Pool, template: ReplicaTemplate | None, count: int, now: float) -> None:
        for replica in [r for r in pool.replicas if r.state == FAILED]:
            pool.replicas.remove(replica)
            self._retire(replica, drain=False)
            pool.last_failure = self._failure_reason(replica)
            self._announced.discard(replica.id)
            self._started_at.pop(replica.id, None)
            self.events.add(ev.REPLICA_FAILED, pool.last_failure, target=pool.role, **_fields(replica))
            healthy_for = now - replica.ready_at if replica.ready_at is not None else 0.0
            pool.failures = 1 if healthy_for > HEALTHY_RESETS_BACKOFF_S else pool.failures + 1
            pool.next_start_at = now + (0.0 if pool.failures <= 1 else min(30.0, 0.5 * 2 ** (pool.failures - 1)))
            if replica.ready_at is not None:
                self.ctx.metrics.restarts.labels(self.name).inc()
        if template is None:
            if count == 0:  # no canary (any more): its replicas go
                for replica in list(pool.replicas):
                    pool.replicas.remove(replica)
                    self._retire(replica, drain=True, why="the canary was removed")
            return  # else the model cannot be resolved yet: keep what runs, start nothing
        current = pool.active(template)
        if len(current) < count and now >= pool.next_start_at:
            for _ in range(count - len(current)):
                replica = self.ctx.launcher.spawn(self.name, pool.role, template, self._wake.set)
                pool.replicas.append(replica)
                self._started_at[replica.id] = now
                self.events.add(
                    ev.REPLICA_STARTED,
                    f"{replica.id} (pid {replica.pid}) started serving {template.model_uri} ({_v(template)})",
                    target=pool.role, revision=template.revision, version=template.version, **_fields(replica),
                )  # fmt: skip
        elif len(current) > count:
            # Scale down: not-yet-ready replicas first, then the least busy.
            extras = sorted(current, key=lambda r: (r.state == READY, r.backend.outstanding))[: len(current) - count]
            for replica in extras:
                pool.replicas.remove(replica)
                self._retire(replica, drain=True, why=f"scaled down to {count}")
        ready_new = [r for r in pool.active(template) if r.state == READY]
        if len(ready_new) >= count:
            # The new revision carries the whole load: take the old one out, drain, stop.
            for replica in [r for r in pool.replicas if r.template != template]:
                pool.replicas.remove(replica)
                self._retire(replica, drain=True, why=f"replaced by revision {template.revision}")
        if pool.replicas and all(r.state == READY for r in pool.replicas):
            if all(r.ready_at is not None and now - r.ready_at > HEALTHY_RESETS_BACKOFF_S for r in pool.replicas):
                pool.failures = 0

    def _retire(self, replica: Replica, drain: bool, why: str = "") -> None:
        failed = replica.state == FAILED  # its failure is recorded already; stopping it is no news
        self._announced.discard(replica.id)
        self._started_at.pop(replica.id, None)

        async def retire() -> None:
            if drain:
                deadline = self.ctx.clock() + DRAIN_TIMEOUT_S
                # The router no longer picks it (set_backends runs this tick); wait for what it holds.
                await asyncio.sleep(0)
                while replica.backend.outstanding > 0 and self.ctx.clock() < deadline:
                    await asyncio.sleep(0.05)
            await self.ctx.launcher.stop(replica)
            log.info("%s: stopped %s", self.name, replica.id)
            if not failed:
                drained = " after draining" if drain else ""
                self.events.add(ev.REPLICA_STOPPED, f"{replica.id} stopped{drained}" + (f": {why}" if why else ""),
                                target=replica.role, **_fields(replica))  # fmt: skip
                self._wake.set()  # the next tick writes the event into the status

        task = asyncio.create_task(retire(), name=f"retire-{replica.id}")
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    # ---- canary ------------------------------------------------------------------------------------
    async def _judge_canary(self, spec: DeploymentSpec) -> None:
        assert spec.canary is not None
        stats = self.router.stats[CANARY]
        thresholds = Thresholds(spec.canary.min_requests, spec.canary.max_error_rate, spec.canary.max_p99_latency_ms)
        verdict = judge(stats.requests, stats.errors, stats.p99_ms(), thresholds)
        if verdict.healthy:
            return
        log.warning("%s: rolling back canary %s: %s", self.name, spec.canary.model, verdict.reason)
        self._last_rollback = {"reason": verdict.reason, "canaryModel": spec.canary.model, "at": now_ms()}
        self._rolled_back = self._canary_revision
        self.events.add(ev.CANARY_ROLLED_BACK, f"canary {spec.canary.model} rolled back: {verdict.reason}",
                        target=CANARY, model=spec.canary.model)  # fmt: skip
        self.ctx.metrics.rollbacks.labels(self.name).inc()
        new_spec = {**self.resource.spec, "canary": None}
        self.resource = await asyncio.to_thread(self.ctx.store.update_spec, KIND, self.name, new_spec)
        self._wake.set()

    # ---- status -------------------------------------------------------------------------------------
    async def _write_status(
        self,
        spec: DeploymentSpec,
        decision: Decision,
        primary_t: ReplicaTemplate | None,
        canary_t: ReplicaTemplate | None,
    ) -> None:
        primary, canary = self.pools[PRIMARY], self.pools[CANARY]
        ready = primary.ready()
        updated = [r for r in ready if r.template == primary_t]
        m = self.ctx.metrics
        m.ready_replicas.labels(self.name, PRIMARY).set(len(ready))
        m.ready_replicas.labels(self.name, CANARY).set(len(canary.ready()))
        rolling = any(r.template != primary_t for r in primary.replicas)
        if self._error and not ready:
            phase = "Failed"
        elif decision.desired == 0 and not primary.replicas:
            phase = "ScaledToZero"
        elif not ready and primary.failures >= 2 and primary.last_failure:
            phase = "Failing"  # replicas keep failing before they are ready; retried with backoff
        elif not ready:
            phase = "Pending"
        elif rolling or len(updated) < decision.desired:
            phase = "Progressing"
        else:
            phase = "Ready"
        stats = self.router.stats[CANARY]
        self._traffic.sample(self.router.stats)
        status: dict[str, Any] = {
            "phase": phase,
            "message": self._error or _message(phase, primary.replicas, primary.last_failure),
            "url": self.server.url if self.server else None,
            "port": self.server.port if self.server else None,
            "model": {"uri": spec.model, "resolved": primary_t.model_uri if primary_t else None,
                      "version": primary_t.version if primary_t else None},
            "revision": primary_t.revision if primary_t else None,
            "replicas": {"desired": decision.desired, "ready": len(ready), "updated": len(updated)},
            "autoscaler": {"desired": decision.desired, "panic": decision.panic,
                           "concurrency": round(decision.stable_concurrency, 3)},
            "canary": None if spec.canary is None else {
                "model": spec.canary.model,
                "version": canary_t.version if canary_t else None,
                "percent": spec.canary.percent,
                "revision": canary_t.revision if canary_t else None,
                "ready": len(canary.ready()),
                "requests": stats.requests,
                "errors": stats.errors,
                "p99Ms": None if (p99 := stats.p99_ms()) is None else round(p99, 3),
            },
            "lastRollback": self._last_rollback,
            "traffic": self._traffic.export(),
            "events": self.events.export(),
            "processes": [r.record() for pool in self.pools.values() for r in pool.replicas],
        }  # fmt: skip
        key = (status, self.resource.generation)
        if key == self._last_status:
            return
        await asyncio.to_thread(self.ctx.store.set_status, KIND, self.name, status, self.resource.generation)
        self._last_status = key


_UNFINISHED = ("Pending", "Progressing", "Failing")


def _v(template: ReplicaTemplate) -> str:
    """``v3`` for a registry version, ``local`` for a model directory."""
    version = str(template.version)
    return f"v{version}" if version.isdigit() else version


def _fields(replica: Replica) -> dict[str, Any]:
    """What a replica event carries to find the replica (and its log) later."""
    return {"replica": replica.id, "role": replica.role, "port": replica.port, "pid": replica.pid}


# uvicorn's own closing lines after a failed start say nothing about the cause: skip them.
_GENERIC = ("Application startup failed", "Waiting for application", "Started server process", "Finished server")


def _last_line(path: Path, max_bytes: int = 8192) -> str:
    """The last informative line of a log file ('' when there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not any(g in line for g in _GENERIC)]
    return lines[-1][:300] if lines else ""


def _message(phase: str, replicas: list[Replica], last_failure: str | None = None) -> str:
    if phase == "Failing":
        return f"replicas fail before they are ready, retrying with backoff: {last_failure}"
    failing = [f"{r.id}: {r.error}" for r in replicas if r.error]
    if failing:
        return "; ".join(failing)
    return {
        "Ready": "all replicas ready",
        "Progressing": "rolling out",
        "Pending": "starting replicas",
        "ScaledToZero": "idle: no replicas until the next request",
    }.get(phase, phase)
