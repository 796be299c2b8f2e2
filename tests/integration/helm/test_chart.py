"""deploy/helm/cnai: `helm lint --strict`, and what `helm template` renders validated strictly.

Built-in kinds are checked with kubernetes-validate in strict mode (unknown fields refused) for the
oldest release the chart supports and the newest one the package knows; the ServiceMonitor against
the Prometheus Operator's published CRD (../shared/k8s-schemas), with every object schema closed.
No API server can run here, so schema validation is the strongest check there is; the tests also
tie the chart to the code it runs: env var names cnai's Settings reads, values those settings and
URL parsers accept, CLI commands that exist, and the probe path being an open route.
"""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.main import get_command

import cnai
from cnai.auth.policy import OPEN_PATHS
from cnai.cli.main import app as cli_app
from cnai.settings import Settings
from tests.fixtures import k8s as k8s_validation
from tests.integration.helm.conftest import CHART, PRODUCTION_VALUES, REPO, Render, run_helm

pytestmark = pytest.mark.integration

OLDEST_KUBERNETES = "1.25.0"  # Chart.yaml's kubeVersion
KUBERNETES_VERSIONS = [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]

# Every switch on, so every template renders: ingress, ServiceMonitor, credentials given as values.
ALL_ON = [
    "--set", "ingress.enabled=true", "--set", "ingress.hosts={cnai.example.com}",
    "--set", "metrics.serviceMonitor.enabled=true",
    "--set", "database.password=pw", "--set", "s3.accessKeyId=AKIA", "--set", "s3.secretAccessKey=s3cret",
    "--set", "s3.endpoint=http://minio:9000", "--set", "kafka.options.client_id=cnai",
    "--set", "policy.allowCommandActions=true", "--set", "policy.commandAllowlist={/usr/bin/retrain}",
    "--set", "policy.webhookAllowlist={10.0.0.0/8}", "--set", "server.allowedOrigins={https://ui.example.com}",
]  # fmt: skip
WORKLOAD_SECRET = "cnai-config"
SETUPS = {"default": [], "production": ["-f", str(PRODUCTION_VALUES)], "all-on": ALL_ON}

# Variables the chart sets that are not cnai settings, each read by a library cnai uses.
FOREIGN_ENV = {
    "PGPASSWORD": "libpq (psycopg): the database password, so the URL needs no escaping",
    "AWS_ACCESS_KEY_ID": "boto3's credential chain",
    "AWS_SECRET_ACCESS_KEY": "boto3's credential chain",
    "AWS_DEFAULT_REGION": "boto3's region",
    "HOME": "the user's home on a read-only root filesystem: /tmp",
}


# ---- validation ----------------------------------------------------------------------------------


def validation_errors(doc: dict[str, Any], kubernetes_version: str) -> list[str]:
    """Why ``doc`` would be refused: [] when it is valid. Custom resources (the ServiceMonitor) go
    through the shared strict check against the CRDs kept in tests/data/crds; built-in kinds through
    kubernetes-validate for the given Kubernetes release."""
    group = doc["apiVersion"].rpartition("/")[0]
    if (group, doc["kind"]) in k8s_validation.CRDS:
        try:
            k8s_validation.validate_manifest(doc)
        except AssertionError as exc:
            return [str(exc)]
        return []
    try:
        kubernetes_validate.validate(doc, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


# ---- helpers ------------------------------------------------------------------------------------


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]


def _containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for spec in _pod_specs(docs) for c in spec["containers"]]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


