"""MLflow's limits and name rules, checked before anything is written.

The limits match MLflow's server (``mlflow/utils/validation.py``) so a client that works against
MLflow works here, and one that MLflow would reject gets the same kind of error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cnai.errors import InvalidArgument

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_RUN_NAME_LENGTH = 250
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_TOTAL = 1000
MAX_RESULTS_RUNS = 50_000
MAX_RESULTS_DEFAULT = 1000

_VALID_KEY = re.compile(r"^[/\w.\- :]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")


def check_key(key: str, what: str) -> str:
    if not key:
        raise InvalidArgument(f"Invalid {what} name: it must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"Invalid {what} name {key[:40]!r}...: longer than {MAX_KEY_LENGTH}")
    if not _VALID_KEY.match(key):
        raise InvalidArgument(
            f"Invalid {what} name {key!r}: names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
        )
    # Keys become file names in some clients and exports: refuse anything that walks up a tree.
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidArgument(f"Invalid {what} name {key!r}: it may not be an absolute or relative-up path")
    return key


def check_value(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise InvalidArgument(f"{what} value of length {len(value)} exceeds the limit of {limit}")
    return value


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise InvalidArgument(f"Invalid run id {run_id[:80]!r}")
    return run_id


def check_experiment_id(experiment_id: str) -> int:
    try:
        value = int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid experiment id {str(experiment_id)[:80]!r}: must be an integer") from None
    if value < 0 or value > 2**62:
        raise InvalidArgument(f"Invalid experiment id {experiment_id!r}")
    return value


def check_tags(tags: Iterable[tuple[str, str]]) -> None:
    """Tag keys follow the name rules; values are bounded as MLflow bounds them."""
    for key, value in tags:
        check_key(key, "tag")
        check_value(value, MAX_TAG_VALUE_LENGTH, "Tag")
