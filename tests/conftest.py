"""Shared fixtures: live servers per backend, and the stock mlflow client pointed at them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.kafka"]

# The stock client retries 5xx answers for minutes; a server bug must fail a test at once.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_TRACKING_USERNAME", "")


@pytest.fixture
def cnai_home(tmp_path: Path) -> Path:
    home = tmp_path / "cnai-home"
    home.mkdir()
    return home
