"""Hypothesis strategies for hostile and boundary request values.

Every field a handler reads draws either a value that reaches deep into the handler (the seeded
experiment, run, model, version, alias; a well-formed filter) or a hostile one: int64 edges and
beyond, NaN/Infinity as strings and as bare JSON literals, unicode (NUL, right-to-left marks,
emoji, lone surrogates), empty strings, very long strings, wrong JSON types, deep nesting, and
``..`` paths. Valid values keep the run honest: a fuzzer that only sends garbage never gets past
the first check of a handler.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# ---- scalars -------------------------------------------------------------------------------

INT_EDGES = [0, 1, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**40]
# Includes digits that str.isdigit() or a regex's \d accept but int() or SQL may not.
FLOAT_TEXT = [
    "NaN",
    "Infinity",
    "-Infinity",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-0",
    "1e-400",
    "0x10",
    "1_000",
    " 1",
    "²",
    "١٢",
    "\u0663.\u0665",
    "\uff11",
]
TRICKY_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\U0001f600",
    "\ufeff",
    "'",
    '"',
    "`",
    "%",
    "_",
    "\\",
    "' OR '1'='1",
    "1; DROP TABLE runs; --",
    "../../../../etc/passwd",
    "..",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "\r\nX-Injected: 1",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "null",
    "true",
    "0",
    "-1",
]
LONG_LENGTHS = [63, 64, 65, 250, 256, 257, 500, 501, 1000, 5000, 8000, 65_536, 300_000]

long_text = st.sampled_from(LONG_LENGTHS).flatmap(
    lambda n: st.sampled_from(["x", "é", "\U0001f600"]).map(lambda c: c * n)
)
text = st.one_of(
    st.sampled_from(TRICKY_TEXT),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    long_text,
    st.sampled_from(FLOAT_TEXT),
    st.sampled_from(INT_EDGES).map(str),
)
ints = st.one_of(st.sampled_from(INT_EDGES), st.integers())
floats = st.one_of(st.floats(), st.sampled_from([1e308, -1e308, 5e-324, -0.0]))
scalar = st.one_of(st.none(), st.booleans(), ints, floats, text)
# Any JSON value, a few levels deep; wrong types for every field come from here.
json_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def hostile_or(*valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` values about three times in four, hostile ones otherwise (nested documents: each
    level draws again, so a deep document is rarely valid all the way down)."""
    return st.one_of(*valid, *valid, *valid, *valid, *valid, *valid, scalar, json_value)


# ---- MLflow search filters -----------------------------------------------------------------

IDENTIFIERS = [
    "metrics.acc",
    "metrics.`a b`",
    'metrics."NaN"',
    "params.lr",
    "tags.t",
    "tags.mlflow.runName",
    'tags."x y"',
    "tags.`mlflow.source.type`",
    "attributes.status",
    "attributes.run_id",
    "attribute.start_time",
    "status",
    "run_name",
    "`Run name`",
    "start_time",
    "end_time",
    "name",
    "experiment_id",
    "creation_time",
    "last_update_time",
    "dataset.name",
    "datasets.digest",
    "dataset.context",
    "version_number",
    "run_id",
    "source_path",
    "model_type",
    "model_id",
    "creation_timestamp",
    "tag.x",
    "params",
    "metrics.",
    ".x",
    "x.y.z",
]
OPERATORS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS", "IS NOT", "==", "<>", "~", ""]


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


filter_value = st.one_of(
    st.sampled_from(INT_EDGES).map(str),
    st.sampled_from(["1e999", "-1e999", "NaN", "0.5", "-0", "1.2.3", "5abc", "NULL", "true", "''", "'unclosed", '"x"']),
    st.sampled_from(FLOAT_TEXT),
    text.map(_quoted),
    st.sampled_from(["'%'", "'_%'", "'FINISHED'", "'RUNNING'", "'fuzz-model'", "'READY'"]),
    st.lists(text.map(_quoted), min_size=0, max_size=3).map(lambda vs: "(" + ", ".join(vs) + ")"),
)
clause = st.builds(
    lambda ident, op, value: f"{ident} {op} {value}",
    st.sampled_from(IDENTIFIERS) | text,
    st.sampled_from(OPERATORS),
    filter_value,
)
filter_string = st.one_of(
    st.lists(clause, min_size=1, max_size=4).flatmap(
        lambda cs: st.sampled_from([" AND ", " and ", " OR ", " ", ","]).map(lambda j: j.join(cs))
    ),
    clause.map(lambda c: " AND ".join([c] * 2000)),  # long: the parser's limits, not its recursion
    st.sampled_from(["(" * 500 + "metrics.a > 1" + ")" * 500, "metrics.a > 1 AND", "AND", "", "   "]),
    text,
)
order_by_item = st.one_of(
    st.builds(
        lambda ident, direction: f"{ident}{direction}",
        st.sampled_from(IDENTIFIERS),
        st.sampled_from(["", " ASC", " DESC", " desc", " UP", " ASC DESC", ","]),
    ),
    text,
)
order_by = hostile_or(st.lists(order_by_item, max_size=4))
page_token = hostile_or(
    st.sampled_from(["", "MTA=", "eyJvZmZzZXQiOiAxMH0=", "eyJvZmZzZXQiOiAtMX0=", "!!!", "A" * 5000])
)

# ---- encoding ------------------------------------------------------------------------------


def encode_json(value: Any, *, ascii_only: bool) -> bytes:
    """JSON as a client might send it. The standard library writes integers of any size and bare
    NaN/Infinity literals (both invalid for a proto3 parser), and lone surrogates as escapes."""
    text_form = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text_form.encode("utf-8", "surrogatepass")


RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b"[{}]",
    b"123",
    b'"text"',
    b"{",
    b"{}}",
    b"\xff\xfe\x00\x00",
    b"\xef\xbb\xbf{}",
    '{"name": "é"}'.encode("utf-16"),
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'{"max_results": 1' + b"0" * 5000 + b"}",
    b'{"value": 1e999}',
    b'{"name": "a", "name": 1}',
    b'{"name": "\\ud800"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(20_000)) + b"}",
    b'{"feedback": [' + b",".join(b'{"request_id": "r%d", "label": 1}' % i for i in range(10_001)) + b"]}",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/yaml",
    "",
]
