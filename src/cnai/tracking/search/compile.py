"""Compile a parsed filter into SQLAlchemy boolean expressions with bound parameters.

One ``SearchSpec`` describes what a search may filter on: its attributes (columns of the searched
row) and its key tables (tags, params, metrics), each with the operators MLflow allows. Every
literal from the filter, keys included, becomes a bound parameter; nothing from the filter is
ever pasted into SQL text.

Key-table clauses are correlated ``EXISTS`` subqueries, so a row lacking the key does not match,
as in MLflow; ``IS NULL`` is ``NOT EXISTS``. The caller's statement must select from the searched
table (``fields.py`` says which) so the subqueries correlate to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import BigInteger, Float, String, and_, exists, false, literal, or_, true
from sqlalchemy.sql.elements import ColumnElement

from cnai.errors import InvalidArgument
from cnai.tracking.search.ast import LIST_OPS, NUMERIC_OPS, Comparison, Entity, Op, Scalar
from cnai.tracking.search.parser import parse_filter
from cnai.tracking.search.sql import CaseInsensitiveLike, CaseSensitiveLike

Where = ColumnElement[bool]

STRING_OPS = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE})
STRING_LIST_OPS = STRING_OPS | LIST_OPS
ID_OPS = frozenset({Op.EQ, Op.NE}) | LIST_OPS

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# string: compared as text; number: int or float; integer: a whole number (also written '12');
# id: an integer id that MLflow sends as a string ('12').
ValueKind = Literal["string", "number", "integer", "id"]


@dataclass(frozen=True)
class Attr:
    """A column of the searched row."""

    column: ColumnElement[Any]
    kind: ValueKind
    ops: frozenset[Op]
    # Rewrites a string value before comparison (e.g. a short status name to the stored one).
    normalize: Callable[[str], str] | None = None


@dataclass(frozen=True)
class KeyTable:
    """A key/value table hanging off the searched row (tags, params, metrics)."""

    link: Callable[[], Where]  # correlates a key-table row to the searched row
    key: ColumnElement[str]
    value: ColumnElement[Any]
    ops: frozenset[Op]
    numeric: bool = False
    is_nan: ColumnElement[bool] | None = None  # metrics: NaN points never satisfy <, =, ...


@dataclass(frozen=True)
class SearchSpec:
    noun: str  # "runs", for messages
    attributes: Mapping[str, Attr]
    tables: Mapping[Entity, KeyTable] = field(default_factory=dict)
    # Extra clause kinds a search supports beyond attributes and key tables (runs: datasets).
    extra: Mapping[Entity, Callable[[Comparison], Where]] = field(default_factory=dict)
    # Clauses that a row lacking the key satisfies (the registry's prompt tag).
    missing_matches: Callable[[Comparison], bool] = lambda _c: False


def compile_filter(spec: SearchSpec, source: str | None) -> list[Where]:
    """Parse ``source`` and compile each clause; the list is meant to be AND-ed (``.where(*...)``)."""
    if source is not None and not isinstance(source, str):
        raise InvalidArgument(f"The search filter must be a string, got {type(source).__name__}")
    compiled = []
    for c in parse_filter(source).clauses:
        try:
            compiled.append(compile_comparison(spec, c))
        except InvalidArgument as exc:  # say which clause, as syntax errors do
            raise InvalidArgument(f"Invalid search expression at character {c.position + 1}: {exc.message}") from None
    return compiled


def compile_comparison(spec: SearchSpec, c: Comparison) -> Where:
    if c.entity is Entity.ATTRIBUTE:
        return _attribute(spec, c)
    if c.entity in spec.tables:
        return _key_table(spec.tables[c.entity], c, spec.missing_matches(c))
    if c.entity in spec.extra:
        return spec.extra[c.entity](c)
    kinds = ["attributes", *(e.value for e in spec.tables), *(e.value for e in spec.extra)]
    raise InvalidArgument(
        f"{spec.noun} search cannot filter on {c.entity.value}: use " + ", ".join(f"{k}.<key>" for k in kinds)
    )


# -- attributes ------------------------------------------------------------------------------
def _attribute(spec: SearchSpec, c: Comparison) -> Where:
    attr = spec.attributes.get(c.key)
    if attr is None:
        raise InvalidArgument(
            f"Invalid attribute {c.key!r} for {spec.noun} search; valid attributes: "
            + ", ".join(sorted(spec.attributes))
        )
    if c.op not in attr.ops:
        hint = ""
        if c.op in LIST_OPS:
            listed = sorted(k for k, a in spec.attributes.items() if LIST_OPS <= a.ops)
            hint = f" (only {', '.join(listed) or 'no attributes'} support lists)"
        raise _bad_op(c, attr.ops, hint)
    if attr.kind == "string":
        value = check_strings(c)
        if attr.normalize is not None:
            norm = attr.normalize
            value = tuple(norm(v) for v in value) if isinstance(value, tuple) else norm(value)
        return compare(attr.column, c.op, value)
    if attr.kind == "number":
        return compare(attr.column, c.op, check_number(c))
    if attr.kind == "integer":
        return compare(attr.column, c.op, check_integer(c, c.value))
    ids = tuple(check_id(c, v) for v in c.value) if isinstance(c.value, tuple) else check_id(c, c.value)
    return compare(attr.column, c.op, ids)


# -- key tables ------------------------------------------------------------------------------
def _key_table(table: KeyTable, c: Comparison, missing_matches: bool) -> Where:
    if c.op not in table.ops:
        raise _bad_op(c, table.ops)
    has_key = [table.link(), table.key == literal(c.key, String())]
    if c.op is Op.IS_NULL:
        return ~exists().where(*has_key)
    if c.op is Op.IS_NOT_NULL:
        return exists().where(*has_key)
    if table.numeric:
        cond = compare(table.value, c.op, check_number(c, as_float=True))
        if table.is_nan is not None:
            # A NaN point (stored with is_nan set) is unequal to everything and satisfies nothing
            # else, whatever placeholder sits in its value column.
            cond = or_(cond, table.is_nan == true()) if c.op is Op.NE else and_(cond, table.is_nan == false())
    else:
        cond = compare(table.value, c.op, check_strings(c))
    found = exists().where(*has_key, cond)
    if missing_matches:
        return or_(found, ~exists().where(*has_key))
    return found


# -- values ----------------------------------------------------------------------------------
def compare(column: ColumnElement[Any], op: Op, value: Scalar | tuple[Scalar, ...]) -> Where:
    """``column <op> value`` with ``value`` bound; LIKE/ILIKE follow ``sql.py``'s rules."""
    if op is Op.IN or op is Op.NOT_IN:
        assert isinstance(value, tuple)
        items = list(value)
        return column.in_(items) if op is Op.IN else column.not_in(items)
    assert not isinstance(value, tuple)
    if op is Op.LIKE:
        return CaseSensitiveLike(column, str(value))
    if op is Op.ILIKE:
        return CaseInsensitiveLike(column, str(value))
    # The bind's type follows the value, not the column: PostgreSQL casts each bind to its
    # type, and 1.5 cast to the column's BIGINT would compare as 2.
    bound = literal(value, _bind_type(value))
    ops: dict[Op, Callable[[], Where]] = {
        Op.EQ: lambda: column == bound,
        Op.NE: lambda: column != bound,
        Op.LT: lambda: column < bound,
        Op.LE: lambda: column <= bound,
        Op.GT: lambda: column > bound,
        Op.GE: lambda: column >= bound,
    }
    return ops[op]()


