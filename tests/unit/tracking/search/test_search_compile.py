"""What each search accepts and refuses, and that compiled SQL carries values only as binds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from cnai.db.schema import experiments, logged_models, model_versions, registered_models, runs
from cnai.errors import InvalidArgument
from cnai.tracking import search
from cnai.tracking.search.sql import like_to_glob


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("metrics.acc > 'high'", r"metrics.acc is numeric: expected a number after >, got 'high'"),
        ("metrics.acc LIKE 'a'", r"Operator LIKE is not supported for metrics.acc; use one of =, !=, <, <=, >, >="),
        ("metrics.acc IS NULL", r"Operator IS NULL is not supported for metrics.acc"),
        ("params.lr = 0.1", r"params.lr is compared as a string: quote the value \(e.g. params.lr = 'a'\)"),
        ("params.lr > '1'", r"Operator > is not supported for params.lr"),
        ("params.lr IN ('1')", r"Operator IN is not supported for params.lr"),
        ("tags.t = 1", r"tags.t is compared as a string"),
        ("run_name IN ('a')", r"Operator IN is not supported for attributes.run_name \(only run_id, run_uuid support"),
        ("run_id IN (1, 2)", r"quote the values \(e.g. attributes.run_id IN \('a', 'b'\)\)"),
        ("status > 'A'", r"Operator > is not supported for attributes.status"),
        ("start_time = 'yesterday'", r"attributes.start_time is numeric"),
        ("start_time LIKE '1%'", r"Operator LIKE is not supported for attributes.start_time"),
        ("nope = 'x'", r"Invalid attribute 'nope' for runs search; valid attributes: .*run_id"),
        ("datasets.size = 'x'", r"Invalid dataset key 'size'"),
        ("datasets.name > 'x'", r"Operator > is not supported for datasets.name"),
        ("datasets.name = 1", r"datasets.name is compared as a string"),
    ],
)
def test_runs_refusals(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        search.runs_where(filter_string)


@pytest.mark.parametrize(
    ("where", "filter_string", "message"),
    [
        (
            search.experiments_where,
            "metrics.acc > 1",
            r"experiments search cannot filter on metrics: use attributes.<key>, tags.<key>",
        ),
        (search.experiments_where, "params.a = 'x'", r"cannot filter on params"),
        (search.experiments_where, "creation_time > 1.5", r"attributes.creation_time expects a whole number"),
        (search.experiments_where, "experiment_id = 'abc'", r"expects a whole number, got 'abc'"),
        (search.experiments_where, "experiment_id > '1'", r"Operator > is not supported"),
        (search.experiments_where, "experiment_id IN ('99999999999999999999')", r"out of range"),
        (search.experiments_where, "name IN ('a')", r"Operator IN is not supported for attributes.name"),
        (search.registered_models_where, "tags.k IS NULL", r"Operator IS NULL is not supported for tags.k"),
        (
            search.registered_models_where,
            "creation_timestamp > 1",
            r"Invalid attribute 'creation_timestamp' for registered models",
        ),
        (search.registered_models_where, "metrics.m = 1", r"registered models search cannot filter on metrics"),
        (
            search.model_versions_where,
            "source_path IN ('a')",
            r"Operator IN is not supported for attributes.source_path",
        ),
        (search.model_versions_where, "version_number = 'two'", r"expects a whole number"),
        (search.model_versions_where, "version_number LIKE '1'", r"Operator LIKE is not supported"),
        (search.logged_models_where, "metrics.acc = 'x'", r"metrics.acc is numeric"),
        (search.logged_models_where, "params.p IS NULL", r"Operator IS NULL is not supported"),
        (search.logged_models_where, "datasets.name = 'x'", r"logged models search cannot filter on datasets"),
    ],
)
def test_other_searches_refusals(where: Callable[[str], Any], filter_string: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        where(filter_string)


def test_filter_must_be_a_string() -> None:
    with pytest.raises(InvalidArgument, match="must be a string"):
        search.runs_where(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("order_by_fn", "order_by", "message"),
    [
        (search.runs_order_by, ["nope"], r"Invalid order_by attribute 'nope' for runs"),
        (search.runs_order_by, ["datasets.name"], r"runs cannot be ordered by datasets"),
        (search.runs_order_by, ["metrics.a", "metrics.a DESC"], r"names metrics.a more than once"),
        (search.runs_order_by, ["start_time", "created DESC"], r"more than once"),
        (search.runs_order_by, [1], r"order_by entries must be strings"),
        (search.runs_order_by, ["x"] * 51, r"at most 50"),
        (search.experiments_order_by, ["tags.x"], r"experiments cannot be ordered by tags"),
        (search.registered_models_order_by, ["timestamp", "last_updated_timestamp"], r"more than once"),
        (search.registered_models_order_by, ["version_number"], r"Invalid order_by attribute"),
        (search.model_versions_order_by, ["source_path"], r"Invalid order_by attribute 'source_path'"),
    ],
)
def test_order_by_refusals(order_by_fn: Callable[[Any], Any], order_by: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        order_by_fn(order_by)


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["name"], r"order_by entries must be objects"),
        ([{}], r"needs a field_name"),
        ([{"field_name": "nope"}], r"Invalid order_by field_name 'nope'"),
        ([{"field_name": "params.x"}], r"only metrics.<key> may be dotted"),
        ([{"field_name": "name", "ascending": "yes"}], r"'ascending' must be true or false"),
        ([{"field_name": "metrics.m", "dataset_digest": "d"}], r"dataset_digest can only be given together"),
        ([{"field_name": "creation_time"}, {"field_name": "creation_timestamp"}], r"more than once"),
    ],
)
def test_logged_models_order_by_refusals(order_by: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        search.logged_models_order_by(order_by)


def test_defaults_and_tie_breakers() -> None:
    def text(clauses: list[ColumnElement[Any]]) -> list[str]:
        return [str(c) for c in clauses]

    assert text(search.runs_order_by(None)) == ["runs.start_time DESC", "runs.run_uuid ASC"]
    assert text(search.runs_order_by(["run_id DESC"])) == ["runs.run_uuid DESC", "runs.start_time DESC"]
    assert text(search.experiments_order_by(None)) == [
        "experiments.creation_time DESC",
        "experiments.experiment_id ASC",
    ]
    assert text(search.experiments_order_by(["name"])) == ["experiments.name ASC", "experiments.experiment_id DESC"]
    assert text(search.registered_models_order_by([])) == ["registered_models.name ASC"]
    assert text(search.model_versions_order_by(None)) == ["registered_models.name ASC", "model_versions.version DESC"]
    assert text(search.logged_models_order_by(None)) == [
        "logged_models.creation_timestamp_ms DESC",
        "logged_models.model_id ASC",
    ]


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [("a%", "a*"), ("_b", "?b"), ("*?[", "[*][?][[]"), ("x]y", "x]y"), ("\\%", "\\*"), ("", "")],
)
def test_like_to_glob(pattern: str, glob: str) -> None:
    assert like_to_glob(pattern) == glob


SENTINEL = "Zq9sentinel"


@pytest.mark.parametrize(
    ("where", "table", "filter_string"),
    [
        (search.runs_where, runs, f"tags.`{SENTINEL}k` LIKE '{SENTINEL}v%' AND params.p ILIKE '{SENTINEL}'"),
        (search.runs_where, runs, f"run_id IN ('{SENTINEL}1', '{SENTINEL}2') AND metrics.m > 123456.75"),
        (search.runs_where, runs, f"datasets.context = '{SENTINEL}' AND start_time < 987654321"),
        (search.experiments_where, experiments, f"name LIKE '{SENTINEL}' AND experiment_id IN ('424242')"),
        (search.registered_models_where, registered_models, f"tags.`mlflow.prompt.is_prompt` != '{SENTINEL}'"),
        (search.model_versions_where, model_versions, f"source_path = '{SENTINEL}' AND version_number = 424242"),
        (search.logged_models_where, logged_models, f"status = '{SENTINEL}' AND metrics.m <= 123456.75"),
    ],
)
def test_values_are_bound_not_pasted(where: Callable[[str], Any], table: Any, filter_string: str) -> None:
    stmt = select(table).where(*where(filter_string))
    for dialect in (None, sqlite.dialect(), postgresql.dialect()):
        sql = str(stmt.compile(dialect=dialect))
        for literal in (SENTINEL, "123456", "987654321", "424242", "mlflow.prompt"):
            assert literal not in sql


def test_compile_errors_name_the_clause() -> None:
    with pytest.raises(InvalidArgument, match=r"at character 19: params.lr is compared as a string"):
        search.runs_where("metrics.a > 1 AND params.lr = 1")
