"""`--help` shows every option's `[default: …]` and `[env: …]`, and a wrong flag or value is a
short usage error, never a traceback.

Before: rich markup read `[default: 127.0.0.1]` as a style tag and dropped it from every help
page; `cnai serve x --max-memory abc` and `--log-level verbose` ended in tracebacks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cnai.cli.main import app
from tests.integration.startup.conftest import clean_env, cnai

pytestmark = pytest.mark.integration
BRACKETS = re.compile(r"\[(?:default|env): [^\]]*\]")


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and subcommand (typer ships its own copy of click: duck-typed)."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for name, command in sorted(group.commands.items()):
        out.append(((*path, name), command))
        if hasattr(command, "commands"):
            out += _commands(command, (*path, name))
    return out


def _flat(text: str) -> str:
    return " ".join(text.split())  # help is wrapped to the terminal's width


def test_every_command_help_shows_its_bracketed_defaults_and_env_vars() -> None:
    root = typer.main.get_command(app)
    checked = 0
    for path, command in _commands(root):
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, result.output
        shown = _flat(result.output)
        for param in command.params:
            for bracket in BRACKETS.findall(_flat(getattr(param, "help", None) or "")):
                assert bracket in shown, f"`cnai {' '.join(path)} --help` lost {bracket!r}"
                checked += 1
    assert checked > 30  # the texts exist, so the loop above checked something


@pytest.mark.parametrize("command", ["server", "up", "serve"])
def test_server_help_shows_the_default_address(command: str) -> None:
    shown = _flat(CliRunner().invoke(app, [command, "--help"]).output)
    assert "[default: 127.0.0.1]" in shown
    assert "[env: CNAI_HOME" in shown


@pytest.mark.parametrize("command", ["server", "up"])
def test_server_help_shows_the_token_variable(command: str) -> None:
    assert "[env: CNAI_AUTH_TOKEN]" in _flat(CliRunner().invoke(app, [command, "--help"]).output)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "m", "--port", "abc"], "Invalid value for '--port'"),
        (["up", "--port", "99999"], "Invalid setting port"),
        (["server", "--port", "-1"], "Invalid setting port"),
        (["apply", "-f", "missing.yaml"], "No such file: missing.yaml"),
        (["serve", "m", "--max-memory", "abc"], "Invalid size 'abc'"),
        (["serve", "m", "--log-level", "verbose"], "Invalid setting log_level"),
        (["server", "--log-level", "verbose"], "Invalid setting log_level"),
        (["serve", "m", "--optimize", "fast"], "optimize must be 'onnx'"),
        (["server", "--store", "mysql://x/y"], "Unsupported store 'mysql'"),
        (["up", "--bogus"], "No such option: --bogus"),
    ],
)
def test_a_wrong_flag_or_value_is_one_short_error(args: list[str], says: str, tmp_path: Path) -> None:
    done = cnai(*args, env=clean_env(tmp_path))
    everything = done.stdout + done.stderr
    assert done.returncode != 0, everything
    assert "Traceback" not in everything, everything
    assert done.stdout == "", everything  # no banner
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("Error: "), everything
    assert says in lines[-1], everything
    assert len(lines) <= 4, everything  # click's usage error: Usage, Try, blank, Error
