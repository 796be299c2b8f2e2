from __future__ import annotations

import pytest

from cnai.errors import InvalidArgument
from cnai.tracking.search.lexer import Kind, tokenize


def kinds_and_values(source: str) -> list[tuple[Kind, str]]:
    return [(t.kind, t.value) for t in tokenize(source)][:-1]


def test_tokens_of_a_typical_filter() -> None:
    assert kinds_and_values("metrics.acc>=0.5 AND tags.`my tag` != 'x'") == [
        (Kind.NAME, "metrics.acc"),
        (Kind.OP, ">="),
        (Kind.NUMBER, "0.5"),
        (Kind.NAME, "AND"),
        (Kind.NAME, "tags"),
        (Kind.PUNCT, "."),
        (Kind.QUOTED, "my tag"),
        (Kind.OP, "!="),
        (Kind.STRING, "x"),
    ]


def test_end_token_sits_at_the_end() -> None:
    tokens = tokenize("a = 1  ")
    assert tokens[-1].kind is Kind.END
    assert tokens[-1].pos == 7


@pytest.mark.parametrize(
    ("source", "value"),
    [("'it''s'", "it's"), ('"say ""hi"""', 'say "hi"'), ("'C:\\data'", "C:\\data"), ("''", ""), ("'a\nb'", "a\nb")],
)
def test_strings_unescape_doubled_quotes_only(source: str, value: str) -> None:
    assert kinds_and_values(source) == [(Kind.STRING, value)]


@pytest.mark.parametrize("number", ["0", "42", "-7", "3.25", ".5", "-0.5", "1e-3", "2E+10", "5."])
def test_numbers(number: str) -> None:
    assert kinds_and_values(number) == [(Kind.NUMBER, number)]


def test_dotted_names_are_one_token_even_with_digit_parts() -> None:
    assert kinds_and_values("metrics.1st.x") == [(Kind.NAME, "metrics.1st.x")]


def test_every_operator() -> None:
    assert [v for _, v in kinds_and_values("= != < <= > >=")] == ["=", "!=", "<", "<=", ">", ">="]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a = 'open", r"character 5: string starting here is not closed"),
        ("tags.`open = 1", r"character 6: backtick-quoted key is not closed"),
        ("a = 5abc", r"character 5: '5abc' is not a number"),
        ("a = 1.2.3", r"'1.2.3' is not a number"),
        ("a == 1", r"unknown operator '=='; use '='"),
        ("a <> 1", r"unknown operator '<>'; use '!='"),
        ("a = 1;", r"character 6: unexpected character ';'"),
        ("a = \x00", r"NUL character"),
        ("a ~ 1", r"unexpected character '~'"),
    ],
)
def test_errors_name_the_character(source: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        tokenize(source)


def test_overlong_input_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="too long"):
        tokenize("a" * 100_001)
