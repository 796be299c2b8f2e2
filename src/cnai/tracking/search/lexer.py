"""Split a filter or order_by string into tokens.

Token kinds:

* ``NAME``: a word, optionally with dotted parts (``metrics.acc``, ``tags.mlflow.runName``,
  ``AND``); keywords are NAMEs without dots, recognised case-insensitively by the parser.
* ``STRING``: ``'...'`` or ``"..."``; a doubled quote inside stands for one quote (SQL's rule).
  Backslashes are ordinary characters, so Windows paths need no escaping.
* ``QUOTED``: a backtick-quoted key (`` `my metric` ``); it cannot contain a backtick (use
  double quotes for such keys).
* ``NUMBER``: ``-?`` digits with an optional fraction and exponent (``3``, ``-0.5``, ``1e-3``).
* ``OP``: ``=  !=  <  <=  >  >=``;  ``PUNCT``: ``.  (  )  ,``.

Every error is an ``InvalidArgument`` naming the 1-based character where it happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from cnai.errors import InvalidArgument


class Kind(Enum):
    NAME = "name"
    STRING = "string"
    QUOTED = "quoted key"
    NUMBER = "number"
    OP = "operator"
    PUNCT = "punctuation"
    END = "end of input"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # as written, for messages
    value: str  # a STRING's or QUOTED key's content, unescaped; otherwise the text
    pos: int  # 0-based offset of the first character

    def describe(self) -> str:
        if self.kind is Kind.END:
            return "the end of the filter"
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f"{self.kind.value} {shown!r}"


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[^\W\d]\w*(?:\.\w+)*")
# The lookahead keeps "5abc" or "1.2.3" from lexing as a number followed by something else.
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_OPS = ("!=", "<=", ">=", "=", "<", ">")
_PUNCT = ".(),"
# Common spellings from other query languages, answered with what to write instead.
_MISSPELLED_OPS = {"==": "=", "<>": "!="}

MAX_FILTER_LENGTH = 100_000


def _fail(pos: int, message: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid search expression at character {pos + 1}: {message}")


def tokenize(source: str) -> list[Token]:
    """Return the tokens of ``source``, ending with one END token."""
    if len(source) > MAX_FILTER_LENGTH:
        raise InvalidArgument(f"Search expression is too long: {len(source)} characters (max {MAX_FILTER_LENGTH})")
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        ch = source[pos]
        if m := _SPACE.match(source, pos):
            pos = m.end()
            continue
        if ch == "\x00":
            # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
            raise _fail(pos, "the NUL character is not allowed")
        if ch in "'\"":
            tok = _string(source, pos)
        elif ch == "`":
            end = source.find("`", pos + 1)
            if end < 0:
                raise _fail(pos, "backtick-quoted key is not closed with `")
            tok = Token(Kind.QUOTED, source[pos : end + 1], source[pos + 1 : end], pos)
        elif m := _NUMBER.match(source, pos):
            tok = Token(Kind.NUMBER, m.group(), m.group(), pos)
        elif m := _NAME.match(source, pos):
            tok = Token(Kind.NAME, m.group(), m.group(), pos)
        elif ch.isdigit() or (ch in "-." and pos + 1 < len(source) and source[pos + 1].isdigit()):
            end = pos + 1
            while end < len(source) and (source[end].isalnum() or source[end] in "._"):
                end += 1
            raise _fail(pos, f"{source[pos:end]!r} is not a number; quote it if it is a string")
        elif op := _operator(source, pos):
            tok = Token(Kind.OP, op, op, pos)
        elif ch in _PUNCT:
            tok = Token(Kind.PUNCT, ch, ch, pos)
        else:
            raise _fail(pos, f"unexpected character {ch!r}")
        tokens.append(tok)
        pos = tok.pos + len(tok.text)
    tokens.append(Token(Kind.END, "", "", len(source)))
    return tokens


def _string(source: str, start: int) -> Token:
    quote = source[start]
    parts: list[str] = []
    pos = start + 1
    while True:
        end = source.find(quote, pos)
        if end < 0:
            raise _fail(start, f"string starting here is not closed with {quote}")
        parts.append(source[pos:end])
        if source.startswith(quote, end + 1):  # doubled quote: one literal quote character
            parts.append(quote)
            pos = end + 2
            continue
        return Token(Kind.STRING, source[start : end + 1], "".join(parts), start)


def _operator(source: str, pos: int) -> str | None:
    for wrong, right in _MISSPELLED_OPS.items():
        if source.startswith(wrong, pos):
            raise _fail(pos, f"unknown operator {wrong!r}; use {right!r}")
    for op in _OPS:
        if source.startswith(op, pos):
            return op
    return None
