from __future__ import annotations

import pytest

from cnai.errors import InvalidArgument
from cnai.tracking.search.ast import And, Comparison, Entity, Op, OrderKey, render
from cnai.tracking.search.parser import parse_filter, parse_order_by


def one(source: str) -> Comparison:
    tree = parse_filter(source)
    assert len(tree.clauses) == 1
    return tree.clauses[0]


@pytest.mark.parametrize("source", [None, "", "  \n\t "])
def test_empty_filter_is_no_filter(source: str | None) -> None:
    assert parse_filter(source) == And(())


@pytest.mark.parametrize(
    ("source", "op", "value"),
    [
        ("metrics.m = 1", Op.EQ, 1),
        ("metrics.m != 1.5", Op.NE, 1.5),
        ("metrics.m < -2", Op.LT, -2),
        ("metrics.m <= 1e3", Op.LE, 1000.0),
        ("metrics.m > 0", Op.GT, 0),
        ("metrics.m >= .5", Op.GE, 0.5),
        ("metrics.m LIKE 'a%'", Op.LIKE, "a%"),
        ("metrics.m ilike 'a%'", Op.ILIKE, "a%"),
        ("metrics.m In ('a', 'b')", Op.IN, ("a", "b")),
        ("metrics.m not in ('a',)", Op.NOT_IN, ("a",)),
        ("metrics.m IN (1, 'b')", Op.IN, (1, "b")),
        ("metrics.m is null", Op.IS_NULL, None),
        ("metrics.m IS NOT NULL", Op.IS_NOT_NULL, None),
    ],
)
def test_each_operator(source: str, op: Op, value: object) -> None:
    c = one(source)
    assert (c.entity, c.key, c.op, c.value) == (Entity.METRIC, "m", op, value)


@pytest.mark.parametrize(
    ("prefix", "entity"),
    [
        ("metric", Entity.METRIC),
        ("metrics", Entity.METRIC),
        ("param", Entity.PARAM),
        ("params", Entity.PARAM),
        ("parameters", Entity.PARAM),
        ("tag", Entity.TAG),
        ("tags", Entity.TAG),
        ("attribute", Entity.ATTRIBUTE),
        ("attributes", Entity.ATTRIBUTE),
        ("attr", Entity.ATTRIBUTE),
        ("run", Entity.ATTRIBUTE),
        ("dataset", Entity.DATASET),
        ("datasets", Entity.DATASET),
        ("METRICS", Entity.METRIC),
    ],
)
def test_entity_prefixes(prefix: str, entity: Entity) -> None:
    assert one(f"{prefix}.k = 'v'").entity is entity


@pytest.mark.parametrize(
    ("source", "entity", "key"),
    [
        ("status = 'x'", Entity.ATTRIBUTE, "status"),
        ("tags.mlflow.runName = 'x'", Entity.TAG, "mlflow.runName"),
        ("tags.`mlflow.runName` = 'x'", Entity.TAG, "mlflow.runName"),
        ('metrics."my metric" = 1', Entity.METRIC, "my metric"),
        ("metrics.'single' = 1", Entity.METRIC, "single"),
        ("params.`a \"b\"` = 'x'", Entity.PARAM, 'a "b"'),
        ("params.\"a `b`\" = 'x'", Entity.PARAM, "a `b`"),
        ("`run name` = 'x'", Entity.ATTRIBUTE, "run name"),
        ("\"Run Name\" = 'x'", Entity.ATTRIBUTE, "Run Name"),
        ("tags.and = 'x'", Entity.TAG, "and"),
    ],
)
def test_keys_plain_and_quoted(source: str, entity: Entity, key: str) -> None:
    c = one(source)
    assert (c.entity, c.key) == (entity, key)


def test_and_is_case_insensitive_and_keeps_order() -> None:
    tree = parse_filter("a = 'x' and b = 'y' AnD c = 'z'")
    assert [c.key for c in tree.clauses] == ["a", "b", "c"]
    assert [c.position for c in tree.clauses] == [0, 12, 24]