def _secret(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    """A rendered Secret's data, decoded."""
    (secret,) = [d for d in _by_kind(docs, "Secret") if d["metadata"]["name"] == name]
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def _env_sets(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each environment the chart defines: every container's (``valueFrom`` entries as they are),
    and the workload Secret that rendered Monitor pods take whole with envFrom."""
    sets: list[dict[str, Any]] = [
        {name: e.get("value", e.get("valueFrom")) for name, e in _env(c).items()} for c in _containers(docs)
    ]
    if any(d["metadata"]["name"] == WORKLOAD_SECRET for d in _by_kind(docs, "Secret")):
        sets.append(dict(_secret(docs, WORKLOAD_SECRET)))
    return sets


# ---- lint and strict validation -----------------------------------------------------------------


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_helm_lint_strict_passes(helm: Path, setup: str) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *SETUPS[setup])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_rendered_manifests_validate_strictly(render: Render, setup: str, kubernetes_version: str) -> None:
    docs = render(*SETUPS[setup])
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "Job"} <= kinds
    if setup != "default":
        assert {"Ingress", "ServiceMonitor"} <= kinds
    problems = {f"{d['kind']}/{d['metadata']['name']}": validation_errors(d, kubernetes_version) for d in docs}
    assert {name: errors for name, errors in problems.items() if errors} == {}


def test_validation_refuses_unknown_fields(render: Render) -> None:
    """The checks above can fail: a misspelled field in a built-in kind and in the custom one is refused."""
    docs = render(*ALL_ON)
    (server,) = [d for d in _by_kind(docs, "Deployment") if d["metadata"]["name"] == "cnai"]
    broken = copy.deepcopy(server)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/health"}
    assert validation_errors(broken, KUBERNETES_VERSIONS[-1])
    (monitor,) = [d for d in _by_kind(docs, "ServiceMonitor") if d["metadata"]["name"] == "cnai"]
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["bearerTokenSecrett"] = {"name": "x", "key": "token"}
    assert validation_errors(broken, KUBERNETES_VERSIONS[-1])


# ---- values: schema and required settings -------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("server.replicas=3", "replicas"),  # the key is replicaCount
        ("database.hots=db.example.com", "hots"),
        ("kafka.options.client=cnai", "client"),  # not an option cnai's Kafka backend knows
        ("logLevel=verbose", "logLevel"),
    ],
)
def test_values_schema_refuses_typos(helm: Path, override: str, named: str) -> None:
    result = run_helm(helm, "template", "cnai", str(CHART), "--set", override)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "database.host="], "database: cnai needs an external PostgreSQL: set database.url, or database."),
        (["--set", "s3.bucket="], "s3.bucket: cnai keeps artifacts in S3"),
        (["--set", "kafka.bootstrapServers=null"], "kafka.bootstrapServers: the monitor controller reads"),
        (["--set", "ingress.enabled=true"], "ingress.hosts: an enabled ingress needs at least one host"),
    ],
)
def test_missing_required_setting_fails_with_one_clear_line(helm: Path, args: list[str], message: str) -> None:
    result = run_helm(helm, "template", "cnai", str(CHART), *args)
    assert result.returncode != 0
    assert message in result.stderr


def test_controllers_can_run_without_kafka_only_when_disabled(render: Render) -> None:
    docs = render("--set", "kafka.bootstrapServers=null", "--set", "controllers.enabled=false")
    assert [d["metadata"]["name"] for d in _by_kind(docs, "Deployment")] == ["cnai"]


# ---- the chart matches the code it runs ---------------------------------------------------------


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_env_names_are_settings_cnai_reads(render: Render, setup: str) -> None:
    prefix = Settings.model_config["env_prefix"]
    known = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    names = {name for env in _env_sets(render(*SETUPS[setup])) for name in env}
    assert names - known - set(FOREIGN_ENV) == set()
    assert {"CNAI_STORE", "CNAI_ARTIFACTS", "CNAI_AUTH_TOKEN", "CNAI_EVENT_BUS"} <= names


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_rendered_settings_are_accepted_by_cnai(render: Render, setup: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The literal values the chart writes parse as cnai parses them: Settings, the event-bus URL
    (Kafka options included), the store URL (driver psycopg) and the S3 artifact root."""
    from sqlalchemy.engine import make_url

    from cnai.artifacts import store_from_uri
    from cnai.events import bus_from_url

    for env in _env_sets(render(*SETUPS[setup])):
        literal = {name: value for name, value in env.items() if isinstance(value, str)}
        for name in [n for n in os.environ if n.startswith("CNAI_")]:
            monkeypatch.delenv(name)
        for name, value in literal.items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        assert make_url(settings.store).drivername == "postgresql+psycopg"
        assert settings.artifacts.startswith("s3://")
        store_from_uri(settings.artifacts, s3_endpoint_url=settings.s3_endpoint_url)
        if "CNAI_EVENT_BUS" in literal:
            assert type(bus_from_url(settings.event_bus)).__name__ == "KafkaBus"


def _cli_command(*path: str) -> Any:
    """The click command `cnai PATH...`, or None."""
    command: Any = get_command(cli_app)
    for name in path:
        command = getattr(command, "commands", {}).get(name)
        if command is None:
            return None
    return command


@pytest.mark.parametrize(
    "argv",
    [["server"], ["db", "upgrade"], ["controller", "monitor"]],
)
def test_container_commands_exist_in_the_cli(render: Render, argv: list[str]) -> None:
    """Each container's `cnai ...` is a command with those options (a renamed flag fails here)."""
    (cmd,) = [c["command"] + c["args"] for c in _containers(render()) if c["args"][: len(argv)] == argv]
    assert cmd[0] == "cnai"
    command = _cli_command(*argv)
    assert command is not None
    known = {opt for param in command.params for opt in param.opts}
    assert {arg for arg in cmd[1 + len(argv) :] if arg.startswith("-")} <= known


def test_probes_use_an_open_route(render: Render) -> None:
    """Kubernetes probes carry no token: the path must be one the auth policy leaves open."""
    (server,) = [c for c in _containers(render()) if c["name"] == "server"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"]["path"] in OPEN_PATHS
        assert server[probe]["httpGet"]["port"] == "http"


def test_app_version_is_the_cnai_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == cnai.__version__


# ---- what the chart promises --------------------------------------------------------------------


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_every_pod_is_non_root_with_a_read_only_root(render: Render, setup: str) -> None:
    for spec in _pod_specs(render(*SETUPS[setup])):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]]
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_no_service_link_variables_reach_cnai(render: Render, setup: str) -> None:
    """Kubernetes gives every pod <SERVICE>_PORT=tcp://IP:PORT for each Service in its namespace
    unless enableServiceLinks is false; for the chart's Service `cnai` that is CNAI_PORT, which
    cnai's settings read as the port (and refuse: `cnai db upgrade` would fail on an upgrade)."""
    docs = render(*SETUPS[setup])
    prefix = Settings.model_config["env_prefix"]
    known = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    links = {d["metadata"]["name"].upper().replace("-", "_") + "_PORT" for d in _by_kind(docs, "Service")}
    assert links & known  # the collision is real (CNAI_PORT) ...
    for spec in _pod_specs(docs):
        assert spec["enableServiceLinks"] is False  # ... so no pod of the chart gets those variables


def test_default_install_shape(render: Render) -> None:
    docs = render()
    deployments = {d["metadata"]["name"]: d for d in _by_kind(docs, "Deployment")}
    assert deployments["cnai"]["spec"]["replicas"] == 2
    assert deployments["cnai-controllers"]["spec"]["replicas"] == 1
    assert deployments["cnai-controllers"]["spec"]["strategy"]["type"] == "Recreate"
    (job,) = _by_kind(docs, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    (secret,) = [d for d in _by_kind(docs, "Secret") if d["metadata"]["name"] == "cnai"]
    # The Secret is a hook that runs before the migration Job, which reads the credentials in it.
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert _by_kind(docs, "ServiceMonitor") == []
    assert _by_kind(docs, "Ingress") == []
    # Only the API server gets the admin token; the controller and the migration need the store alone.
    for container in _containers(docs):
        assert ("CNAI_AUTH_TOKEN" in _env(container)) == (container["name"] == "server")
    (server,) = [c for c in _containers(docs) if c["name"] == "server"]
    hosts = _env(server)["CNAI_ALLOWED_HOSTS"]["value"].split(",")
    assert {"cnai", "cnai.cnai.svc", "cnai.cnai.svc.cluster.local"} <= set(hosts)


def test_generated_token_is_long_random_and_stays_in_the_secret(render: Render) -> None:
    # Two renders with the same values (the second differs only by an unused --set, not to hit the cache).
    tokens = [_secret(render(), "cnai")["token"], _secret(render("--set", "nameOverride="), "cnai")["token"]]
    assert all(len(t) == 48 and t.isalnum() for t in tokens)
    assert tokens[0] != tokens[1]  # no cluster to `lookup` in: each render makes a new one


def test_given_token_and_existing_secrets(render: Render) -> None:
    secret = _secret(render("--set", "auth.token=a-fixed-token-of-32-characters!!"), "cnai")
    assert secret["token"] == "a-fixed-token-of-32-characters!!"
    docs = render("-f", str(PRODUCTION_VALUES))
    # Everything comes from Secrets made beforehand: the chart makes only the rendered workloads' one,
    # without credentials (`helm template` has no cluster to copy them from).
    assert [d["metadata"]["name"] for d in _by_kind(docs, "Secret")] == [WORKLOAD_SECRET]
    assert not {"PGPASSWORD", "AWS_ACCESS_KEY_ID"} & set(_secret(docs, WORKLOAD_SECRET))
    (server,) = [c for c in _containers(docs) if c["name"] == "server"]
    env = _env(server)
    assert env["CNAI_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "cnai-admin-token", "key": "token"}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "cnai-db", "key": "password"}
    assert "cnai.example.com" in env["CNAI_ALLOWED_HOSTS"]["value"].split(",")


def test_database_url_is_kept_in_the_secret(render: Render) -> None:
    url = "postgresql+psycopg://cnai:p%40ss@db:5432/cnai"
    docs = render("--set", f"database.url={url}")
    assert _secret(docs, "cnai")["store-url"] == url
    assert _secret(docs, WORKLOAD_SECRET)["CNAI_STORE"] == url
    for container in _containers(docs):
        assert _env(container)["CNAI_STORE"]["valueFrom"]["secretKeyRef"]["key"] == "store-url"
        assert "PGPASSWORD" not in _env(container)


def test_workload_config_carries_the_same_settings_as_the_chart_pods(render: Render) -> None:
    """Rendered Monitor pods (envFrom cnai-config) must meet the store and bus the chart's pods use."""
    docs = render(*ALL_ON)
    config = _secret(docs, WORKLOAD_SECRET)
    (controller,) = [c for c in _containers(docs) if c["name"] == "monitor"]
    env = _env(controller)
    for name in ("CNAI_STORE", "CNAI_ARTIFACTS", "CNAI_EVENT_BUS", "CNAI_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        assert config[name] == env[name]["value"]
    assert config["PGPASSWORD"] == "pw"
    assert config["AWS_SECRET_ACCESS_KEY"] == "s3cret"
    assert "CNAI_AUTH_TOKEN" not in config  # rendered workloads never get the admin token
    assert WORKLOAD_SECRET not in {
        d["metadata"]["name"] for d in _by_kind(render("--set", "workloadConfig.create=false"), "Secret")
    }


def _schema_keys_missing_from(schema: dict[str, Any], values: Any, path: str = "") -> list[str]:
    """Closed objects' keys that values.yaml does not set. Kubernetes-shaped parts (resources) and
    maps left empty by default (kafka.options: its keys are listed in the comment above it) excepted."""
    if schema.get("additionalProperties") is not False or not values or path.endswith("resources."):
        return []
    missing = []
    for key, sub in schema.get("properties", {}).items():
        if key not in values:
            missing.append(f"{path}{key}")
        else:
            missing += _schema_keys_missing_from(sub, values[key], f"{path}{key}.")
    return missing


def test_values_yaml_documents_every_key_the_schema_allows() -> None:
    """values.yaml is the chart's documentation: a key the schema accepts must appear in it."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _schema_keys_missing_from(schema, values) == []


def test_get_helm_is_idempotent(helm: Path) -> None:
    """A second run finds the pinned helm and leaves it alone (`make test` calls it every time)."""
    import subprocess

    if os.environ.get("HELM"):
        pytest.skip("HELM names a helm of its own")
    before = helm.stat().st_mtime_ns
    result = subprocess.run(
        [str(REPO / "scripts" / "get-helm.sh")], capture_output=True, text=True, timeout=60, check=True
    )
    assert Path(result.stdout.strip()) == helm
    assert helm.stat().st_mtime_ns == before
    assert run_helm(helm, "version", "--short").stdout.startswith("v3.17.")
