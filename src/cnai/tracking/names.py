"""Readable random run names, as MLflow gives runs created without one."""

from __future__ import annotations

import secrets

_ADJECTIVES = (
    "able brave bright calm clever crisp eager fair gentle glad grand keen kind lively lucky merry "
    "neat noble proud quick quiet rare sharp shy silent smart steady sunny swift tidy warm wise"
).split()
_NOUNS = (
    "ant bass bat bear bee carp cat colt crab crow deer dove duck eel elk finch fox frog goat hare "
    "hawk hen ibis jay koi lamb lark lion lynx mole moth newt owl ram seal slug swan toad vole wasp wolf"
).split()


def random_run_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"
