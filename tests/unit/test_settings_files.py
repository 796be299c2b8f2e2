"""CNAI_<NAME>_FILE: settings read from mounted secret files (compose secrets, Kubernetes volumes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.errors import InvalidArgument
from cnai.serving.settings import ServeSettings
from cnai.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CNAI_AUTH_TOKEN", "CNAI_STORE", "CNAI_SERVE_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_value_comes_from_the_file_without_its_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "store").write_text("postgresql+psycopg://cnai:pw@db:5432/cnai\n")
    monkeypatch.setenv("CNAI_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("CNAI_STORE_FILE", str(tmp_path / "store"))
    settings = Settings(home=tmp_path)
    assert settings.auth_token == "s3cret"
    assert settings.store == "postgresql+psycopg://cnai:pw@db:5432/cnai"


def test_plain_variable_and_flag_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("from-file")
    monkeypatch.setenv("CNAI_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("CNAI_AUTH_TOKEN", "from-env")
    assert Settings(home=tmp_path).auth_token == "from-env"
    assert Settings(home=tmp_path, auth_token="from-flag").auth_token == "from-flag"


def test_model_server_reads_its_prefixed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("serve-token\n")
    monkeypatch.setenv("CNAI_SERVE_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("CNAI_AUTH_TOKEN_FILE", str(tmp_path / "missing"))  # the control plane's: not read here
    assert ServeSettings(home=tmp_path).auth_token == "serve-token"


def test_unreadable_file_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNAI_AUTH_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(InvalidArgument, match=r"CNAI_AUTH_TOKEN_FILE=.*missing: cannot read it"):
        Settings(home=tmp_path)
