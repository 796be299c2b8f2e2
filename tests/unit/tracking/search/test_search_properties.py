"""Hypothesis properties of the grammar: total error handling, stable rendering, bound values."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from cnai.db.schema import experiments, logged_models, model_versions, registered_models, runs
from cnai.errors import InvalidArgument
from cnai.tracking import search
from cnai.tracking.search.ast import And, Comparison, Entity, Op, OrderKey, render, render_value
from cnai.tracking.search.parser import parse_filter, parse_order_by

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text without NUL (the lexer refuses it, so it can never round-trip).
text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=25)
keys = st.text(alphabet=st.characters(blacklist_characters="\x00"), min_size=1, max_size=20)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=True),
)
scalars = st.one_of(text, numbers)

# Fragments that make random text look like a filter, to reach past the first token.
fragments = st.sampled_from(
    [
        "metrics.",
        "params.",
        "tags.",
        "attributes.",
        "datasets.",
        "run_id",
        "status",
        "name",
        "start_time",
        "`k`",
        '"k"',
        "'v'",
        "'",
        '"',
        "`",
        " AND ",
        " and ",
        " OR ",
        " NOT ",
        " IN ",
        " LIKE ",
        " ILIKE ",
        " IS ",
        " NULL ",
        "(",
        ")",
        ",",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "1",
        "-2.5",
        "1e999",
        ".",
        " ",
        "ASC",
        "DESC",
        "%",
        "\\",
        ";",
        "--",
    ]
)
filter_like = st.one_of(text, st.lists(st.one_of(fragments, text), max_size=12).map("".join))


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    op = draw(st.sampled_from(list(Op)))
    value: Any
    if op in (Op.IN, Op.NOT_IN):
        value = tuple(draw(st.lists(scalars, min_size=1, max_size=3)))
    elif op in (Op.IS_NULL, Op.IS_NOT_NULL):
        value = None
    else:
        value = draw(scalars)
    return Comparison(draw(st.sampled_from(list(Entity))), draw(keys), op, value)


trees = st.lists(comparisons(), min_size=1, max_size=4).map(lambda cs: And(tuple(cs)))

WHERES = [
    search.runs_where,
    search.experiments_where,
    search.registered_models_where,
    search.model_versions_where,
    search.logged_models_where,
]
ORDER_BYS = [
    search.runs_order_by,
    search.experiments_order_by,
    search.registered_models_order_by,
    search.model_versions_order_by,
]


@SETTINGS
@given(filter_like)
def test_any_text_parses_or_raises_invalid_argument(source: str) -> None:
    try:
        tree = parse_filter(source)
    except InvalidArgument:
        return
    # Whatever parses renders to text that parses back to the same tree.
    assert parse_filter(render(tree)) == tree


@SETTINGS
@given(filter_like)
def test_every_search_compiles_or_raises_invalid_argument(source: str) -> None:
    for where in WHERES:
        try:
            where(source)
        except InvalidArgument:
            pass
    for order_by in ORDER_BYS:
        try:
            order_by([source])
        except InvalidArgument:
            pass


@SETTINGS
@given(
    st.lists(
        st.one_of(st.none(), st.integers(), text, st.dictionaries(text, st.one_of(text, st.booleans()))), max_size=3
    )
)
def test_logged_model_order_by_takes_any_json_or_raises_invalid_argument(order_by: list[Any]) -> None:
    try:
        search.logged_models_order_by(order_by)
    except InvalidArgument:
        pass


@SETTINGS
@given(trees)
def test_render_then_parse_is_identity(tree: And) -> None:
    assert parse_filter(render(tree)) == tree
    rendered = render(tree)
    assert render(parse_filter(rendered)) == rendered


@SETTINGS
@given(st.sampled_from(list(Entity)), keys, st.booleans())
def test_order_by_render_round_trip(entity: Entity, key: str, ascending: bool) -> None:
    key_ = OrderKey(entity, key, ascending)
    assert parse_order_by(render(key_)) == key_


SENTINEL = "Zq9"
marked = text.map(lambda s: SENTINEL + s)
big_ints = st.integers(min_value=10**8, max_value=10**9 - 1)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _key(key: str) -> str:
    return '"' + key.replace('"', '""') + '"'


@st.composite
def marked_filters(draw: st.DrawFn) -> tuple[Any, Any, str, list[str]]:
    """A valid filter for one search whose every literal contains a sentinel (or a 9-digit number)."""
    s, n, k = draw(marked), draw(big_ints), draw(marked)
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
    cmp = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    cases = [
        (search.runs_where, runs, f"params.{_key(k)} {op} {_quoted(s)} AND metrics.{_key(k)} {cmp} {n}.5"),
        (search.runs_where, runs, f"tags.{_key(k)} {op} {_quoted(s)} AND run_id IN ({_quoted(s)}, {_quoted(s)})"),
        (search.runs_where, runs, f"datasets.context {op} {_quoted(s)} AND start_time {cmp} {n}"),
        (search.experiments_where, experiments, f"name {op} {_quoted(s)} AND tags.{_key(k)} IS NULL"),
        (search.registered_models_where, registered_models, f"tags.{_key(k)} {op} {_quoted(s)}"),
        (search.model_versions_where, model_versions, f"run_id {op} {_quoted(s)} AND version_number {cmp} {n}"),
        (search.logged_models_where, logged_models, f"params.{_key(k)} {op} {_quoted(s)} AND metrics.m {cmp} {n}"),
    ]
    where, table, source = draw(st.sampled_from(cases))
    return where, table, source, [SENTINEL, str(n)]


@SETTINGS
@given(marked_filters())
def test_no_filter_literal_reaches_sql_text(case: tuple[Any, Any, str, list[str]]) -> None:
    where, table, source, literals = case
    stmt = select(table).where(*where(source))
    for dialect in (None, sqlite.dialect(), postgresql.dialect()):
        sql = str(stmt.compile(dialect=dialect))
        for literal in literals:
            assert literal not in sql


@SETTINGS
@given(numbers)
def test_numbers_survive_rendering(value: int | float) -> None:
    parsed = parse_filter(f"metrics.m = {render_value(value)}").clauses[0].value
    assert parsed == value
    assert type(parsed) is type(value)
