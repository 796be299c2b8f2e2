"""Concurrent writers lose nothing; two servers on one PostgreSQL agree; restarts keep commits."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric
from sqlalchemy import create_engine, make_url, text

from cnai.settings import Settings
from tests.fixtures.servers import (
    PG_ADMIN_URL,
    LiveServer,
    postgres_database,
    start_live_server,
    start_server_process,
)

pytestmark = pytest.mark.integration


def test_eight_clients_logging_to_one_run_lose_no_point(client: MlflowClient, live_server: LiveServer) -> None:
    exp_id = client.create_experiment(f"conc-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp_id).info.run_id
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            mine = MlflowClient(live_server.url)  # its own connection pool
            for i in range(60):
                mine.log_metric(run_id, "shared", float(n * 1000 + i), step=n * 1000 + i)
            mine.log_batch(run_id, metrics=[Metric(f"w{n}", float(i), 0, i) for i in range(200)])
            mine.log_param(run_id, f"worker{n}", str(n))
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    shared = client.get_metric_history(run_id, "shared")
    assert sorted(m.step for m in shared) == sorted(n * 1000 + i for n in range(8) for i in range(60))
    run = client.get_run(run_id)
    assert run.data.metrics["shared"] == 7059.0  # the point with the highest step wins
    for n in range(8):
        assert len(client.get_metric_history(run_id, f"w{n}")) == 200
        assert run.data.params[f"worker{n}"] == str(n)


def _both_servers_workload(urls: list[str]) -> None:
    clients = [MlflowClient(u) for u in urls]
    exp_id = clients[0].create_experiment(f"shared-{uuid.uuid4().hex[:8]}")
    name = f"shared-model-{uuid.uuid4().hex[:6]}"
    clients[1].create_registered_model(name)
    run_ids: list[str] = []
    versions: list[str] = []
    lock = threading.Lock()

    def worker(c: MlflowClient) -> None:
        for i in range(10):
            run = c.create_run(exp_id)
            c.log_batch(run.info.run_id, metrics=[Metric("m", float(i), 0, s) for s in range(50)])
            mv = c.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
            with lock:
                run_ids.append(run.info.run_id)
                versions.append(mv.version)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(v) for v in versions) == list(range(1, 41)), "versions are unique and gapless"
    for c in clients:
        seen = c.search_runs([exp_id], max_results=1000)
        assert {r.info.run_id for r in seen} == set(run_ids)
        assert all(len(c.get_metric_history(r, "m")) == 50 for r in run_ids[:5])
        assert len(c.search_model_versions(f"name = '{name}'")) == 40


@pytest.mark.postgres
def test_two_server_processes_on_one_postgres_stay_consistent(tmp_path: Path) -> None:
    with postgres_database() as url:
        artifacts = (tmp_path / "artifacts").as_uri()
        servers = [start_server_process(tmp_path / f"h{i}", url, artifacts) for i in range(2)]
        try:
            _both_servers_workload([s.url for s in servers])
        finally:
            for s in servers:
                s.stop()


def _restart_round_trip(tmp_path: Path, store: str) -> None:
    artifacts = (tmp_path / "artifacts").as_uri()
    first = start_server_process(tmp_path / "h", store, artifacts)
    try:
        mlflow.set_tracking_uri(first.url)
        c = MlflowClient(first.url)
        exp_id = c.create_experiment("survives-restart")
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_params({"a": "1", "b": "2"})
            for step in range(100):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_text("kept", "notes.txt")
        c.create_registered_model("restart-model")
        c.create_model_version("restart-model", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        c.set_registered_model_alias("restart-model", "champion", "1")
    finally:
        first.stop()
    second = start_server_process(tmp_path / "h", store, artifacts)
    try:
        mlflow.set_tracking_uri(second.url)
        c = MlflowClient(second.url)
        got = c.get_run(run.info.run_id)
        assert got.info.status == "FINISHED"
        assert got.data.params == {"a": "1", "b": "2"}
        assert len(c.get_metric_history(run.info.run_id, "loss")) == 100
        assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt") == "kept"
        assert c.get_model_version_by_alias("restart-model", "champion").version == "1"
        assert c.get_experiment_by_name("survives-restart").experiment_id == exp_id
    finally:
        second.stop()


def test_restart_loses_nothing_sqlite(tmp_path: Path) -> None:
    _restart_round_trip(tmp_path, f"sqlite:///{tmp_path / 'cnai.db'}")


@pytest.mark.postgres
def test_restart_loses_nothing_postgres(tmp_path: Path) -> None:
    with postgres_database() as url:
        _restart_round_trip(tmp_path, url)


@pytest.mark.postgres
def test_postgres_dropping_connections_costs_at_most_one_retryable_error(tmp_path: Path) -> None:
    """The pool is not pinged on every checkout (a round trip per request); a connection the
    database dropped fails one request with a 503, which the stock client retries, and the pool
    is renewed for the next."""
    with postgres_database() as url:
        server = start_live_server(Settings(home=tmp_path, store=url))
        try:
            exp_id = MlflowClient(server.url).create_experiment("survives")
            get = f"{server.url}/api/2.0/mlflow/experiments/get"
            assert requests.get(get, params={"experiment_id": exp_id}, timeout=10).status_code == 200
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                dropped = conn.execute(
                    text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :db"),
                    {"db": make_url(url).database},
                ).scalar_one()
            admin.dispose()
            assert dropped >= 1
            answers = [requests.get(get, params={"experiment_id": exp_id}, timeout=10) for _ in range(3)]
            first, *rest = answers
            assert first.status_code in (200, 503)
            if first.status_code == 503:
                assert first.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert [a.status_code for a in rest] == [200, 200]
            assert rest[-1].json()["experiment"]["name"] == "survives"
        finally:
            server.stop()
