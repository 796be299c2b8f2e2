# One set of commands for laptops and CI. `make test` installs what it needs itself.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv quickstart test test-fast browser bench lint fmt clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## quickstart: the whole loop on embedded defaults (SQLite, local files)
quickstart: venv
	$(BIN)/cnai quickstart

## test: unit + integration suites against real PostgreSQL, S3-compatible server, mlflow client
test: venv browser
	$(BIN)/python -m pytest -q

## browser: Debian's Chromium + chromedriver for the UI's browser tests (a no-op when present)
browser:
	@sh scripts/install-browser.sh

test-fast: venv
	$(BIN)/python -m pytest -q -m "not integration"

## bench: cnai against its peers, same machine, one run
bench: venv
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/ui.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache bench/.work
