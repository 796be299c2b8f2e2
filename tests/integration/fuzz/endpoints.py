"""Every endpoint the fuzz run drives, declared once: its family, method, route path and the
message fields its handler reads; and the strategy that turns one into a request.

``test_every_route_is_fuzzed`` compares this table with the app's routes, so a new endpoint
without an entry here fails the suite instead of going unfuzzed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.integration.fuzz import seed
from tests.integration.fuzz.strategies import (
    CONTENT_TYPES,
    INT_EDGES,
    RAW_BODIES,
    encode_json,
    filter_string,
    hostile_or,
    ints,
    json_value,
    order_by,
    page_token,
    scalar,
    text,
)

MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
# Replaced by the harness with a real reader token it creates (cases are drawn before it exists).
READER_TOKEN = "<reader>"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


@dataclass(frozen=True)
class Target:
    family: str
    method: str
    path: str  # the route path without its prefix, with {parameters}
    fields: tuple[str, ...] = ()
    kind: str = "message"  # message | artifact | document | feedback | v1 | v1body (JSON fields)
    # An accepted request may delete or move a seeded object: re-seed after it.
    reseed: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _t(family: str, method: str, path: str, *fields: str, kind: str = "message", reseed: bool = False) -> Target:
    return Target(family, method, path, tuple(fields), kind, reseed)


SEARCH = ("filter", "order_by", "max_results", "page_token")
KV = ("key", "value")
RM, MV = "/registered-models", "/model-versions"

TARGETS: list[Target] = [
    # experiments
    _t("experiments", "POST", "/experiments/create", "name", "artifact_location", "tags"),
    _t("experiments", "GET", "/experiments/get", "experiment_id"),
    _t("experiments", "GET", "/experiments/get-by-name", "experiment_name"),
    _t("experiments", "POST", "/experiments/search", "view_type", *SEARCH),
    _t("experiments", "GET", "/experiments/search", "view_type", *SEARCH),
    _t("experiments", "GET", "/experiments/list", "view_type", *SEARCH),
    _t("experiments", "POST", "/experiments/update", "experiment_id", "new_name", reseed=True),
    _t("experiments", "POST", "/experiments/delete", "experiment_id", reseed=True),
    _t("experiments", "POST", "/experiments/restore", "experiment_id"),
    _t("experiments", "POST", "/experiments/set-experiment-tag", "experiment_id", *KV),
    _t("experiments", "POST", "/experiments/delete-experiment-tag", "experiment_id", "key"),
    # runs, metrics, params, tags, batch
    _t("runs", "POST", "/runs/create", "experiment_id", "user_id", "start_time", "tags", "run_name"),
    _t("runs", "GET", "/runs/get", "run_id", "run_uuid"),
    _t("runs", "POST", "/runs/update", "run_id", "status", "end_time", "run_name"),
    _t("runs", "POST", "/runs/delete", "run_id", reseed=True),
    _t("runs", "POST", "/runs/restore", "run_id"),
    _t("runs", "POST", "/runs/set-tag", "run_id", *KV),
    _t("runs", "POST", "/runs/delete-tag", "run_id", "key"),
    _t("runs", "POST", "/runs/log-parameter", "run_id", *KV),
    _t(
        "runs",
        "POST",
        "/runs/log-metric",
        "run_id",
        *KV,
        "timestamp",
        "step",
        "model_id",
        "dataset_name",
        "dataset_digest",
    ),
    _t("runs", "POST", "/runs/log-batch", "run_id", "metrics", "params", "tags"),
    _t("runs", "POST", "/runs/log-inputs", "run_id", "datasets"),
    _t("runs", "POST", "/runs/outputs", "run_id", "models"),
    _t("runs", "POST", "/runs/log-model", "run_id", "model_json"),
    _t("runs", "POST", "/runs/search", "experiment_ids", "run_view_type", *SEARCH),
    _t("runs", "GET", "/metrics/get-history", "run_id", "metric_key", "max_results", "page_token"),
    # logged models (MLflow 3)
    _t(
        "logged-models",
        "POST",
        "/logged-models",
        "experiment_id",
        "name",
        "source_run_id",
        "model_type",
        "params",
        "tags",
    ),
    _t(
        "logged-models",
        "POST",
        "/logged-models/search",
        "experiment_ids",
        "filter",
        "lm_order_by",
        "max_results",
        "page_token",
    ),
    _t("logged-models", "GET", "/logged-models/{model_id}", "allow_deleted"),
    _t("logged-models", "PATCH", "/logged-models/{model_id}", "status"),
    _t("logged-models", "DELETE", "/logged-models/{model_id}", reseed=True),
    _t("logged-models", "PATCH", "/logged-models/{model_id}/tags", "tags"),
    _t("logged-models", "DELETE", "/logged-models/{model_id}/tags/{tag_key}"),
    _t("logged-models", "POST", "/logged-models/{model_id}/params", "params"),
    # registered models and aliases
    _t("registered-models", "POST", f"{RM}/create", "name", "tags", "description"),
    _t("registered-models", "GET", f"{RM}/get", "name"),
    _t("registered-models", "POST", f"{RM}/rename", "name", "new_name", reseed=True),
    _t("registered-models", "PATCH", f"{RM}/update", "name", "description"),
    _t("registered-models", "DELETE", f"{RM}/delete", "name", reseed=True),
    _t("registered-models", "POST", f"{RM}/set-tag", "name", *KV),
    _t("registered-models", "DELETE", f"{RM}/delete-tag", "name", "key"),
    _t("registered-models", "GET", f"{RM}/search", *SEARCH),
    _t("registered-models", "POST", f"{RM}/get-latest-versions", "name", "stages"),
    _t("registered-models", "GET", f"{RM}/get-latest-versions", "name", "stages"),
    _t("registered-models", "POST", f"{RM}/alias", "name", "alias", "version"),
    _t("registered-models", "DELETE", f"{RM}/alias", "name", "alias", reseed=True),
    _t("registered-models", "GET", f"{RM}/alias", "name", "alias"),
    # model versions
    _t(
        "model-versions",
        "POST",
        f"{MV}/create",
        "name",
        "source",
        "run_id",
        "tags",
        "run_link",
        "description",
        "model_id",
    ),
    _t("model-versions", "GET", f"{MV}/get", "name", "version"),
    _t("model-versions", "PATCH", f"{MV}/update", "name", "version", "description"),
    _t("model-versions", "POST", f"{MV}/transition-stage", "name", "version", "stage", "archive_existing_versions"),
    _t("model-versions", "DELETE", f"{MV}/delete", "name", "version", reseed=True),
    _t("model-versions", "POST", f"{MV}/set-tag", "name", "version", *KV),
    _t("model-versions", "DELETE", f"{MV}/delete-tag", "name", "version", "key"),
    _t("model-versions", "GET", f"{MV}/search", *SEARCH),
    _t("model-versions", "GET", f"{MV}/get-download-uri", "name", "version"),
    # the artifact proxy
    _t("artifacts", "GET", "/artifacts", "path", kind="artifact"),
    _t("artifacts", "PUT", "/artifacts/{path}", kind="artifact"),
    _t("artifacts", "GET", "/artifacts/{path}", kind="artifact"),
    _t("artifacts", "DELETE", "/artifacts/{path}", kind="artifact", reseed=True),
    # cnai's own API
    _t("v1 resources", "GET", "/api/v1/resources/{kind}", kind="v1"),
    _t("v1 resources", "GET", "/api/v1/resources/{kind}/{name}", kind="v1"),
    _t("v1 resources", "PUT", "/api/v1/resources/{kind}/{name}", kind="document", reseed=True),
    _t("v1 resources", "DELETE", "/api/v1/resources/{kind}/{name}", kind="v1", reseed=True),
    _t("v1 deployments", "POST", "/api/v1/deployments/{name}/promote", kind="v1", reseed=True),
    _t("v1 deployments", "POST", "/api/v1/deployments/{name}/rollback", kind="v1", reseed=True),
    _t("v1 feedback", "POST", "/api/v1/feedback", kind="feedback"),
    _t("v1 feedback", "GET", "/api/v1/feedback/{request_id}", kind="v1"),
    _t("v1 monitors", "GET", "/api/v1/monitors/{name}/windows", "limit", "before", kind="v1"),
    _t("v1 monitors", "GET", "/api/v1/monitors/{name}/actions", "limit", kind="v1"),
    _t("v1 tokens", "GET", "/api/v1/tokens", kind="v1"),
    _t("v1 tokens", "POST", "/api/v1/tokens", "name", "role", kind="v1body"),
    _t("v1 tokens", "DELETE", "/api/v1/tokens/{name}", kind="v1"),
    _t("v1 audit", "GET", "/api/v1/audit", "limit", kind="v1"),
    _t("v1 pipelines", "GET", "/api/v1/pipelines/runs/{run_id}", kind="v1"),
]


def route_paths(target: Target) -> list[str]:
    """The full route paths (as the app registers them) a target stands for."""
    if target.kind == "message":
        return [prefix + target.path for prefix in MLFLOW_PREFIXES]
    if target.kind == "artifact":
        return [prefix + target.path.replace("{path}", "{path:path}") for prefix in ARTIFACT_PREFIXES]
    return [target.path.replace("{request_id}", "{request_id:path}")]


# ---- field values --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A message field: values that pass its checks, and values that should not."""

    valid: st.SearchStrategy[Any]
    hostile: st.SearchStrategy[Any]


