"""SQL constructs whose spelling differs between SQLite and PostgreSQL.

The search functions return expressions before any dialect is known, so the difference is
settled when the statement is compiled (``sqlalchemy.ext.compiler``). Each construct holds its
pattern as bound parameters, one per spelling; only the one the dialect uses reaches the SQL.

LIKE semantics, the same on both databases (MLflow's rules): ``%`` matches any run of characters,
``_`` exactly one, there is no escape character (a backslash is itself), and LIKE is
case-sensitive while ILIKE is not.

* SQLite's LIKE ignores ASCII case, and ``PRAGMA case_sensitive_like`` is per connection (it
  would couple correctness to engine setup) and deprecated. So LIKE is compiled to ``GLOB`` with
  the pattern translated in Python (``%`` -> ``*``, ``_`` -> ``?``, and ``*``, ``?``, ``[``
  bracketed so they match themselves). GLOB is case-sensitive and needs no extension. ILIKE is
  SQLite's own LIKE, which folds ASCII letters only (SQLite has no Unicode case tables without ICU).
* PostgreSQL's LIKE and ILIKE treat ``\\`` as an escape by default, so backslashes in the pattern
  are doubled to keep them literal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement, literal
from sqlalchemy.sql.visitors import InternalTraversal


def like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``%``, ``_``, no escape) to an equivalent SQLite GLOB pattern."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")  # a one-character set matches the character itself
        else:
            out.append(ch)
    return "".join(out)


def _pg_pattern(pattern: str) -> str:
    return pattern.replace("\\", "\\\\")


class _Match(ColumnElement[bool]):
    """``column`` matches a LIKE ``pattern``; subclasses choose case sensitivity."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("plain", InternalTraversal.dp_clauseelement),
        ("glob", InternalTraversal.dp_clauseelement),
        ("pg", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.plain: BindParameter[str] = literal(pattern, String())
        self.glob: BindParameter[str] = literal(like_to_glob(pattern), String())
        self.pg: BindParameter[str] = literal(_pg_pattern(pattern), String())

    @property
    def _from_objects(self) -> list[Any]:  # lets an enclosing SELECT find (or correlate) the table
        return self.column._from_objects


class CaseSensitiveLike(_Match):
    __visit_name__ = "cnai_like"
    inherit_cache = True


class CaseInsensitiveLike(_Match):
    __visit_name__ = "cnai_ilike"
    inherit_cache = True


def _p(compiler: SQLCompiler, element: ColumnElement[Any], **kw: Any) -> str:
    return compiler.process(element, **kw)


@compiles(CaseSensitiveLike)
def _like_default(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_p(compiler, element.column, **kw)} LIKE {_p(compiler, element.plain, **kw)})"


@compiles(CaseSensitiveLike, "sqlite")
def _like_sqlite(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_p(compiler, element.column, **kw)} GLOB {_p(compiler, element.glob, **kw)})"


@compiles(CaseSensitiveLike, "postgresql")
def _like_pg(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_p(compiler, element.column, **kw)} LIKE {_p(compiler, element.pg, **kw)})"


@compiles(CaseInsensitiveLike)
def _ilike_default(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(lower({_p(compiler, element.column, **kw)}) LIKE lower({_p(compiler, element.plain, **kw)}))"


@compiles(CaseInsensitiveLike, "sqlite")
def _ilike_sqlite(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_p(compiler, element.column, **kw)} LIKE {_p(compiler, element.plain, **kw)})"


@compiles(CaseInsensitiveLike, "postgresql")
def _ilike_pg(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_p(compiler, element.column, **kw)} ILIKE {_p(compiler, element.pg, **kw)})"


class JsonEntryValue(ColumnElement[str]):
    """The ``value`` of the entry with ``key`` in a JSON text column holding ``[{key, value}, ...]``.

    ``run_inputs.tags`` stores a dataset input's tags this way; search needs the
    ``mlflow.data.context`` entry. NULL when there is no such entry or the JSON is not an array.
    """

    __visit_name__ = "cnai_json_entry_value"
    inherit_cache = True
    type = String()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("entry_key", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        self.column = column
        self.entry_key: BindParameter[str] = literal(key, String())

    @property
    def _from_objects(self) -> list[Any]:
        return self.column._from_objects


@compiles(JsonEntryValue)
def _json_entry_default(element: JsonEntryValue, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's JSON1 (built in since 3.38). Paths are taken from the whole document so that
    # json_extract never sees a non-JSON fragment; anything but a JSON array reads as no entries.
    col = _p(compiler, element.column, **kw)
    key = _p(compiler, element.entry_key, **kw)
    # Nested CASE because SQLite may evaluate both sides of an AND; json_type raises on bad text.
    doc = f"CASE WHEN json_valid({col}) THEN CASE json_type({col}) WHEN 'array' THEN {col} END END"
    return (
        f"(SELECT json_extract({doc}, cnai_je.fullkey || '.value') FROM json_each({doc}) AS cnai_je "
        f"WHERE cnai_je.type = 'object' AND json_extract({doc}, cnai_je.fullkey || '.key') = {key} LIMIT 1)"
    )


@compiles(JsonEntryValue, "postgresql")
def _json_entry_pg(element: JsonEntryValue, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL before 16 cannot test text for valid JSON without raising, so text that is not
    # JSON at all fails the query; the stores only ever write JSON there.
    col = _p(compiler, element.column, **kw)
    as_json = f"CAST({col} AS jsonb)"
    doc = f"CASE WHEN jsonb_typeof({as_json}) = 'array' THEN {as_json} ELSE '[]'::jsonb END"
    return (
        f"(SELECT cnai_je ->> 'value' FROM jsonb_array_elements({doc}) AS cnai_je "
        f"WHERE cnai_je ->> 'key' = {_p(compiler, element.entry_key, **kw)} LIMIT 1)"
    )
