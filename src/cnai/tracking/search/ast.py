"""The typed syntax tree of a search filter, and its canonical rendering.

The parser produces these nodes and knows nothing about tables; the compiler turns them into SQL
after checking them against one search's fields. ``render`` writes a tree back as a filter string
that parses to an equal tree, which lets tests check the parser by round trip.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum


class Entity(StrEnum):
    """What a key names: a column of the searched row, or an entry in one of its key tables."""

    ATTRIBUTE = "attributes"
    METRIC = "metrics"
    PARAM = "params"
    TAG = "tags"
    DATASET = "datasets"


class Op(StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


NUMERIC_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})

Scalar = str | int | float
Value = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True)
class Comparison:
    """``<entity>.<key> <op> <value>``; ``value`` is a tuple for IN lists and None for IS [NOT] NULL."""

    entity: Entity
    key: str
    op: Op
    value: Value
    # Where the clause starts in the filter, for error messages; not part of a clause's identity.
    position: int = field(default=0, compare=False)

    @property
    def field_name(self) -> str:
        return f"{self.entity.value}.{self.key}"


@dataclass(frozen=True)
class And:
    """Clauses that must all hold. MLflow's grammar has no OR and no parentheses."""

    clauses: tuple[Comparison, ...] = ()


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` entry: ``<entity>.<key> [ASC|DESC]``."""

    entity: Entity
    key: str
    ascending: bool = True


# Keys that may be written bare; anything else is double-quoted when rendered. It is the lexer's
# identifier rule (one word, then dotted parts), so a rendered key lexes back to the same key.
SIMPLE_KEY = re.compile(r"[^\W\d]\w*(?:\.\w+)*")


def render(node: And | Comparison | OrderKey) -> str:
    """Write ``node`` as a filter (or order_by) string in canonical form."""
    if isinstance(node, And):
        return " AND ".join(render(c) for c in node.clauses)
    if isinstance(node, OrderKey):
        return f"{render_field(node.entity, node.key)} {'ASC' if node.ascending else 'DESC'}"
    left = render_field(node.entity, node.key)
    if node.op in NULL_OPS:
        return f"{left} {node.op.value}"
    return f"{left} {node.op.value} {render_value(node.value)}"


def render_field(entity: Entity, key: str) -> str:
    if SIMPLE_KEY.fullmatch(key):
        return f"{entity.value}.{key}"
    return f'{entity.value}."{key.replace(chr(34), chr(34) * 2)}"'


def render_value(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(render_value(v) for v in value) + ")"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or value is None:  # pragma: no cover - the parser never makes these
        raise TypeError(f"not a filter value: {value!r}")
    if isinstance(value, float):
        if math.isinf(value):  # a literal too large for a double parses to infinity; keep it so
            return "1e999" if value > 0 else "-1e999"
        return repr(value)
    return str(value)
