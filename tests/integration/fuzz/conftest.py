"""Prints the fuzz run's totals at the end of every pytest run that ran it (``make test`` too)."""

from __future__ import annotations

import pytest

from tests.integration.fuzz.tally import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.cases:
        terminalreporter.section("API fuzzing")
        for line in TALLY.lines():
            terminalreporter.write_line(line)