def field(valid: st.SearchStrategy[Any], *hostile: st.SearchStrategy[Any]) -> Field:
    # The field's own edge cases twice as often as generic wrong values.
    return Field(valid, st.one_of(*hostile, *hostile, scalar, json_value))


_short = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_. ", min_size=1, max_size=20)
_fresh_name = _short.map(lambda s: "fuzz-" + s.strip())
_key = st.sampled_from(["k", "k2", "mlflow.note.content", "mlflow.runName"])
_valid_pairs = st.lists(
    st.fixed_dictionaries({"key": _key, "value": _short}), max_size=3, unique_by=lambda kv: kv["key"]
)
_hostile_pair = st.fixed_dictionaries(
    {}, optional={"key": st.one_of(_key, scalar, json_value), "value": st.one_of(_short, scalar)}
)
_pairs = field(_valid_pairs, st.lists(_hostile_pair | json_value, min_size=1, max_size=4))
_finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
_valid_metric = st.fixed_dictionaries(
    {"key": st.sampled_from(["acc", "loss"]), "value": _finite, "timestamp": st.integers(0, 2**40)},
    optional={"step": st.integers(0, 1000)},
)
_hostile_metric = st.fixed_dictionaries(
    {},
    optional={
        "key": hostile_or(st.sampled_from(["acc", "loss"])),
        "value": st.one_of(scalar, st.sampled_from(["NaN", "Infinity", "-Infinity"])),
        "timestamp": hostile_or(st.sampled_from(INT_EDGES)),
        "step": hostile_or(st.sampled_from(INT_EDGES)),
        "model_id": scalar,
        "dataset_name": scalar,
        "dataset_digest": scalar,
    },
)
_valid_dataset = st.fixed_dictionaries(
    {
        "dataset": st.fixed_dictionaries(
            {"name": _short, "digest": st.just("d1"), "source_type": st.just("local"), "source": st.just("{}")}
        )
    },
    optional={"tags": _valid_pairs},
)
_hostile_dataset = st.fixed_dictionaries(
    {},
    optional={
        "dataset": hostile_or(
            st.fixed_dictionaries(
                {
                    "name": hostile_or(_short),
                    "digest": hostile_or(st.just("d1")),
                    "source_type": hostile_or(st.just("local")),
                    "source": hostile_or(st.just("{}")),
                },
                optional={"schema": scalar, "profile": scalar},
            )
        ),
        "tags": json_value,
    },
)
_experiment_id = st.one_of(seed.ref("experiment_id"), st.just("0"))
_run_id = seed.ref("run_id")
_statuses = ["RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"]
VALID_FILTERS = [
    "metrics.acc > 0.1",
    "params.lr = '0.1' AND tags.t != 'x'",
    "attributes.status = 'FINISHED'",
    "run_name LIKE 'fuzz%'",
    "name = 'fuzz-model'",
    "name LIKE 'fuzz%'",
    "name ILIKE '%EXP%'",
    "tags.k = 'v'",
    "version_number > 0",
    "run_id IN ('a', 'b')",
    "creation_time > 0",
    "status = 'READY'",
    "datasets.name = 'ds'",
]

