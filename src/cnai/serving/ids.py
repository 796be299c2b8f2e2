"""Request and event ids: 32 hex characters, unique, without a system call per id.

``os.urandom(16).hex()`` is a ``getrandom`` call per request, twice (the request id and the
inference event's id), and on a busy core a system call is where the scheduler takes the CPU
away. These ids are a random 64-bit prefix drawn once per process followed by a 64-bit counter:
unique within the process by construction and across processes by the prefix (re-drawn in a
forked child). They identify, they are not secrets.
"""

from __future__ import annotations

import itertools
import os

_prefix = os.urandom(8).hex()
_counter = itertools.count()


def new_id() -> str:
    """A fresh 32-character hex id."""
    return f"{_prefix}{next(_counter):016x}"


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


os.register_at_fork(after_in_child=_reseed)
