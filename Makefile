# tickerstream: every command a developer or CI needs. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export SAM_CLI_TELEMETRY := 0
export UV_PYTHON_DOWNLOADS := never
REGION ?= us-east-1

VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
SYNCED := $(VENV)/.synced
# checkov pins libraries older than the dev environment's, so it has an environment of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_SYNCED := $(CHECKOV_VENV)/.synced
RUN := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: help setup test lint build demo local bench deploy clean sam-local chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(SYNCED): pyproject.toml uv.lock | $(UV)
	@py=$$(scripts/find-python313) || exit 1; \
	  echo "Using $$py"; \
	  $(UV) sync --locked --python "$$py"
	@touch $@

$(CHECKOV_SYNCED): pyproject.toml uv.lock | $(UV)
	@py=$$(scripts/find-python313) || exit 1; \
	  UV_PROJECT_ENVIRONMENT=$(CHECKOV_VENV) $(UV) sync --locked --only-group checkov --no-install-project --python "$$py"
	@touch $@

setup: $(SYNCED) $(CHECKOV_SYNCED) ## create .venv (python3.13, locked dev dependencies) and .venv-checkov

test: setup chromium ## run every test (template lint and checkov included)
	$(RUN) pytest

chromium: ## Debian's Chromium for the board's browser test (apt-get when /usr/bin/chromium is missing)
	@scripts/install-chromium

lint: setup ## sam validate --lint, cfn-lint with the serverless rules, checkov
	$(RUN) sam validate --lint --region $(REGION)
	$(RUN) cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

build: setup ## sam build (arm64, python3.13)
	$(RUN) sam build

demo: setup ## run the pipeline locally on moto and print what landed (BOARD=1: with the live board open, for 60 s)
	$(RUN) tickerstream demo $(if $(BOARD),--open-board --duration 60)

local: setup ## keep the whole stack running locally (API on :3000 or PORT=, AWS on AWS_PORT=, WebSocket on :3001 or WS_PORT=, template PARAMS="Name=Value ..."; token endpoint, streams, lake, board URL)
	$(RUN) tickerstream local $(if $(PORT),--port $(PORT)) $(if $(AWS_PORT),--aws-port $(AWS_PORT)) $(if $(WS_PORT),--ws-port $(WS_PORT)) $(if $(PARAMS),--parameter-overrides $(PARAMS))

bench: setup ## benchmarks -> bench/results.json and bench/README.md
	$(RUN) python bench/run.py

sam-local: setup ## every events/ file through the real `sam local invoke` (Docker, runtime image built here)
	@scripts/sam-local/docker-daemon.sh start .sam-local; rc=$$?; \
	  if [ $$rc -eq 3 ]; then exit 0; elif [ $$rc -ne 0 ]; then exit $$rc; fi; \
	  status=0; \
	  scripts/sam-local/build-base-image.sh .sam-local "$$(scripts/find-python313)" \
	    && $(RUN) timeout 1800 python scripts/sam-local/run.py || status=$$?; \
	  scripts/sam-local/docker-daemon.sh stop .sam-local; exit $$status

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(RUN) sam deploy --guided

clean: ## remove build output and environments
	rm -rf .aws-sam .sam-local $(VENV) $(CHECKOV_VENV) $(TOOLS) .pytest_cache
