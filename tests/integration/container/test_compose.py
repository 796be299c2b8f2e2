"""deploy/compose.yaml: valid for the compose-spec check and `docker-compose config`, and its cnai
service comes up under podman-compose.

PostgreSQL, MinIO and Kafka images cannot be pulled here, so deploy/compose.ci.yaml points the cnai
service at this machine's PostgreSQL (a fresh database), the S3-compatible server
and the Kafka-protocol broker the fixtures start, on the host network (the only one allowed here:
CONTAINERS.md). Everything else of the service is the stack's own: the image's entrypoint, the
secrets mounted from files (the store URL, the admin token, the S3 credentials file), the
environment and the health check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import mlflow
import pytest
import yaml

from tests.fixtures.s3 import TEST_CREDENTIALS, s3_client
from tests.fixtures.servers import free_port, postgres_database
from tests.integration.container.podman import REPO, Podman, wait_for_http

pytestmark = [pytest.mark.integration]

COMPOSE = REPO / "deploy" / "compose.yaml"
COMPOSE_CI = REPO / "deploy" / "compose.ci.yaml"  # the override for this machine


def test_compose_file_passes_compose_spec() -> None:
    import compose_spec

    compose = compose_spec.PyCompose.from_yaml(COMPOSE.read_text())
    assert {"postgres", "minio", "kafka", "cnai", "prometheus", "grafana"} <= set(compose.service_names())


def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: `make test-tools` (scripts/containers.sh tools) installs it"
    proc = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_no_secret_values_in_compose_environment() -> None:
    """Secrets arrive as files: no environment value names a password, token or key."""
    stack = yaml.safe_load(COMPOSE.read_text())
    for name, service in stack["services"].items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if any(word in key.upper() for word in ("PASSWORD", "TOKEN", "SECRET", "STORE", "KEY")):
                assert key.endswith("_FILE") or str(value).startswith("/run/secrets/") or value in stack["secrets"], (
                    f"{name}: {key} carries a secret value"
                )
    assert set(stack["secrets"]) >= {"postgres_password", "cnai_store", "cnai_auth_token", "s3_credentials"}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.kafka
@pytest.mark.timeout(3000)
def test_cnai_service_comes_up_under_podman_compose(
    podman: Podman,
    images: dict[str, str],
    s3_endpoint: str,
    s3_bucket: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = tmp_path / "secrets"
    subprocess.run([str(REPO / "scripts" / "compose-secrets.sh"), str(secrets)], check=True, capture_output=True)
    (secrets / "s3_credentials").write_text(
        "[default]\n"
        f"aws_access_key_id = {TEST_CREDENTIALS['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {TEST_CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n"
    )
    token = (secrets / "cnai_auth_token").read_text().strip()
    port = free_port()
    project = f"cnai-ci-{uuid.uuid4().hex[:8]}"
    compose_cli = shutil.which("podman-compose") or str(Path(sys.executable).with_name("podman-compose"))
    with postgres_database() as store:
        (secrets / "cnai_store").write_text(store + "\n")
        command = [compose_cli, "-p", project, "-f", str(COMPOSE), "-f", str(COMPOSE_CI)]
        env = {
            **podman.env,
            "CNAI_CI_IMAGE": images["serving"],
            "CNAI_CI_PORT": str(port),
            "CNAI_CI_BUCKET": s3_bucket,
            "CNAI_CI_S3_ENDPOINT_URL": s3_endpoint,
            "CNAI_CI_KAFKA": kafka_bootstrap,
            "CNAI_CI_SECRETS": str(secrets),
        }
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # only the mounted file may supply them
            env.pop(name, None)
        up = subprocess.run(
            [*command, "up", "-d", "--no-deps", "cnai"], env=env, capture_output=True, text=True, timeout=300
        )
        container = f"{project}_cnai_1"
        try:
            assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
            url = f"http://127.0.0.1:{port}"
            assert wait_for_http(f"{url}/health", podman, container, timeout=120).status_code == 200

            # The token came from its secret file: without it reads are refused, with it they pass.
            assert httpx.get(f"{url}/api/2.0/mlflow/experiments/search?max_results=1").status_code == 401
            headers = {"Authorization": f"Bearer {token}"}
            assert httpx.get(f"{url}/metrics", headers=headers).status_code == 200

            # Artifacts reach the S3 bucket with the credentials file, the store is the secret's database.
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
            mlflow.set_tracking_uri(url)
            try:
                mlflow.set_experiment("compose")
                with mlflow.start_run() as run:
                    mlflow.log_text("hello from compose", "note.txt")
            finally:
                mlflow.set_tracking_uri(None)
            keys = [o["Key"] for o in s3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
            assert any(key.endswith(f"{run.info.run_id}/artifacts/note.txt") for key in keys), keys

            # The stack's own health check, run in the container.
            check = podman.run("healthcheck", "run", container, check=False)
            assert check.returncode == 0, check.stdout + check.stderr + podman.logs(container)
            inspect = json.loads(podman.run("inspect", container).stdout)[0]
            assert inspect["Config"]["User"] == "10001:10001"
        finally:
            down = subprocess.run(
                [*command, "down", "-v", "-t", "5"], env=env, capture_output=True, text=True, timeout=120
            )
            podman.run("rm", "-f", "-v", container, check=False)
            assert down.returncode == 0 or "no such" in down.stderr.lower(), down.stderr[-2000:]
