"""The role each route of the control plane needs: one table, read top to bottom.

| family      | paths                                              | safe methods | writes |
|-------------|----------------------------------------------------|--------------|--------|
| open        | /health, /version                                  | none         | none   |
| mlflow      | /api/{2,3}.0/mlflow/..., /ajax-api/{2,3}.0/mlflow/ | reader       | editor (*) |
| artifacts   | /api/2.0/mlflow-artifacts/..., /ajax-api/...       | reader       | editor |
| admin       | /api/v1/tokens..., /api/v1/audit...                | admin        | admin  |
| v1          | /api/v1/... (incl. /api/v1/pipelines/runs/{id})    | reader       | editor |
| metrics     | /metrics                                           | reader       | editor |
| ui          | /, /ui/... (incl. replica logs, see below; studies)  | reader       | editor |
| unknown     | anything else (it answers 404)                     | reader       | editor |

(*) except the POSTs that only read (searches, ``READ_ONLY_POSTS``): reader.

A replica's log (``GET /ui/deployments/{name}/replicas/{id}/log``) is a reader's, like the rest of
the deployment's page: whoever may read the status may read why a replica failed (the status
message already quotes the log's last line). The route reads only recorded replicas' log files.

``tests/unit/auth/test_policy.py`` walks every route of the composed app and fails when one falls
through to ``unknown``, so a new route cannot ship without a decision here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnai.auth.principal import Role

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

MLFLOW_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
ADMIN_PREFIXES = ("/api/v1/tokens", "/api/v1/audit")
V1_PREFIX = "/api/v1/"
OPEN_PATHS = frozenset({"/health", "/version"})

# MLflow POSTs that only read (the stock client sends searches as POST); every other MLflow POST,
# PATCH or DELETE writes. Paths after the /api/<version>/mlflow/ prefix.
READ_ONLY_POSTS = frozenset(
    {
        "runs/search",
        "experiments/search",
        "registered-models/search",
        "model-versions/search",
        "logged-models/search",
        "registered-models/get-latest-versions",
        "metrics/get-history-bulk-interval",
        "traces/search",
    }
)


@dataclass(frozen=True)
class Decision:
    """What a request needs: ``role`` (None: open to anyone), the route ``family`` (which also picks
    the error shape: mlflow/artifacts answer MLflow's, v1/admin cnai's, ui HTML, others text),
    whether it ``writes`` (audited), and whether its body must be ``json``."""

    role: Role | None
    family: str
    writes: bool
    json: bool


def decide(method: str, path: str) -> Decision:
    unsafe = method not in SAFE_METHODS
    if path in OPEN_PATHS:
        return Decision(None, "open", False, False)
    for prefix in MLFLOW_PREFIXES:
        if path.startswith(prefix):
            reads = not unsafe or (method == "POST" and path[len(prefix) :].rstrip("/") in READ_ONLY_POSTS)
            return Decision(Role.READER if reads else Role.EDITOR, "mlflow", not reads, unsafe)
    if path.startswith(ARTIFACT_PREFIXES):
        return Decision(Role.EDITOR if unsafe else Role.READER, "artifacts", unsafe, False)
    if path.startswith(ADMIN_PREFIXES):
        return Decision(Role.ADMIN, "admin", unsafe, unsafe)
    if path.startswith(V1_PREFIX):
        return Decision(Role.EDITOR if unsafe else Role.READER, "v1", unsafe, unsafe)
    if path == "/metrics":
        return Decision(Role.EDITOR if unsafe else Role.READER, "metrics", unsafe, False)
    if path == "/" or path.startswith("/ui/"):
        return Decision(Role.EDITOR if unsafe else Role.READER, "ui", unsafe, False)
    # Unknown paths answer 404; a write to one still needs editor, so a route added without a
    # decision here fails closed rather than open.
    return Decision(Role.EDITOR if unsafe else Role.READER, "unknown", unsafe, False)


def required_role(method: str, path: str) -> Role | None:
    """The role a request needs; None for the open routes (health, version)."""
    return decide(method, path).role
