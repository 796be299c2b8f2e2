"""The deployment controller: desired state in the database, converged into running deployments.

It implements the control plane's ``Controller`` protocol (``cnai up`` starts and stops it with
the app). Every ``resync_s`` it lists the Deployment resources, starts a
:class:`~cnai.deploy.runner.DeploymentRunner` for each new one, hands changed specs to existing
ones and stops those whose resource was deleted. Re-listing rather than reacting to events means
nothing is missed however the spec changed (``cnai apply``, another control-plane process on the
same PostgreSQL, a promote), at the price of up to ``resync_s`` of delay.

After a crash or restart, a fresh controller reads the same resources and their statuses: each
runner adopts the replicas its predecessor recorded (see :mod:`cnai.deploy.replicas`), binds the
router to the recorded port, and converges from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from cnai.deploy.metrics import DeployMetrics
from cnai.deploy.replicas import Launcher
from cnai.deploy.resolver import VersionResolver
from cnai.deploy.runner import DeploymentRunner, RunnerContext
from cnai.deploy.specs import KIND
from cnai.resources import ResourceStore

log = logging.getLogger("cnai.deploy")


class DeploymentController:
    name = "deployments"

    def __init__(
        self,
        store: ResourceStore,
        *,
        tracking_uri: str,
        home: Path,
        tracking_token: str = "",
        registry: CollectorRegistry | None = None,
        host: str = "127.0.0.1",
        serve_args: Sequence[str] = (),
        resync_s: float = 1.0,
        tick_s: float = 0.5,
        activation_timeout_s: float = 60.0,
        health_interval_s: float = 1.0,
        alias_refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``tracking_uri``: the registry that resolves ``models:/`` URIs (normally this control plane);
        ``tracking_token``: the control plane's bearer token, when it requires one;
        ``home``: CNAI_HOME for replicas (their logs go to ``home/deployments/NAME/``);
        ``registry``: where the deployment metrics go (the control plane's ``/metrics``);
        ``serve_args``: extra ``cnai serve`` flags for every replica (e.g. ``--no-inference-log``)."""
        self.store = store
        self.resync_s = resync_s
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = DeployMetrics(self.registry)
        self.resolver = VersionResolver(tracking_uri, token=tracking_token, refresh_s=alias_refresh_s, clock=clock)
        launcher = Launcher(
            home=home,
            tracking_uri=tracking_uri,
            tracking_token=tracking_token,
            host=host,
            serve_args=serve_args,
            health_interval_s=health_interval_s,
        )
        self._ctx = RunnerContext(
            store=store,
            launcher=launcher,
            resolver=self.resolver,
            metrics=self.metrics,
            host=host,
            tick_s=tick_s,
            activation_timeout_s=activation_timeout_s,
            clock=clock,
        )
        self.runners: dict[str, DeploymentRunner] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="deployment-controller")

    async def stop(self) -> None:
        """Stop every router and replica; the resources stay, so the next start converges again."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        runners, self.runners = list(self.runners.values()), {}
        await asyncio.gather(*(runner.stop() for runner in runners), return_exceptions=True)
        for runner in runners:
            with contextlib.suppress(Exception):  # a deleted resource has no status to write
                status = runner.stopped_status()
                await asyncio.to_thread(self.store.set_status, KIND, runner.name, status, runner.resource.generation)
        await self.resolver.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deployment controller: sync failed; retrying")
            await asyncio.sleep(self.resync_s)

    async def sync(self) -> None:
        """One pass: start, update and stop runners to match the stored resources."""
        resources = await asyncio.to_thread(self.store.list, KIND)
        wanted = {r.name: r for r in resources}
        for name, resource in wanted.items():
            runner = self.runners.get(name)
            if runner is None:
                runner = self.runners[name] = DeploymentRunner(resource, self._ctx)
                await runner.start()
                log.info("deployment %s: started (generation %d)", name, resource.generation)
            else:
                runner.update(resource)
        for name in [n for n in self.runners if n not in wanted]:
            runner = self.runners.pop(name)
            await runner.stop()
            self.metrics.forget(name)
            log.info("deployment %s: deleted; router and replicas stopped", name)
