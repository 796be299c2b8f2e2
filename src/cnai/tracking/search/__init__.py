"""MLflow's search grammar, compiled to parameterised SQLAlchemy expressions.

``filter string -> lexer -> parser -> typed AST -> compiler -> ColumnElement[bool]``, with every
literal bound, never pasted into SQL. Bad input of any kind raises ``cnai.errors.InvalidArgument``
with a message that says where and what was expected.

Each ``*_where`` returns clauses to AND together (``select(...).where(*clauses)``); an empty or
blank filter gives ``[]``. The statement must select from the searched table so the clauses'
subqueries correlate to it:

================== ===========================================================================
runs               ``runs``
experiments        ``experiments``
registered models  ``registered_models``
model versions     ``model_versions JOIN registered_models ON registered_models.id =
                   model_versions.model_ref``
logged models      ``logged_models``
================== ===========================================================================

Each ``*_order_by`` returns ORDER BY expressions that include MLflow's default order and its
tie-breakers, so results are totally ordered and offset paging (``encode_page_token`` /
``decode_page_token``) is stable.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement

from cnai.tracking.search import fields
from cnai.tracking.search.ast import And, Comparison, Entity, Op, OrderKey, render
from cnai.tracking.search.compile import compile_filter
from cnai.tracking.search.order_by import (
    experiments_order_by,
    logged_models_order_by,
    model_versions_order_by,
    registered_models_order_by,
    runs_order_by,
)
from cnai.tracking.search.paging import cut_page, decode_page_token, encode_page_token
from cnai.tracking.search.parser import parse_filter, parse_order_by

Where = list[ColumnElement[bool]]


def runs_where(filter_string: str | None) -> Where:
    """Clauses over ``runs``: ``metrics.*``, ``params.*``, ``tags.*``, ``datasets.*``, run attributes."""
    return compile_filter(fields.RUNS, filter_string)


def experiments_where(filter_string: str | None) -> Where:
    """Clauses over ``experiments``: ``name``, ``experiment_id``, ``creation_time``,
    ``last_update_time``, ``tags.*``."""
    return compile_filter(fields.EXPERIMENTS, filter_string)


def registered_models_where(filter_string: str | None) -> Where:
    """Clauses over ``registered_models``: ``name``, ``tags.*``."""
    return compile_filter(fields.REGISTERED_MODELS, filter_string)


def model_versions_where(filter_string: str | None) -> Where:
    """Clauses over ``model_versions JOIN registered_models``: ``name``, ``version_number``,
    ``run_id``, ``source_path``, ``tags.*``."""
    return compile_filter(fields.MODEL_VERSIONS, filter_string)


def logged_models_where(filter_string: str | None) -> Where:
    """Clauses over ``logged_models``: its attributes, ``metrics.*``, ``params.*``, ``tags.*``."""
    return compile_filter(fields.LOGGED_MODELS, filter_string)


__all__ = [
    "And",
    "Comparison",
    "Entity",
    "Op",
    "OrderKey",
    "cut_page",
    "decode_page_token",
    "encode_page_token",
    "experiments_order_by",
    "experiments_where",
    "logged_models_order_by",
    "logged_models_where",
    "model_versions_order_by",
    "model_versions_where",
    "parse_filter",
    "parse_order_by",
    "registered_models_order_by",
    "registered_models_where",
    "render",
    "runs_order_by",
    "runs_where",
]
