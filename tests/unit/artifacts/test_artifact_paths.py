from __future__ import annotations

import posixpath
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnai.artifacts.paths import join, safe_relpath
from cnai.errors import InvalidArgument


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("a//b", "a/b"),
        ("./a/./b/", "a/b"),
        ("a/b/", "a/b"),
        ("~", "~"),
        ("~/x", "~/x"),
        ("~root/.ssh", "~root/.ssh"),
        ("...", "..."),
        ("a..b/..c/d..", "a..b/..c/d.."),
        ("a%20b.txt", "a%20b.txt"),  # stored under the name the client used, not decoded
        ("données/é.txt", "données/é.txt"),
        ("model/MLmodel", "model/MLmodel"),
        ("nested/dir:with:colons", "nested/dir:with:colons"),
    ],
)
def test_normalises_safe_paths(path: str, expected: str) -> None:
    assert safe_relpath(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/",
        "//etc/passwd",
        "C:\\x",
        "C:/x",
        "c:x",
        "\\\\server\\share",
        "..",
        "../x",
        "a/../b",
        "a/..",
        "a/../../etc/passwd",
        "./../x",
        "%2E%2E/x",
        "%2e%2e%2fetc%2fpasswd",
        "a/%2E%2E",
        "..%2Fx",
        "%252E%252E/x",
        "%25252e%25252e/x",
        "%2Fetc%2Fpasswd",
        "./%2F",
        ".//%2Fetc",
        "a\\b",
        "..\\x",
        "a%5C..%5Cb",
        "a\x00b",
        "a%00b",
        "a\nb",
        "a\rb",
        "a%0Ab",
        "\udc80",
        "%" + "25" * 12 + "41",  # still changing after every round of decoding we allow
    ],
)
def test_refuses_paths_that_could_leave_the_root(path: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid path"):
        safe_relpath(path)


def test_refuses_non_strings() -> None:
    with pytest.raises(InvalidArgument, match="expected a string"):
        safe_relpath(b"a/b")  # type: ignore[arg-type]


def test_join_skips_the_root() -> None:
    assert join("", "a") == "a"
    assert join("a", "") == "a"
    assert join("p", "a/b") == "p/a/b"
    assert join("", "") == ""


# Alphabets rich in the characters that matter, so Hypothesis finds the tricky combinations.
_tricky = st.text(alphabet="./\\%2eE5fFcC0a:~\x00 ", max_size=40)
_segments = st.lists(
    st.sampled_from(["..", ".", "", "a", "%2e%2e", "%2E.", "%252e%252e", "~", "..a", "%2f", "%5c"]),
    max_size=8,
).map("/".join)


@settings(deadline=None, max_examples=500)
@given(st.one_of(st.text(max_size=60), _tricky, _segments))
def test_output_never_escapes_the_root(path: str) -> None:
    try:
        out = safe_relpath(path)
    except InvalidArgument:
        return
    for form in (out, unquote(out), unquote(unquote(out))):
        assert ".." not in form.split("/")
        assert not form.startswith("/")
        assert "\\" not in form
        assert "\x00" not in form
    if out:
        assert "" not in out.split("/")
        assert "." not in out.split("/")
        # Joined onto a root, the normalised path stays below it.
        assert posixpath.normpath(posixpath.join("/root", out)).startswith("/root/")
    # Normalising twice changes nothing.
    assert safe_relpath(out) == out
