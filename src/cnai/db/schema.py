"""The control-plane schema, as SQLAlchemy Core tables.

Core rather than the ORM: the hot paths (metric batches, run reads) are bulk statements, and
the mapping to MLflow's wire shapes is done by hand in the stores anyway. The same schema serves
SQLite and PostgreSQL; Alembic migrations in ``migrations/versions`` create it.

Times are integers in milliseconds since the epoch, as in MLflow's API.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Deterministic constraint names keep migrations identical on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEY = String(250)
# BigInteger autoincrement does not alias ROWID on SQLite; this variant does.
BigId = BigInteger().with_variant(Integer(), "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", ForeignKey("experiments.experiment_id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("experiment_id", ForeignKey("experiments.experiment_id"), nullable=False, index=True),
    Column("name", String(250), nullable=False, default=""),
    Column("user_id", String(250), nullable=False, default=""),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("artifact_uri", Text, nullable=False),
    Column("deleted_time", BigInteger),
)

params = Table(
    "params",
    metadata,
    Column("run_uuid", ForeignKey("runs.run_uuid"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_uuid", ForeignKey("runs.run_uuid"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

# Every logged point. The key is MLflow's (identical points collapse, as in MLflow), ordered so
# that one run's history for one key is a contiguous range. On SQLite the table is WITHOUT ROWID:
# the rows live in that key's B-tree, one insert per point instead of two (measured: 5.5 ms vs
# 8.4 ms per 1,000 points).
metrics = Table(
    "metrics",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("value", Float(precision=53), primary_key=True),
    Column("is_nan", Boolean, primary_key=True),
    Column("model_id", String(64)),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(36)),
    sqlite_with_rowid=False,
)
# Only points logged against a logged model are indexed by it: most points have none, and an
# index entry per point would cost on the hottest write path.
Index(
    "ix_metrics_model_id",
    metrics.c.model_id,
    sqlite_where=metrics.c.model_id.isnot(None),
    postgresql_where=metrics.c.model_id.isnot(None),
)

# The value shown for a run and used by search: the point with the highest (step, timestamp,
# value), as MLflow defines it. Maintained in the same transaction as the points.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_uuid", ForeignKey("runs.run_uuid"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    # No (key, value) index: searches filter runs of given experiments, where a per-run probe of
    # the primary key is the right plan; on a fresh PostgreSQL table (no statistics yet) such an
    # index lured the planner into a nested loop 6x slower (measured 16 ms vs 2.5 ms, 200 runs).
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_uuid", String(36), primary_key=True),
    Column("experiment_id", ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text),
    Column("profile", Text),
    UniqueConstraint("experiment_id", "name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_uuid", ForeignKey("runs.run_uuid"), primary_key=True),
    Column("dataset_uuid", ForeignKey("datasets.dataset_uuid"), primary_key=True),
    Column("tags", Text, nullable=False, default="[]"),  # JSON list of {key, value}
)

logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("experiment_id", ForeignKey("experiments.experiment_id"), nullable=False, index=True),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_message", Text),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("model_type", String(500)),
    Column("source_run_id", String(32)),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", ForeignKey("logged_models.model_id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", ForeignKey("logged_models.model_id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_uuid", ForeignKey("runs.run_uuid"), primary_key=True),
    Column("model_id", String(64), primary_key=True),
    Column("step", BigInteger, nullable=False, default=0),
)

# Registry. A surrogate id keeps renames a one-row update.
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=False, default=""),
    # Versions are never reused after a delete, so the counter lives here, not in max(version).
    Column("last_version", Integer, nullable=False, default=0),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_ref", ForeignKey("registered_models.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_ref", ForeignKey("registered_models.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("current_stage", String(20), nullable=False, default="None"),
    Column("source", Text, nullable=False),
    Column("run_id", String(32)),
    Column("run_link", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False, default="READY"),
    Column("status_message", Text),
    Column("storage_location", Text),
    Column("model_id", String(64)),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("model_ref", Integer, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("model_ref", ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
)

# Declarative resources (Deployment, Monitor, ...): desired state for the controllers.
# Specs and statuses are JSON text: their shape belongs to each kind's package, not to the schema.
resources = Table(
    "resources",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("api_version", String(64), nullable=False),
    Column("labels", Text, nullable=False),
    Column("spec", Text, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("observed_generation", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Monitors (cnai.monitoring.monitor): per-window results, the actions outbox, the open window's
# rows, the inference-log offsets already applied, predictions for late labels, and the labels.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("monitor", String(63), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("drift_share", Float, nullable=False),
    Column("dataset_drift", Boolean, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("verdict", String(16)),  # what breached: "drift" or "performance"
    Column("features", Text, nullable=False),  # JSON: per feature test, score, threshold, drifted
    Column("quality", Text, nullable=False),  # JSON
    Column("performance", Text),  # JSON, once labels have arrived
    Column("error", Text),
    Column("created_at", BigInteger, nullable=False),
)

# The outbox: written in the window's transaction, delivered (and retried) from here.
monitor_actions = Table(
    "monitor_actions",
    metadata,
    Column("key", String(200), primary_key=True),  # the idempotency key: <monitor>/<seq>/<action index>
    Column("monitor", String(63), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("action_index", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("options", Text, nullable=False),  # JSON: the action as specified when the window closed
    Column("payload", Text, nullable=False),  # JSON: the alert, identical on every attempt
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("last_result", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_monitor_actions_status_next_attempt_ms", "status", "next_attempt_ms"),
    Index("ix_monitor_actions_monitor", "monitor"),
)

monitor_buffer = Table(
    "monitor_buffer",
    metadata,
    Column("monitor", String(63), primary_key=True),
    Column("ordinal", BigInteger, primary_key=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("request_id", String(256)),
    Column("row_index", Integer, nullable=False),
    Column("data", Text, nullable=False),  # JSON: {"v": feature values, "p": prediction}
)

monitor_offsets = Table(
    "monitor_offsets",
    metadata,
    Column("group_id", String(255), primary_key=True),
    Column("topic", String(249), primary_key=True),
    Column("partition_id", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

monitor_predictions = Table(
    "monitor_predictions",
    metadata,
    Column("monitor", String(63), primary_key=True),
    Column("request_id", String(256), primary_key=True),
    Column("row_index", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("prediction", Text, nullable=False),  # JSON
    Index("ix_monitor_predictions_monitor_seq", "monitor", "seq"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("request_id", String(256), primary_key=True),
    Column("label", Text, nullable=False),  # JSON: one value, or a list with one per row of the request
    Column("model", String(256)),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_feedback_received_at", "received_at"),
)

# ---- who may call (cnai.auth) ------------------------------------------------------------------
# Named API tokens. Only a SHA-256 of the token's secret part is stored (see cnai.auth.tokens for
# why a fast hash is enough); a revoked token keeps its row until its name is reused.
tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),  # the public part of cnai_<id>_<secret>
    Column("name", String(63), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # reader, editor, admin
    Column("secret_sha256", String(64), nullable=False),  # hex
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

# Every write the control plane was asked for, allowed or refused; appended in batches.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", BigInteger, nullable=False),  # ms since the epoch, when the request arrived
    Column("principal", String(63), nullable=False),
    Column("role", String(16), nullable=False),  # "" when the caller was not identified
    Column("method", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Index("ix_audit_log_ts", "ts"),
)
