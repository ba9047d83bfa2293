# The two jobs a newcomer runs. Each makes its own virtual environment in .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 0.0.0.0
PORT ?= 8000
MODELS ?= models

.PHONY: serve test lint format audit protocol setup-serve setup-dev clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Each install leaves a stamp newer than pyproject.toml: `make serve` and `make test` install
# again only when it changed (the package itself is installed editable: code changes need
# no install).
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev

# Serving needs no torch.
setup-serve: $(SERVE_STAMP)
$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# Tests train tiny models: torch first, so the range in pyproject.toml is already met. The
# project's machines hold a CPU build of torch 2.13.0; elsewhere point TORCH_PIP_ARGS at a CPU
# wheel index (e.g. TORCH_PIP_ARGS="--index-url <PyTorch's CPU index>") to skip the CUDA build.
TORCH_PIP_ARGS ?=
setup-dev: $(DEV_STAMP)
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH_PIP_ARGS) torch==2.13.0
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $@

serve: setup-serve
	$(BIN)/python -m service --host $(HOST) --port $(PORT) --models $(MODELS)

test: setup-dev
	bash scripts/install-system-test-deps.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The gRPC protocol's Python code, regenerated from its .proto files (service/api/grpc/protocol/);
# commit the result. tests/service/api/grpc/test_grpc_protocol.py fails when the two differ.
protocol: setup-dev
	$(BIN)/python scripts/generate_protocol.py

# Known vulnerabilities in the serving dependencies, pinned as installed (needs PyPI's JSON
# API; --strict fails when a package could not be looked up, so a skipped audit never passes).
audit: setup-dev
	$(BIN)/python scripts/serving_requirements.py > $(VENV)/serving-requirements.txt
	$(BIN)/pip-audit -r $(VENV)/serving-requirements.txt --no-deps --disable-pip --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
