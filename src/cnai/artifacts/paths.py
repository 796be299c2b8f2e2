"""The one place that decides whether an artifact path is safe.

Every store calls :func:`safe_relpath` before touching anything, so a path that walks out of the
artifact root is refused in one function, for every backend, whatever the API layer forgot.

The rules (MLflow's ``validate_path_is_safe`` refuses the same things; here they are stricter about
encodings, because artifact paths arrive URL-encoded and are sometimes decoded twice by proxies):

- absolute paths are refused: ``/etc/passwd``, ``C:\\x``, ``C:x``, ``\\\\server\\share``;
- any ``..`` segment is refused, also after percent-decoding, repeatedly (``%2E%2E``,
  ``%252E%252E``), because some layer between the client and us may decode once more;
- backslashes are refused (a separator on Windows, a traversal vector through ``..\\``);
- NUL and other control characters are refused: NUL truncates C strings, and CR/LF in a name
  end up in HTTP headers (``Content-Disposition``) and log lines;
- lone surrogates are refused: the name could not be written as a UTF-8 file name or S3 key;
- ``.`` and empty segments are collapsed, a trailing ``/`` is dropped; ``''`` means the root;
- ``~`` and anything else are plain names: nothing here expands them.

The *returned* path is the caller's string, normalised, not the decoded one: a file logged as
``a%20b.txt`` is stored under that very name; decoding is only used to look for disguised ``..``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from cnai.errors import InvalidArgument

# How many times a path is percent-decoded when looking for a disguised '..'. Real names are
# rarely encoded more than twice; a path that still changes after this many rounds is refused.
_MAX_DECODE_ROUNDS = 8

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# 'C:' (drive-relative) or 'C:\' / 'C:/' (drive-absolute) as Windows reads it.
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relpath(path: str) -> str:
    """Validate ``path`` as relative to an artifact root and return it normalised.

    ``'a//b/./c/'`` becomes ``'a/b/c'``; ``''``, ``'.'`` and ``'./'`` become ``''`` (the root).
    Raises :class:`~cnai.errors.InvalidArgument` for anything that could leave the root.
    """
    if not isinstance(path, str):
        raise InvalidArgument(f"Invalid path: expected a string, got {type(path).__name__}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"Invalid path: {path!r} is not valid UTF-8") from None
    normalised = "/".join(segment for segment in path.split("/") if segment not in ("", "."))
    # The normalised form is checked too: dropping segments can bring an encoded separator to
    # the front ('./%2F' -> '%2F', which a later decoding turns into an absolute '/').
    for candidate in dict.fromkeys((path, normalised)):
        for form in _decoded_forms(candidate):
            _check_form(path, form)
    return normalised


def join(*parts: str) -> str:
    """Join already-safe relative paths with '/', skipping empty ones (the root)."""
    return "/".join(part for part in parts if part)


def _decoded_forms(path: str) -> list[str]:
    """``path`` and each successive percent-decoding of it, until it stops changing."""
    forms = [path]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            return forms
        forms.append(decoded)
    raise InvalidArgument(f"Invalid path: {path!r} is percent-encoded too many times")


def _check_form(original: str, form: str) -> None:
    def refuse(why: str) -> InvalidArgument:
        return InvalidArgument(f"Invalid path: {original!r} {why}")

    if _CONTROL_CHARS.search(form):
        raise refuse("contains a control character")
    if "\\" in form:
        raise refuse("contains a backslash")
    if form.startswith("/"):
        raise refuse("is absolute; artifact paths are relative to the artifact root")
    if _WINDOWS_DRIVE.match(form):
        raise refuse("starts with a drive letter")
    if ".." in form.split("/"):
        raise refuse("contains a '..' segment")