def test_strings_may_use_either_quote() -> None:
    assert one('params.p = "v"').value == one("params.p = 'v'").value == "v"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a = 1 OR b = 2", r"character 7: OR is not supported"),
        ("(a = 1)", r"character 1: parentheses cannot group clauses"),
        ("a = 1 AND", r"character 10: expected a field name .* found the end of the filter"),
        ("a = 1 b = 2", r"character 7: expected AND or the end of the filter, found name 'b'"),
        ("a", r"character 2: expected an operator .* found the end"),
        ("a foo 1", r"character 3: expected an operator"),
        ("a =", r"expected a value after ="),
        ("a = b", r"expected a quoted string or a number after ="),
        ("a = ('x')", r"lists need IN or NOT IN"),
        ("a IN 'x'", r"expected a parenthesised list"),
        ("a IN ()", r"expected a quoted string in the list"),
        ("a IN ('x' 'y')", r"expected ',' or '\)' in the list"),
        ("a IN ('x',", r"expected a list item or '\)'"),
        ("a NOT LIKE 'x'", r"expected IN after NOT"),
        ("a IS 'x'", r"expected NULL or NOT NULL after IS"),
        ("a IS NOT 1", r"expected NULL after IS NOT"),
        ("foo.bar = 1", r"unknown entity 'foo'"),
        ("tags.`` = 'x'", r"the key is empty"),
        ("tags. = 'x'", r"expected a key after 'tags.'"),
        ("AND = 1", r"expected a field name"),
        ("'a' 'b'", r"expected an operator"),
        ("= 1", r"expected a field name"),
    ],
)
def test_syntax_errors_say_where_and_what(source: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_filter(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("metrics.acc", OrderKey(Entity.METRIC, "acc", True)),
        ("metrics.acc DESC", OrderKey(Entity.METRIC, "acc", False)),
        ("params.`a b` asc", OrderKey(Entity.PARAM, "a b", True)),
        ('tags."x" desc', OrderKey(Entity.TAG, "x", False)),
        ("start_time", OrderKey(Entity.ATTRIBUTE, "start_time", True)),
        ("  name   DESC ", OrderKey(Entity.ATTRIBUTE, "name", False)),
    ],
)
def test_order_by_entries(source: str, expected: OrderKey) -> None:
    assert parse_order_by(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", r"expected '<field> \[ASC\|DESC\]'"),
        ("name UP", r"expected ASC, DESC or the end"),
        ("name ASC DESC", r"expected ASC, DESC or the end"),
        ("name, start_time", r"expected ASC, DESC or the end"),
    ],
)
def test_order_by_errors(source: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_order_by(source)


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("metrics.acc>0.5", "metrics.acc > 0.5"),
        ("status = 'x'", "attributes.status = 'x'"),
        ("tags.`my tag` = 'it''s'", "tags.\"my tag\" = 'it''s'"),
        ("run_id in ('a','b')", "attributes.run_id IN ('a', 'b')"),
        ("params.p is not null and metric.m < 1e999", "params.p IS NOT NULL AND metrics.m < 1e999"),
        ('params."a""b" = 1', 'params."a""b" = 1'),
    ],
)
def test_render_is_canonical(source: str, rendered: str) -> None:
    assert render(parse_filter(source)) == rendered
    assert parse_filter(rendered) == parse_filter(source)


def test_render_order_key() -> None:
    assert render(OrderKey(Entity.METRIC, "my m", False)) == 'metrics."my m" DESC'


def test_clause_count_is_capped() -> None:
    assert len(parse_filter(" AND ".join(["a = 'x'"] * 100)).clauses) == 100
    with pytest.raises(InvalidArgument, match="more than 100 clauses"):
        parse_filter(" AND ".join(["a = 'x'"] * 101))
