"""Recursive-descent parser for MLflow's search filters and order_by entries.

Grammar (keywords are case-insensitive)::

    filter   := <empty> | clause ("AND" clause)*
    clause   := field op value
              | field ["NOT"] "IN" list
              | field "IS" ["NOT"] "NULL"
    op       := "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE"
    value    := string | number
    list     := "(" (string | number) ("," (string | number))* [","] ")"
    field    := name                          bare name: an attribute ("status")
              | entity "." key                metrics.acc, tags.mlflow.runName
              | entity "." (`key` | "key")    metrics.`my metric`, params."a b"
              | `key` | "key"                 a quoted attribute ("run name")
    order_by := field ["ASC" | "DESC"]

This module only checks syntax. Whether a field exists for a given search, and whether its
operator and value type fit, is the compiler's job (``compile.py``).
"""

from __future__ import annotations

from cnai.errors import InvalidArgument
from cnai.tracking.search.ast import And, Comparison, Entity, Op, OrderKey, Scalar, Value
from cnai.tracking.search.lexer import Kind, Token, tokenize

# Every spelling MLflow accepts for an entity prefix.
ENTITY_PREFIXES: dict[str, Entity] = {
    "metric": Entity.METRIC,
    "metrics": Entity.METRIC,
    "param": Entity.PARAM,
    "params": Entity.PARAM,
    "parameter": Entity.PARAM,
    "parameters": Entity.PARAM,
    "tag": Entity.TAG,
    "tags": Entity.TAG,
    "attribute": Entity.ATTRIBUTE,
    "attributes": Entity.ATTRIBUTE,
    "attr": Entity.ATTRIBUTE,
    "run": Entity.ATTRIBUTE,
    "dataset": Entity.DATASET,
    "datasets": Entity.DATASET,
}

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})
_COMPARATORS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
# Far more than any real filter; past a few hundred AND-ed clauses SQLite refuses the statement
# ("expression tree is too large"), and that must be the caller's error, not the server's.
MAX_CLAUSES = 100
_OPERATOR_HINT = "an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)"


def parse_filter(source: str | None) -> And:
    """Parse a filter string; None, empty or blank means no filter (``And(())``)."""
    if source is None or not source.strip():
        return And(())
    return _Parser(source).filter()