def _bind_type(value: Scalar) -> Any:
    if isinstance(value, str):
        return String()
    if isinstance(value, int):
        return BigInteger()
    return Float(precision=53)


def check_strings(c: Comparison) -> str | tuple[str, ...]:
    """The clause's value as text (or a tuple of texts for IN); numbers are refused, as in MLflow."""
    if isinstance(c.value, str):
        return c.value
    if isinstance(c.value, tuple) and all(isinstance(v, str) for v in c.value):
        return tuple(str(v) for v in c.value)
    example = f"{c.field_name} {c.op.value} " + ("('a', 'b')" if c.op in LIST_OPS else "'a'")
    raise InvalidArgument(
        f"{c.field_name} is compared as a string: quote the value{'s' if c.op in LIST_OPS else ''} (e.g. {example})"
    )


def check_number(c: Comparison, as_float: bool = False) -> int | float:
    if isinstance(c.value, bool) or not isinstance(c.value, int | float):
        shown = repr(c.value) if not isinstance(c.value, tuple) else "a list"
        raise InvalidArgument(f"{c.field_name} is numeric: expected a number after {c.op.value}, got {shown}")
    value = c.value
    if isinstance(value, int) and (as_float or not INT64_MIN <= value <= INT64_MAX):
        # Past 64 bits a database integer cannot hold it; compare as a double (inf if need be).
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def check_integer(c: Comparison, value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidArgument(f"{c.field_name} expects a whole number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{c.field_name} expects a whole number, got {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgument(f"{c.field_name}: {value} is out of range")
    return value


def check_id(c: Comparison, value: Any) -> int:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return check_integer(c, value)
    raise InvalidArgument(f"{c.field_name} expects an id such as '12', got {value!r}")


def _bad_op(c: Comparison, allowed: frozenset[Op], hint: str = "") -> InvalidArgument:
    order = [op for op in Op if op in allowed]  # declaration order reads naturally
    return InvalidArgument(
        f"Operator {c.op.value} is not supported for {c.field_name}{hint}; "
        f"use one of {', '.join(op.value for op in order)}"
    )


def numeric_attrs(columns: Mapping[str, ColumnElement[Any]], kind: ValueKind = "number") -> dict[str, Attr]:
    return {name: Attr(col, kind, NUMERIC_OPS) for name, col in columns.items()}


def string_attrs(columns: Mapping[str, ColumnElement[Any]], ops: frozenset[Op] = STRING_OPS) -> dict[str, Attr]:
    return {name: Attr(col, "string", ops) for name, col in columns.items()}