FIELDS: dict[str, Field] = {
    "name": field(st.sampled_from([seed.MODEL, "fuzz-other"]) | _fresh_name),
    "new_name": field(_fresh_name | st.sampled_from([seed.MODEL, "fuzz-exp", "Default"])),
    "experiment_name": field(st.sampled_from(["fuzz-exp", "Default"])),
    "experiment_id": field(_experiment_id, st.sampled_from(["999999", "-1", "1e3", str(2**63)])),
    "experiment_ids": field(st.lists(_experiment_id, max_size=3), st.lists(scalar, min_size=1, max_size=3)),
    "artifact_location": field(
        st.just("mlflow-artifacts:/fuzz"), st.sampled_from(["file:///tmp/x", "../../..", "s3://bucket/p", "/etc"])
    ),
    "tags": _pairs,
    "params": _pairs,
    "view_type": field(st.sampled_from(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"])),
    "run_view_type": field(st.sampled_from(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"])),
    "filter": field(st.sampled_from(VALID_FILTERS), filter_string),
    "order_by": field(
        st.lists(
            st.sampled_from(
                [
                    "metrics.acc DESC",
                    "start_time",
                    "name ASC",
                    "attributes.start_time DESC",
                    "last_updated_timestamp DESC",
                ]
            ),
            max_size=2,
        ),
        order_by,
    ),
    "lm_order_by": field(
        st.lists(
            st.fixed_dictionaries(
                {"field_name": st.sampled_from(["creation_timestamp", "name", "metrics.acc"])},
                optional={"ascending": st.booleans()},
            ),
            max_size=2,
        ),
        st.lists(st.fixed_dictionaries({"field_name": text}, optional={"ascending": scalar}), min_size=1, max_size=3),
    ),
    "max_results": field(st.integers(1, 1000), st.sampled_from(INT_EDGES)),
    "page_token": field(st.just(""), page_token),
    "key": field(_key),
    "value": field(_short | _finite.map(str)),
    "run_id": field(_run_id, st.just("f" * 32)),
    "run_uuid": field(_run_id, st.just("f" * 32)),
    "source_run_id": field(_run_id, st.just("f" * 32)),
    "user_id": field(_short),
    "run_name": field(_short),
    "start_time": field(st.integers(0, 2**42), st.sampled_from(INT_EDGES)),
    "end_time": field(st.integers(0, 2**42), st.sampled_from(INT_EDGES)),
    "timestamp": field(st.integers(0, 2**42), st.sampled_from(INT_EDGES)),
    "step": field(st.integers(0, 1000), st.sampled_from(INT_EDGES)),
    "status": field(st.sampled_from([*_statuses, "READY", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"])),
    "metrics": field(st.lists(_valid_metric, max_size=5), st.lists(_hostile_metric, min_size=1, max_size=5)),
    "metric_key": field(st.sampled_from(["acc", "loss"])),
    "datasets": field(st.lists(_valid_dataset, max_size=2), st.lists(_hostile_dataset, min_size=1, max_size=3)),
    "models": field(
        st.lists(
            st.fixed_dictionaries({"model_id": seed.ref("logged_model_id")}, optional={"step": st.integers(0, 10)}),
            max_size=2,
        ),
        st.lists(st.fixed_dictionaries({}, optional={"model_id": scalar, "step": scalar}), min_size=1, max_size=3),
    ),
    "model_json": field(st.just('{"artifact_path": "model"}'), st.sampled_from(["]", "[", '"', "{"])),
    "model_id": field(seed.ref("logged_model_id"), st.just("m-nope")),
    "model_type": field(_short),
    "dataset_name": field(_short),
    "dataset_digest": field(st.just("d1")),
    "allow_deleted": field(st.sampled_from(["true", "false"])),
    "description": field(_short),
    "stages": field(
        st.lists(st.sampled_from(["None", "Staging", "Production", "Archived"]), max_size=3),
        st.lists(text, min_size=1, max_size=3),
    ),
    "alias": field(
        st.sampled_from([seed.ALIAS, "fuzz-alias"]), st.sampled_from(["latest", "v1", "Champion", "a" * 300])
    ),
    "version": field(st.sampled_from(["1", "2", 1]), st.sampled_from(["01", "0", "-1", "1.5", str(2**63), "99999"])),
    "source": field(
        _run_id.map(lambda run: f"runs:/{run}/model") | st.just("mlflow-artifacts:/seed/dir"),
        st.sampled_from(
            [
                "models:/fuzz-model/1",
                "file:///etc",
                "../../../etc",
                "s3://b/k",
                "mlflow-artifacts:/x/../../y",
                "/etc/passwd",
            ]
        ),
    ),
    "run_link": field(st.just("http://example.com/run")),
    "stage": field(st.sampled_from(["None", "Staging", "Production", "Archived", "production"])),
    "archive_existing_versions": field(st.booleans()),
    "path": field(
        st.sampled_from(["", "seed", "seed/dir"]), st.sampled_from(["..", "../..", "/etc", "seed/../..", "nope"])
    ),
    "limit": field(st.integers(1, 1000), st.sampled_from(INT_EDGES)),
    "role": field(st.sampled_from(["reader", "editor", "admin"]), st.sampled_from(["root", "", "ADMIN ", 1, None])),
    "before": field(st.integers(1, 1000), st.sampled_from(INT_EDGES)),
}


@st.composite
def message_fields(draw: st.DrawFn, names: tuple[str, ...]) -> dict[str, Any]:
    """Values for ``names``: all valid, exactly one hostile or missing (the common case: it walks
    each check of a handler in turn), or each field valid, hostile or missing at random."""
    policy = draw(st.sampled_from(["valid", "valid", "one", "one", "one", "any"]))
    mutated = draw(st.sampled_from(names)) if names and policy == "one" else None
    out: dict[str, Any] = {}
    for name in names:
        spec = FIELDS[name]
        if policy == "valid" or (policy == "one" and name != mutated):
            out[name] = draw(spec.valid)
        elif policy == "one" or draw(st.booleans()):
            if draw(st.integers(0, 4)):  # hostile; else the field is missing
                out[name] = draw(spec.hostile)
        elif draw(st.booleans()):
            out[name] = draw(spec.valid)
    if draw(st.integers(0, 9)) == 0:
        out["unknown_field"] = draw(json_value)
    return out


# ---- path parameters -------------------------------------------------------------------------

_resource_kinds = hostile_or(
    st.sampled_from(["deployments", "Deployment", "deploy", "monitors", "Monitor", "mon", "nopes"])
)
_resource_names = hostile_or(
    st.sampled_from([seed.DEPLOYMENT, seed.MONITOR, "fuzz-new", "a" * 63, "a" * 64, "Upper", "a_b", "-a", "a-"])
)
_artifact_paths = st.one_of(
    st.sampled_from(
        [
            seed.ARTIFACT,
            "seed/dir",
            "fuzz/new.txt",
            "../../escape.txt",
            "../../../../escape.txt",
            "/abs.txt",
            "a/../../b.txt",
            "a/./b",
            "a//b",
            "~/.x",
            "x\x00y",
        ]
    ),
    st.builds(lambda d, f: "../" * d + f, st.integers(1, 6), st.sampled_from(["x.txt", "home/x", "a/b"])),
    text,
)
PATH_PARAMS: dict[str, st.SearchStrategy[Any]] = {
    "model_id": hostile_or(seed.ref("logged_model_id"), st.just("m-nope")),
    "tag_key": hostile_or(st.sampled_from(["k", "mlflow.user"])),
    "path": _artifact_paths,
    "kind": _resource_kinds,
    "name": _resource_names,
    "request_id": hostile_or(st.sampled_from([seed.REQUEST_ID, "nope", "a/b"])),
    "run_id": hostile_or(_run_id, st.just("0" * 32)),
}


# A URL is at most 64 KiB for the client; longer values are sent in bodies (POST endpoints).
URL_VALUE_CHARS = 1500


def encode_segment(value: Any, *, keep_slashes: bool = False) -> str:
    """Percent-encode a path parameter, dots included, so ``..`` reaches the server as written
    instead of being resolved away by the client."""
    raw = (value if isinstance(value, str) else repr(value))[:URL_VALUE_CHARS]
    return quote(raw.encode("utf-8", "surrogatepass"), safe="/" if keep_slashes else "").replace(".", "%2E")


def _query(fields: dict[str, Any]) -> str:
    pairs = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            shown = (item if isinstance(item, str) else encode_json(item, ascii_only=True).decode())[:URL_VALUE_CHARS]
            pairs.append(quote(key) + "=" + quote(shown.encode("utf-8", "surrogatepass"), safe=""))
    return "&".join(pairs)


# ---- documents and feedback ------------------------------------------------------------------

_floats = hostile_or(st.sampled_from([0, 0.5, 1, 10, 1e308, -1, "1e309", "Infinity", "NaN"]))
_deployment_spec = st.fixed_dictionaries(
    {},
    optional={
        "model": hostile_or(
            st.sampled_from(
                [
                    f"models:/{seed.MODEL}@{seed.ALIAS}",
                    f"models:/{seed.MODEL}/1",
                    "models:/nope/1",
                    "models:/x@",
                    "/etc",
                    "../../x",
                    "",
                ]
            )
        ),
        "servedName": hostile_or(st.just("wine")),
        "replicas": hostile_or(st.fixed_dictionaries({}, optional={"min": hostile_or(ints), "max": hostile_or(ints)})),
        "autoscaling": hostile_or(
            st.fixed_dictionaries(
                {},
                optional={
                    n: _floats
                    for n in (
                        "targetConcurrency",
                        "stableWindowSeconds",
                        "panicWindowSeconds",
                        "panicThreshold",
                        "scaleToZeroAfterSeconds",
                    )
                },
            )
        ),
        "canary": hostile_or(
            st.none(),
            st.fixed_dictionaries(
                {
                    "model": hostile_or(
                        st.sampled_from([f"models:/{seed.MODEL}/1", f"models:/{seed.MODEL}/2", "models:/other/3"])
                    )
                },
                optional={
                    "percent": _floats,
                    "maxErrorRate": _floats,
                    "maxP99LatencyMs": _floats,
                    "minRequests": hostile_or(ints),
                },
            ),
        ),
        "batching": hostile_or(
            st.fixed_dictionaries({}, optional={"maxBatchSize": hostile_or(ints), "maxBatchDelayMs": _floats})
        ),
        "resources": hostile_or(
            st.fixed_dictionaries(
                {}, optional={"maxMemory": hostile_or(st.sampled_from(["2G", "512M", "1Ti", "1" * 400 + "G"]))}
            )
        ),
        "port": hostile_or(st.sampled_from([1, 80, 8080, 65535, 65536, 0])),
    },
)
_action = hostile_or(
    st.fixed_dictionaries(
        {
            "alert": hostile_or(
                st.none(), st.fixed_dictionaries({}, optional={"topic": hostile_or(st.just("cnai.monitor.alerts"))})
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "webhook": hostile_or(
                st.fixed_dictionaries(
                    {
                        "url": hostile_or(
                            st.sampled_from(
                                ["https://hooks.example/x", "http://127.0.0.1:5432/", "http://169.254.169.254/latest"]
                            )
                        )
                    },
                    optional={"headers": json_value},
                )
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "command": hostile_or(
                st.fixed_dictionaries(
                    {"argv": hostile_or(st.lists(text, max_size=3))}, optional={"timeoutSeconds": _floats}
                )
            )
        }
    ),
)
_monitor_spec = st.fixed_dictionaries(
    {},
    optional={
        "target": hostile_or(
            st.sampled_from(
                [
                    {"model": {"name": seed.MODEL}},
                    {"model": seed.MODEL},
                    {"deployment": {"name": seed.DEPLOYMENT}},
                    {"model": {"name": seed.MODEL, "version": 1}},
                ]
            )
        ),
        "reference": hostile_or(
            st.sampled_from(
                [
                    {"modelVersion": f"models:/{seed.MODEL}/1"},
                    {"file": "/etc/passwd"},
                    {"file": "../ref.csv"},
                    {"run": "abc"},
                    {"run": "../../x"},
                ]
            )
        ),
        "features": hostile_or(st.lists(text, max_size=3)),
        "window": hostile_or(
            st.fixed_dictionaries(
                {}, optional={"count": hostile_or(ints), "seconds": _floats, "minRows": hostile_or(ints)}
            )
        ),
        "tests": hostile_or(
            st.fixed_dictionaries(
                {},
                optional={
                    "method": hostile_or(st.sampled_from(["psi", "ks", "wasserstein", "nope"])),
                    "threshold": _floats,
                    "driftShareThreshold": _floats,
                    "columns": json_value,
                    "performance": hostile_or(
                        st.fixed_dictionaries(
                            {"task": hostile_or(st.sampled_from(["classification", "regression"]))},
                            optional={"thresholds": json_value, "minLabels": hostile_or(ints)},
                        )
                    ),
                },
            )
        ),
        "actions": hostile_or(st.lists(_action, max_size=3)),
    },
)


@st.composite
def _document(draw: st.DrawFn, name: Any) -> Any:
    doc_kind = draw(hostile_or(st.sampled_from(["Deployment", "Monitor"])))
    spec = draw(hostile_or(_monitor_spec if doc_kind == "Monitor" else _deployment_spec))
    metadata = draw(
        hostile_or(
            st.fixed_dictionaries(
                {"name": hostile_or(st.just(name))},
                optional={"labels": hostile_or(st.dictionaries(text, text, max_size=3))},
            )
        )
    )
    envelope = st.fixed_dictionaries(
        {
            "apiVersion": hostile_or(st.just("cnai.io/v1")),
            "kind": st.just(doc_kind),
            "metadata": st.just(metadata),
            "spec": st.just(spec),
        },
        optional={"status": json_value, "extra": json_value},
    )
    return draw(hostile_or(envelope))


_label = hostile_or(st.sampled_from([0, 1, 0.5, "cat", True]), st.lists(st.sampled_from([0, 1, "a"]), max_size=4))
_feedback_item = hostile_or(
    st.fixed_dictionaries(
        {"request_id": hostile_or(st.sampled_from([seed.REQUEST_ID, "fuzz-req-2"])), "label": _label},
        optional={"model": hostile_or(st.just(seed.MODEL)), "extra": json_value},
    )
)
_feedback_body = st.one_of(
    _feedback_item,
    st.fixed_dictionaries(
        {"feedback": hostile_or(st.lists(_feedback_item, max_size=4))}, optional={"extra": json_value}
    ),
)


# ---- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    family: str
    method: str
    url: str
    content: bytes | None
    headers: dict[str, str]
    variant: str

    def describe(self) -> str:
        body = (self.content or b"")[:300]
        return f"{self.variant}: {self.method} {self.url[:300]} headers={self.headers} body={body!r}"


@st.composite
def cases(draw: st.DrawFn, target: Target) -> Case:
    """One request aimed at ``target``: mostly its own method with generated fields, sometimes a
    raw hostile body, a wrong content type or a wrong method."""
    variant = draw(st.sampled_from(["shaped"] * 6 + ["raw body", "content type", "wrong method", "as reader"]))
    path = target.path
    params = {p: draw(s) for p, s in PATH_PARAMS.items() if "{" + p + "}" in path}
    for param, value in params.items():
        path = path.replace("{" + param + "}", encode_segment(value, keep_slashes=param == "path"))
    if target.kind == "message":
        path = draw(st.sampled_from(MLFLOW_PREFIXES)) + path
    elif target.kind == "artifact":
        path = draw(st.sampled_from(ARTIFACT_PREFIXES)) + path

    fields = draw(message_fields(target.fields))
    if "lm_order_by" in fields:
        fields["order_by"] = fields.pop("lm_order_by")
    query = ""
    content: bytes | None = None
    if target.method == "GET" or target.kind in ("artifact", "v1"):
        query = _query(fields)
    if target.kind == "artifact" and target.method == "PUT":
        content = draw(st.sampled_from([b"", b"data", b"\x00" * 1024, b"x" * 70_000]))
    elif target.kind == "document":
        content = encode_json(draw(_document(params["name"])), ascii_only=draw(st.booleans()))
    elif target.kind == "feedback":
        content = encode_json(draw(_feedback_body), ascii_only=draw(st.booleans()))
    elif target.kind == "v1body" and target.method != "GET":
        content = encode_json(fields, ascii_only=draw(st.booleans()))
    elif target.method != "GET" and target.kind == "message":
        content = encode_json(fields, ascii_only=draw(st.booleans()))

    method = target.method
    headers = {"content-type": "application/json"} if content is not None else {}
    if variant == "raw body":
        content = draw(st.sampled_from(RAW_BODIES))
        headers = {"content-type": "application/json"}
    elif variant == "content type":
        content = content if content is not None else encode_json(fields, ascii_only=True)
        headers = {"content-type": draw(st.sampled_from(CONTENT_TYPES))}
    elif variant == "wrong method":
        method = draw(st.sampled_from([m for m in METHODS if m != target.method]))
    elif variant == "as reader":  # the shaped request with a reader's token: its writes are refused
        headers = {**headers, "authorization": f"Bearer {READER_TOKEN}"}
    url = path + ("?" + query if query else "")
    return Case(target.family, method, url, content, headers, variant)