def parse_order_by(source: str) -> OrderKey:
    """Parse one order_by entry such as ``metrics.acc DESC``."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidArgument(f"Invalid order_by entry {source!r}: expected '<field> [ASC|DESC]'")
    return _Parser(source).order_key()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.END:
            self.i += 1
        return tok

    def keyword(self, tok: Token | None = None) -> str | None:
        """The keyword ``tok`` spells (upper-cased), if it is one."""
        tok = tok or self.tok
        if tok.kind is Kind.NAME and tok.text.upper() in KEYWORDS:
            return tok.text.upper()
        return None

    def is_punct(self, ch: str) -> bool:
        return self.tok.kind is Kind.PUNCT and self.tok.text == ch

    def error(self, expected: str, tok: Token | None = None) -> InvalidArgument:
        tok = tok or self.tok
        return InvalidArgument(
            f"Invalid search expression at character {tok.pos + 1}: expected {expected}, found {tok.describe()}"
        )

    # -- grammar -----------------------------------------------------------------------------
    def filter(self) -> And:
        clauses = [self.clause()]
        while self.tok.kind is not Kind.END:
            kw = self.keyword()
            if kw == "AND":
                self.advance()
                if len(clauses) >= MAX_CLAUSES:
                    raise InvalidArgument(f"Search expression has more than {MAX_CLAUSES} clauses")
                clauses.append(self.clause())
            elif kw == "OR":
                raise InvalidArgument(
                    f"Invalid search expression at character {self.tok.pos + 1}: OR is not supported; "
                    "MLflow filters join clauses with AND only"
                )
            else:
                raise self.error("AND or the end of the filter")
        return And(tuple(clauses))

    def order_key(self) -> OrderKey:
        entity, key = self.field()
        ascending = True
        kw = self.keyword()
        if kw in ("ASC", "DESC"):
            ascending = kw == "ASC"
            self.advance()
        if self.tok.kind is not Kind.END:
            raise self.error("ASC, DESC or the end of the order_by entry")
        return OrderKey(entity, key, ascending)

    def clause(self) -> Comparison:
        start = self.tok.pos
        if self.is_punct("("):
            raise InvalidArgument(
                f"Invalid search expression at character {start + 1}: parentheses cannot group "
                "clauses; write the clauses joined by AND"
            )
        entity, key = self.field()
        op, value = self.operator_and_value()
        return Comparison(entity, key, op, value, start)

    def field(self) -> tuple[Entity, str]:
        tok = self.advance()
        if tok.kind is Kind.NAME and not self.keyword(tok):
            if "." in tok.text:
                prefix, key = tok.text.split(".", 1)
                return self.entity(prefix, tok), key
            if self.is_punct("."):  # entity."quoted key" or entity.`quoted key`
                self.advance()
                key_tok = self.advance()
                if key_tok.kind not in (Kind.QUOTED, Kind.STRING):
                    raise self.error(f"a key after '{tok.text}.'", key_tok)
                return self.entity(tok.text, tok), self.key(key_tok)
            return Entity.ATTRIBUTE, tok.text
        if tok.kind in (Kind.QUOTED, Kind.STRING):
            return Entity.ATTRIBUTE, self.key(tok)
        raise self.error("a field name such as metrics.acc, params.lr, tags.`my tag` or status", tok)

    def entity(self, prefix: str, tok: Token) -> Entity:
        entity = ENTITY_PREFIXES.get(prefix.lower())
        if entity is None:
            raise InvalidArgument(
                f"Invalid search expression at character {tok.pos + 1}: unknown entity {prefix!r}; "
                "fields are written metrics.<key>, params.<key>, tags.<key>, attributes.<key> "
                "or datasets.<key>"
            )
        return entity

    def key(self, tok: Token) -> str:
        if not tok.value:
            raise InvalidArgument(f"Invalid search expression at character {tok.pos + 1}: the key is empty")
        return tok.value

    def operator_and_value(self) -> tuple[Op, Value]:
        tok = self.advance()
        if tok.kind is Kind.OP:
            return _COMPARATORS[tok.text], self.scalar(tok)
        kw = self.keyword(tok)
        if kw in ("LIKE", "ILIKE"):
            return Op(kw), self.scalar(tok)
        if kw == "IN":
            return Op.IN, self.value_list()
        if kw == "NOT":
            if self.keyword() != "IN":
                raise self.error("IN after NOT (NOT LIKE is not supported; NOT IN is)")
            self.advance()
            return Op.NOT_IN, self.value_list()
        if kw == "IS":
            negated = self.keyword() == "NOT"
            if negated:
                self.advance()
            if self.keyword() != "NULL":
                raise self.error("NULL after IS NOT" if negated else "NULL or NOT NULL after IS")
            self.advance()
            return (Op.IS_NOT_NULL if negated else Op.IS_NULL), None
        raise self.error(_OPERATOR_HINT, tok)

    def scalar(self, op_tok: Token) -> Scalar:
        tok = self.advance()
        if tok.kind is Kind.STRING:
            return tok.value
        if tok.kind is Kind.NUMBER:
            return _number(tok.text)
        if tok.kind is Kind.PUNCT and tok.text == "(":
            raise self.error(f"a single value after {op_tok.text}; lists need IN or NOT IN", tok)
        if tok.kind in (Kind.NAME, Kind.QUOTED):
            raise self.error(f"a quoted string or a number after {op_tok.text} (quote strings: 'text')", tok)
        raise self.error(f"a value after {op_tok.text}", tok)

    def value_list(self) -> tuple[Scalar, ...]:
        if not self.is_punct("("):
            raise self.error("a parenthesised list such as ('a', 'b') after IN")
        self.advance()
        items: list[Scalar] = []
        while True:
            tok = self.advance()
            if tok.kind is Kind.STRING:
                items.append(tok.value)
            elif tok.kind is Kind.NUMBER:
                items.append(_number(tok.text))
            elif tok.kind is Kind.PUNCT and tok.text == ")" and items:  # after a trailing comma
                return tuple(items)
            else:
                raise self.error("a quoted string in the list" if not items else "a list item or ')'", tok)
            sep = self.advance()
            if sep.kind is Kind.PUNCT and sep.text == ")":
                return tuple(items)
            if not (sep.kind is Kind.PUNCT and sep.text == ","):
                raise self.error("',' or ')' in the list", sep)


def _number(text: str) -> int | float:
    if not any(c in text for c in ".eE"):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts to int; a double still holds it
            pass
    return float(text)  # 1e999 is inf: a double cannot hold more
