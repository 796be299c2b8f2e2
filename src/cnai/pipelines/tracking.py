"""Where a pipeline run is recorded: the parent run, a child run per step, registered models.

Two backends with one interface: the embedded store under ``CNAI_HOME`` (the same SQLite or
PostgreSQL stores the control plane uses, called directly) and a remote control plane through the
stock MLflow REST API, so ``--tracking-uri`` works against any cnai server, and a remote server
needs no pipeline-specific write endpoint.

Lineage lives in the child runs' tags, not in a table of its own (see :mod:`cnai.pipelines.lineage`):
every edge is written by the same call that records the step, through an API every MLflow-speaking
server already has, and is queryable with ordinary run search (``tags.`cnai.lineage.out` = 'sha256:...'``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

import httpx

from cnai.errors import AlreadyExists, CnaiError, NotFound, Unavailable
from cnai.settings import Settings

PARENT_TAG = "mlflow.parentRunId"


def now_ms() -> int:
    return int(time.time() * 1000)


class Tracker(ABC):
    @abstractmethod
    def experiment_id(self, name: str) -> str: ...

    @abstractmethod
    def create_run(
        self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int, params: dict[str, str] | None = None
    ) -> str: ...

    @abstractmethod
    def finish_run(
        self, run_id: str, status: str, end_ms: int, tags: dict[str, str], metrics: dict[str, float] | None = None
    ) -> None: ...

    @abstractmethod
    def register_model(self, name: str, source: str, run_id: str) -> str:
        """Create a version of registered model ``name`` from ``source``; returns the version."""

    def close(self) -> None:  # noqa: B027
        pass


class StoreTracker(Tracker):
    """The embedded (or directly reachable) metadata store."""

    def __init__(self, settings: Settings) -> None:
        from cnai.db.engine import make_engine
        from cnai.db.migrate import alembic_config, current_revision, upgrade
        from cnai.registry.store import RegistryStore
        from cnai.tracking.experiments import ExperimentStore
        from cnai.tracking.runs import RunStore

        settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.store)
        # Alembic's upgrade runs its environment script even when there is nothing to do; a run
        # of a cached pipeline should cost milliseconds, so it is called only when behind.
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()
        if current_revision(self.engine) != head:
            upgrade(self.engine)
        self.experiments = ExperimentStore(self.engine)
        self.experiments.ensure_default()
        self.runs = RunStore(self.engine)
        self.registry = RegistryStore(self.engine)

    def experiment_id(self, name: str) -> str:
        try:
            return str(self.experiments.get_by_name(name)["experiment_id"])
        except NotFound:
            try:
                return self.experiments.create(name, None, [])
            except AlreadyExists:
                return str(self.experiments.get_by_name(name)["experiment_id"])

    def create_run(
        self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int, params: dict[str, str] | None = None
    ) -> str:
        run = self.runs.create(experiment_id, "cnai-pipeline", start_ms, list(tags.items()), name)
        run_id = str(run["info"]["run_id"])
        if params:
            self.runs.log_batch(run_id, [], list(params.items()), [])
        return run_id

    def finish_run(
        self, run_id: str, status: str, end_ms: int, tags: dict[str, str], metrics: dict[str, float] | None = None
    ) -> None:
        from cnai.tracking.metrics import MetricPoint

        points = [MetricPoint(k, float(v), end_ms) for k, v in (metrics or {}).items()]
        if tags or points:
            self.runs.log_batch(run_id, points, [], list(tags.items()))
        self.runs.update(run_id, status, end_ms, None)

    def register_model(self, name: str, source: str, run_id: str) -> str:
        try:
            self.registry.create_model(name, [], "")
        except AlreadyExists:
            pass
        version = self.registry.create_version(name, source, run_id, [], None, None, None)
        return str(version["version"])

    def close(self) -> None:
        self.engine.dispose()


class HttpTracker(Tracker):
    """A control plane at ``settings.tracking_uri``, through the MLflow REST API 2.0."""

    def __init__(self, settings: Settings) -> None:
        self.base = settings.tracking_uri.rstrip("/")
        headers = {"Authorization": f"Bearer {settings.auth_token}"} if settings.auth_token else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=30)

    def _call(self, method: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            if method == "GET":
                response = self.http.get(f"/api/2.0/mlflow/{endpoint}", params=body)
            else:
                response = self.http.post(f"/api/2.0/mlflow/{endpoint}", json=body)
        except httpx.TransportError:
            raise Unavailable(
                f"No cnai server answers at {self.base}: start one with `cnai up`, or fix --tracking-uri"
            ) from None
        data: dict[str, Any] = response.json() if response.content else {}
        if response.status_code == 404 and data.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(str(data.get("message")))
        if response.status_code == 400 and data.get("error_code") == "RESOURCE_ALREADY_EXISTS":
            raise AlreadyExists(str(data.get("message")))
        if response.status_code >= 400:
            raise CnaiError(f"{self.base} answered {response.status_code}: {data.get('message', response.text)}")
        return data

    def experiment_id(self, name: str) -> str:
        try:
            return str(
                self._call("GET", "experiments/get-by-name", {"experiment_name": name})["experiment"]["experiment_id"]
            )
        except NotFound:
            try:
                return str(self._call("POST", "experiments/create", {"name": name})["experiment_id"])
            except AlreadyExists:
                return self.experiment_id(name)

    def create_run(
        self, experiment_id: str, name: str, tags: dict[str, str], start_ms: int, params: dict[str, str] | None = None
    ) -> str:
        body = {
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": start_ms,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        run_id = str(self._call("POST", "runs/create", body)["run"]["info"]["run_id"])
        if params:
            self._call(
                "POST",
                "runs/log-batch",
                {"run_id": run_id, "params": [{"key": k, "value": v} for k, v in params.items()]},
            )
        return run_id

    def finish_run(
        self, run_id: str, status: str, end_ms: int, tags: dict[str, str], metrics: dict[str, float] | None = None
    ) -> None:
        if tags or metrics:
            batch = {
                "run_id": run_id,
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
                "metrics": [{"key": k, "value": v, "timestamp": end_ms, "step": 0} for k, v in (metrics or {}).items()],
            }
            self._call("POST", "runs/log-batch", batch)
        self._call("POST", "runs/update", {"run_id": run_id, "status": status, "end_time": end_ms})

    def register_model(self, name: str, source: str, run_id: str) -> str:
        try:
            self._call("POST", "registered-models/create", {"name": name})
        except AlreadyExists:
            pass
        body = {"name": name, "source": source, "run_id": run_id}
        return str(self._call("POST", "model-versions/create", body)["model_version"]["version"])

    def close(self) -> None:
        self.http.close()


def make_tracker(settings: Settings, remote: bool) -> Tracker:
    return HttpTracker(settings) if remote else StoreTracker(settings)
