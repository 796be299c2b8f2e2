"""Compile-and-execute cases, run against every backend by subclasses (SQLite and PostgreSQL).

Each case compiles a filter or order_by and executes it against the rows in ``seed.py``, then
checks the ids that come back, so a wrong translation fails here rather than in a client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select

from cnai.db.schema import experiments, logged_models, model_versions, registered_models, runs
from cnai.errors import InvalidArgument
from cnai.tracking import search
from cnai.tracking.search.ast import render
from cnai.tracking.search.parser import parse_filter

# The seeded params, for the oracle below.
PARAM_VALUES = {
    "model": {"r1": "CNN", "r2": "cnn", "r3": "x\\y"},
    "lr": {"r1": "0.1", "r2": "0.01", "r4": "0.1"},
}


def oracle(op: str, value: str, operand: str) -> bool:
    """MLflow's meaning of each string operator, in Python."""
    if op == "=":
        return value == operand
    if op == "!=":
        return value != operand
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in operand)
    flags = re.DOTALL | (re.IGNORECASE if op == "ILIKE" else 0)
    return re.fullmatch(regex, value, flags) is not None


@st.composite
def near_values(draw: st.DrawFn) -> str:
    """A stored value with some characters swapped for wildcards, GLOB metacharacters (which
    must stay literal), a backslash or the other letter case: patterns that nearly match."""
    base = draw(st.sampled_from(sorted({v for values in PARAM_VALUES.values() for v in values.values()})))
    out = []
    for ch in base:
        choice = draw(st.sampled_from(["keep", "keep", "keep", "case", "%", "_", "*", "?", "[", "\\", ""]))
        out.append(ch if choice == "keep" else ch.swapcase() if choice == "case" else choice)
    return draw(st.sampled_from(["", "%", "*", "["])) + "".join(out) + draw(st.sampled_from(["", "%", "*", "?"]))


MV_FROM = model_versions.join(registered_models, registered_models.c.id == model_versions.c.model_ref)


def run_ids(conn: Connection, filter_string: str | None = None, order_by: Sequence[str] | None = None) -> list[str]:
    query = select(runs.c.run_uuid).where(*search.runs_where(filter_string)).order_by(*search.runs_order_by(order_by))
    return list(conn.execute(query).scalars())


def experiment_ids(
    conn: Connection, filter_string: str | None = None, order_by: Sequence[str] | None = None
) -> list[int]:
    query = (
        select(experiments.c.experiment_id)
        .where(*search.experiments_where(filter_string))
        .order_by(*search.experiments_order_by(order_by))
    )
    return list(conn.execute(query).scalars())


def model_names(conn: Connection, filter_string: str | None = None, order_by: Sequence[str] | None = None) -> list[str]:
    query = (
        select(registered_models.c.name)
        .where(*search.registered_models_where(filter_string))
        .order_by(*search.registered_models_order_by(order_by))
    )
    return list(conn.execute(query).scalars())


def versions(
    conn: Connection, filter_string: str | None = None, order_by: Sequence[str] | None = None
) -> list[tuple[str, int]]:
    query = (
        select(registered_models.c.name, model_versions.c.version)
        .select_from(MV_FROM)
        .where(*search.model_versions_where(filter_string))
        .order_by(*search.model_versions_order_by(order_by))
    )
    return [(r.name, r.version) for r in conn.execute(query)]


def logged_model_ids(
    conn: Connection, filter_string: str | None = None, order_by: Sequence[Mapping[str, Any]] | None = None
) -> list[str]:
    query = (
        select(logged_models.c.model_id)
        .where(*search.logged_models_where(filter_string))
        .order_by(*search.logged_models_order_by(order_by))
    )
    return list(conn.execute(query).scalars())


