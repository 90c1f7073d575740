# Daily commands. Every target sets up .venv from uv.lock first if needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
VENV := $(CURDIR)/.venv
# uv from PATH if there is one, else a pinned copy bootstrapped with pip into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
SYNCED := $(VENV)/.synced
# Stages run `python ...`: make that the project's interpreter.
export PATH := $(VENV)/bin:$(PATH)
export UV_COMPILE_BYTECODE := 1
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: help venv pipeline test test-fast lint format clean-venv batch bench-batch

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

venv: $(SYNCED) ## Create or update .venv exactly from uv.lock

pipeline: $(SYNCED) ## Run the whole DVC pipeline (set IMDB_ARCHIVE to use a local archive)
	dvc repro

test: $(SYNCED) ## Run the whole test suite
	pytest

test-fast: $(SYNCED) ## Tests without the slow ones (real processes, full pipeline runs)
	pytest -m "not slow"

BATCH_INPUT ?= data/split/test.parquet
BATCH_OUTPUT ?= outputs/batch/test/predictions.parquet
BENCH_BATCH_ROWS ?= 25000 1000000

batch: $(SYNCED) ## Score BATCH_INPUT (default: the test split) into BATCH_OUTPUT with the Prefect flow
	imdb-sentiment batch --input $(BATCH_INPUT) --output $(BATCH_OUTPUT)

bench-batch: $(SYNCED) ## Batch flow reviews/s and peak memory, local and S3 (BENCH_BATCH_ROWS="25000 1000000")
	nice python bench/batch.py --rows $(BENCH_BATCH_ROWS)

lint: $(SYNCED) ## ruff lint and format check
	ruff check .
	ruff format --check .

format: $(SYNCED) ## Apply ruff fixes and formatting
	ruff check --fix .
	ruff format .

clean-venv: ## Remove .venv and .tools
	rm -rf $(VENV) $(CURDIR)/.tools