class ExecuteCases:
    """Subclasses provide a class-scoped ``engine`` fixture holding the seeded schema."""

    @pytest.fixture
    def conn(self, engine: Engine) -> Iterator[Connection]:
        with engine.connect() as conn:
            yield conn

    # -- runs: filters ---------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("", {"r1", "r2", "r3", "r4"}),
            ("   ", {"r1", "r2", "r3", "r4"}),
            ("metrics.acc > 0.6", {"r1"}),
            ("metrics.acc >= 0", {"r1", "r2"}),  # the NaN run satisfies no ordering comparison
            ("metrics.acc != 0.5", {"r1", "r3"}),  # ... but is unequal to everything
            ("metrics.acc = 0", set()),  # the NaN placeholder value never matches
            ("metric.acc < 1 AND metrics.loss < 1", {"r1"}),
            ('metrics."acc" = 0.9', {"r1"}),
            ("metrics.acc < 1e999", {"r1", "r2"}),
            ("metrics.loss <= 0.1", {"r4"}),
            ("params.lr = '0.1'", {"r1", "r4"}),
            ('params.lr = "0.1"', {"r1", "r4"}),
            ("param.lr != '0.1'", {"r2"}),  # r3 has no lr: a missing key never matches
            ("params.lr IS NULL", {"r3"}),
            ("params.lr is not null", {"r1", "r2", "r4"}),
            ("params.model = 'cnn'", {"r2"}),
            ("params.model LIKE 'c%'", {"r2"}),  # LIKE is case-sensitive on every backend
            ("params.model ILIKE 'c%'", {"r1", "r2"}),
            ("params.model like 'C_N'", {"r1"}),
            ("params.model LIKE 'x\\y'", {"r3"}),  # a backslash is an ordinary character
            ("params.model LIKE 'x\\%'", {"r3"}),  # ... and escapes nothing
            ("params.model ILIKE 'X\\_'", {"r3"}),
            ("tags.env = 'prod'", {"r1"}),
            ("tags.env ILIKE 'PROD'", {"r1", "r3"}),
            ("tags.env LIKE 'P%'", {"r3"}),
            ("tags.env != 'prod'", {"r2", "r3"}),
            ("tags.`my tag` = 'x'", {"r1"}),
            ("tags.\"my tag\" = 'x'", {"r1"}),
            ("tags.mlflow.runName = 'alpha'", {"r1"}),
            ("tags.`mlflow.runName` LIKE 'a%'", {"r1"}),
            ("tags.absent IS NULL", {"r1", "r2", "r3", "r4"}),
            ("attributes.status = 'FINISHED'", {"r1", "r4"}),
            ("status != 'FINISHED'", {"r2", "r3"}),
            ("run_name = 'alpha'", {"r1"}),
            ("attribute.run_name LIKE 'alpha%'", {"r1"}),
            ("run.run_name ILIKE 'alpha%'", {"r1", "r2"}),
            ("`Run Name` = 'beta_x'", {"r3"}),
            ("run_name LIKE 'gamma_'", {"r4"}),
            ("run_name LIKE '%\\%'", set()),
            ("run_name LIKE '%a%'", {"r1", "r2", "r3", "r4"}),
            ("user_id = 'ann'", {"r1", "r3"}),
            ("artifact_uri LIKE '%r2'", {"r2"}),
            ("run_id IN ('r1', 'r3')", {"r1", "r3"}),
            ("attributes.run_id NOT IN ('r1')", {"r2", "r3", "r4"}),
            ("run_uuid = 'r2'", {"r2"}),
            ("start_time >= 300", {"r2", "r4"}),
            ("created < 200", {"r1"}),
            ("start_time > 150.5", {"r2", "r3", "r4"}),  # a float must not be cast to an integer
            ("start_time > 299.5", {"r2", "r4"}),
            ("start_time < 99999999999999999999999", {"r1", "r2", "r3", "r4"}),
            ("end_time > 300", {"r3", "r4"}),  # a NULL end time matches no comparison
            ("end_time != 200", {"r3", "r4"}),
            ("datasets.name = 'iris'", {"r1", "r3"}),
            ("dataset.digest LIKE 'def%'", {"r2", "r4"}),
            ("datasets.context = 'training'", {"r1"}),
            ("datasets.context IN ('training', 'eval')", {"r1", "r2"}),
            ("datasets.context != 'training'", {"r2"}),
            ("datasets.name NOT IN ('iris')", {"r2", "r4"}),
            ("params.lr = '0.1' AND tags.env = 'prod' AND status = 'FINISHED'", {"r1"}),
            ("params.lr = '0.1' and tags.env = 'dev'", set()),
        ],
    )
    def test_runs_filter(self, conn: Connection, filter_string: str, expected: set[str]) -> None:
        assert set(run_ids(conn, filter_string)) == expected

    # Each backend's subclass runs this same method; the examples suit both, so sharing them
    # through Hypothesis's database between executors is harmless.
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(
        key=st.sampled_from(sorted(PARAM_VALUES)),
        op=st.sampled_from(["=", "!=", "LIKE", "ILIKE"]),
        operand=st.one_of(near_values(), st.text(alphabet="cnCNxy0.1%_*?[]\\'\";- ", max_size=6)),
    )
    @example(key="lr", op="LIKE", operand="0.*")  # GLOB metacharacters must stay literal
    @example(key="lr", op="LIKE", operand="0_1")
    @example(key="lr", op="LIKE", operand="0?1")
    @example(key="model", op="LIKE", operand="[C]NN")
    @example(key="model", op="LIKE", operand="c%")  # case-sensitive
    @example(key="model", op="ILIKE", operand="X\\_")  # backslash is literal, not an escape
    def test_string_operators_agree_with_python(self, engine: Engine, key: str, op: str, operand: str) -> None:
        quoted = "'" + operand.replace("'", "''") + "'"
        with engine.connect() as conn:
            found = set(run_ids(conn, f"params.{key} {op} {quoted}"))
            assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 4
        expected = {run for run, value in PARAM_VALUES[key].items() if oracle(op, value, operand)}
        assert found == expected

    def test_runs_filter_after_render_round_trip(self, conn: Connection) -> None:
        source = "metrics.acc != 0.5 AND tags.`my tag` = 'x' AND run_id IN ('r1', 'r2')"
        assert set(run_ids(conn, render(parse_filter(source)))) == {"r1"}

    # -- runs: order_by ----------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (None, ["r2", "r4", "r3", "r1"]),  # start_time DESC, then run_uuid
            ([], ["r2", "r4", "r3", "r1"]),
            (["start_time ASC"], ["r1", "r3", "r2", "r4"]),
            (["attributes.start_time DESC"], ["r2", "r4", "r3", "r1"]),
            (["metrics.acc DESC"], ["r1", "r2", "r3", "r4"]),  # values, then NaN, then missing
            (["metrics.acc ASC"], ["r2", "r1", "r3", "r4"]),
            (["metrics.`acc`"], ["r2", "r1", "r3", "r4"]),
            (["params.lr ASC"], ["r2", "r4", "r1", "r3"]),  # ties by start_time DESC
            (["params.lr DESC"], ["r4", "r1", "r2", "r3"]),
            (["end_time DESC"], ["r4", "r3", "r1", "r2"]),  # NULL last in both directions
            (["end_time"], ["r1", "r3", "r4", "r2"]),
            (["status ASC"], ["r3", "r4", "r1", "r2"]),
            (["status ASC", "start_time ASC"], ["r3", "r1", "r4", "r2"]),
            (["run_id DESC"], ["r4", "r3", "r2", "r1"]),
            ("metrics.loss", ["r4", "r1", "r2", "r3"]),  # a lone string is one entry
        ],
    )
    def test_runs_order_by(self, conn: Connection, order_by: Sequence[str] | None, expected: list[str]) -> None:
        assert run_ids(conn, None, order_by) == expected

    def test_runs_order_by_tag_puts_missing_last_both_ways(self, conn: Connection) -> None:
        assert run_ids(conn, None, ["tags.env ASC"])[-1] == "r4"
        assert run_ids(conn, None, ["tags.env DESC"])[-1] == "r4"

    def test_runs_filter_and_order_combine(self, conn: Connection) -> None:
        assert run_ids(conn, "metrics.acc >= 0", ["metrics.acc ASC"]) == ["r2", "r1"]

    def test_paging_visits_every_run_once(self, conn: Connection) -> None:
        for page_size in (1, 2, 3, 4, 5):
            seen: list[str] = []
            token: str | None = None
            while True:
                offset = search.decode_page_token(token)
                query = (
                    select(runs.c.run_uuid)
                    .order_by(*search.runs_order_by(["metrics.acc DESC"]))
                    .limit(page_size + 1)
                    .offset(offset)
                )
                page = list(conn.execute(query).scalars())
                seen.extend(page[:page_size])
                if len(page) <= page_size:
                    break
                token = search.encode_page_token(offset + page_size)
            assert seen == ["r1", "r2", "r3", "r4"]

    # -- injection ------------------------------------------------------------------------------
    @pytest.mark.parametrize(
        "value", ["'; DROP TABLE runs; --", "' OR '1'='1", "x'); DELETE FROM params; --", "%' OR 1=1 --"]
    )
    def test_injection_values_match_nothing_and_leave_tables(self, conn: Connection, value: str) -> None:
        quoted = "'" + value.replace("'", "''") + "'"
        for filter_string in (
            f"params.model = {quoted}",
            f"tags.env LIKE {quoted}",
            f"run_name ILIKE {quoted}",
            f"run_id IN ({quoted}, {quoted})",
            f"datasets.context = {quoted}",
            f"tags.\"{value.replace(chr(34), chr(34) * 2)}\" = 'x'",
        ):
            assert run_ids(conn, filter_string) == []
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 4
        assert model_names(conn, f"name = {quoted}") == []

    def test_raw_injection_is_rejected(self) -> None:
        with pytest.raises(InvalidArgument, match="OR is not supported"):
            search.runs_where("tags.env = '' OR '1'='1'")
        with pytest.raises(InvalidArgument):
            search.runs_where("tags.env = 'x'; DROP TABLE runs; --")

    # -- experiments ----------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'exp-a'", {1}),
            ("name LIKE 'exp%'", {1, 2}),
            ("attribute.name ILIKE 'EXP%'", {1, 2}),
            ("name LIKE 'Exp%'", set()),
            ("name LIKE '%B'", {2}),
            ("name != 'exp-a'", {2, 3}),
            ("tags.stage = 'prod'", {1}),
            ("tags.team IS NULL", {1, 3}),
            ("tag.team IS NOT NULL", {2}),
            ("tags.stage LIKE '%d%'", {1, 2}),
            ("creation_time > 1500", {2, 3}),
            ("last_update_time <= 4000", {2, 3}),
            ("experiment_id IN ('1', '3')", {1, 3}),
            ("experiment_id != '2'", {1, 3}),
            ("experiment_id = 2", {2}),
            ("tags.stage = 'dev' AND creation_time >= 2000", {2}),
        ],
    )
    def test_experiments_filter(self, conn: Connection, filter_string: str, expected: set[int]) -> None:
        assert set(experiment_ids(conn, filter_string)) == expected

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (None, [3, 2, 1]),
            (["last_update_time ASC"], [3, 2, 1]),
            (["last_update_time DESC"], [1, 2, 3]),
            (["creation_time"], [1, 2, 3]),
            (["experiment_id DESC"], [3, 2, 1]),
        ],
    )
    def test_experiments_order_by(self, conn: Connection, order_by: list[str] | None, expected: list[int]) -> None:
        assert experiment_ids(conn, None, order_by) == expected

    # -- registered models ----------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'ModelA'", {"ModelA"}),
            ("name LIKE 'model%'", {"modelB"}),
            ("name ILIKE 'model%'", {"ModelA", "modelB"}),
            ("name IN ('ModelA', 'other')", {"ModelA", "other"}),
            ("name NOT IN ('ModelA')", {"modelB", "other"}),
            # What the stock client appends to every search: plain models lack the tag and match.
            ("tag.`mlflow.prompt.is_prompt` != 'true'", {"ModelA", "other"}),
            ("name LIKE '%' AND tag.`mlflow.prompt.is_prompt` != 'true'", {"ModelA", "other"}),
            ("name = 'ModelA' AND tag.`mlflow.prompt.is_prompt` != 'true'", {"ModelA"}),
            ("tags.`mlflow.prompt.is_prompt` = 'false'", {"ModelA", "other"}),
            ("tags.`mlflow.prompt.is_prompt` = 'true'", {"modelB"}),
            ("tags.team = 'ml'", {"ModelA"}),
            ("tags.team ILIKE 'ml'", {"ModelA", "other"}),
            ("tags.team != 'ml'", {"other"}),  # other tags still need to exist
        ],
    )
    def test_registered_models_filter(self, conn: Connection, filter_string: str, expected: set[str]) -> None:
        assert set(model_names(conn, filter_string)) == expected

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (None, ["ModelA", "modelB", "other"]),
            (["name DESC"], ["other", "modelB", "ModelA"]),
            (["timestamp DESC"], ["ModelA", "modelB", "other"]),  # MLflow: timestamp = last update
            (["last_updated_timestamp ASC"], ["other", "modelB", "ModelA"]),
            (["creation_timestamp DESC"], ["other", "modelB", "ModelA"]),
        ],
    )
    def test_registered_models_order_by(
        self, conn: Connection, order_by: list[str] | None, expected: list[str]
    ) -> None:
        assert model_names(conn, None, order_by) == expected

    # -- model versions -------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'ModelA'", {("ModelA", 1), ("ModelA", 2)}),
            ("run_id = 'r1'", {("ModelA", 1), ("other", 1)}),
            ("run_id IN ('r2')", {("ModelA", 2)}),
            ("source_path LIKE 'models:/%'", {("ModelA", 1), ("other", 1)}),
            ("version_number = 2", {("ModelA", 2)}),
            ("version_number = '2'", {("ModelA", 2)}),
            ("version_number >= 1 AND name = 'other'", {("other", 1)}),
            ("tags.stage = 'prod'", {("ModelA", 1)}),
            ("name = 'ModelA' AND tags.stage != 'prod'", {("ModelA", 2)}),
            ("tags.`mlflow.prompt.is_prompt` != 'true'", {("ModelA", 1), ("ModelA", 2), ("other", 1)}),
        ],
    )
    def test_model_versions_filter(self, conn: Connection, filter_string: str, expected: set[tuple[str, int]]) -> None:
        assert set(versions(conn, filter_string)) == expected

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (None, [("ModelA", 2), ("ModelA", 1), ("other", 1)]),
            (["creation_timestamp ASC"], [("ModelA", 1), ("other", 1), ("ModelA", 2)]),
            (["version_number ASC"], [("ModelA", 1), ("other", 1), ("ModelA", 2)]),
            (["name DESC"], [("other", 1), ("ModelA", 2), ("ModelA", 1)]),
        ],
    )
    def test_model_versions_order_by(
        self, conn: Connection, order_by: list[str] | None, expected: list[tuple[str, int]]
    ) -> None:
        assert versions(conn, None, order_by) == expected

    # -- logged models --------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'model'", {"lm1", "lm2"}),
            ("status = 'READY'", {"lm1", "lm3"}),
            ("status = 'LOGGED_MODEL_PENDING'", {"lm2"}),
            ("status IN ('pending', 'READY')", {"lm1", "lm2", "lm3"}),
            ("metrics.acc > 0.9", {"lm1"}),  # any logged point counts
            ("metrics.acc < 0.75", {"lm2"}),  # NaN (lm3) satisfies no ordering comparison
            ("params.alpha = '2'", {"lm2"}),
            ("tags.k = 'v'", {"lm1"}),
            ("creation_timestamp >= 20", {"lm2", "lm3"}),
            ("creation_time < 20", {"lm1"}),
            ("last_updated_timestamp = 25", {"lm2"}),
            ("model_type = 'sklearn'", {"lm1"}),
            ("source_run_id IN ('r1', 'r2')", {"lm1", "lm2"}),
            ("model_id LIKE 'lm%' AND name = 'other'", {"lm3"}),
        ],
    )
    def test_logged_models_filter(self, conn: Connection, filter_string: str, expected: set[str]) -> None:
        assert set(logged_model_ids(conn, filter_string)) == expected

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (None, ["lm3", "lm2", "lm1"]),
            ([{"field_name": "creation_timestamp", "ascending": True}], ["lm1", "lm2", "lm3"]),
            ([{"field_name": "metrics.acc", "ascending": False}], ["lm1", "lm2", "lm3"]),  # latest: 0.95
            ([{"field_name": "metrics.acc", "ascending": True}], ["lm2", "lm1", "lm3"]),
            ([{"field_name": "model_type"}], ["lm1", "lm3", "lm2"]),  # NULL last, then newest first
            ([{"field_name": "name", "ascending": False}], ["lm3", "lm2", "lm1"]),
            ([{"field_name": "metrics.acc", "dataset_name": "nope"}], ["lm3", "lm2", "lm1"]),
        ],
    )
    def test_logged_models_order_by(
        self, conn: Connection, order_by: list[dict[str, Any]] | None, expected: list[str]
    ) -> None:
        assert logged_model_ids(conn, None, order_by) == expected
