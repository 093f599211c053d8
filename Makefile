# CarePath. The two commands that matter:
#   make run    start every component of the local stack (Ctrl-C stops them all)
#   make test   run every test against real services (started if not running)

.DEFAULT_GOAL := help
SHELL := /bin/bash
GO ?= go
CAREPATH := bin/carepath
# Where scripts/tools.sh caches what it builds and fetches; the models'
# Python environment lives there too.
CAREPATH_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/carepath
MODELS_VENV := $(CAREPATH_CACHE)/models-venv
# Every target runs the local stack. Its defaults (public local secrets, keys
# generated in .data, demo users) apply only with CAREPATH_ENV=local; unset,
# the programs act as a deployment and refuse to start without real secrets.
export CAREPATH_ENV := local

run: tools build ## Start PostgreSQL, Redis, Temporal, Neo4j, stripe-mock, the worker and the API
	$(CAREPATH) stack up

test: tools test-tools build lint ## Run every test (unit, integration, schemathesis on /openapi.json) against the real services
	$(CAREPATH) stack exec -- bash -c '$(GO) test -count=1 -timeout 30m ./... && scripts/schemathesis.sh'

seed: tools build ## Load the demo data set into the local database (idempotent)
	$(CAREPATH) stack exec --only postgres -- $(CAREPATH) seed

migrate: tools build ## Migrate PostgreSQL and register Temporal search attributes
	$(CAREPATH) stack exec --only postgres,temporal -- $(CAREPATH) migrate

lint: ## go vet, gofmt, Temporal's workflowcheck, and no I/O client in the workflows' dependencies
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) tool workflowcheck ./workflows/...
	@# Workflow code sees domain types and activity contracts only: no database, graph, model runtime or vendor SDK.
	@! $(GO) list -deps ./workflows | grep -E '/(pgx|neo4j-go-driver|onnxruntime_go|stripe-go|twilio-go)(/|$$)' || { echo "workflows must not depend on the packages above"; exit 1; }

build: ## Build bin/carepath, bin/twilio-fake and bin/pharmacy-sim
	$(GO) build -o $(CAREPATH) ./cmd/carepath
	$(GO) build -o bin/twilio-fake ./cmd/twilio-fake
	$(GO) build -o bin/pharmacy-sim ./cmd/pharmacy-sim

tools: ## Install what the local stack runs (Debian packages, Temporal CLI, stripe-mock, Neo4j launcher, ONNX Runtime, schemathesis)
	@scripts/tools.sh

test-tools: ## Install what only the tests need (the docker compose plugin, to validate docker-compose.yml)
	@scripts/install-compose.sh

models: tools $(MODELS_VENV)/.requirements ## Retrain the clinical models (PyPI, pinned), then check Go's parity with Python
	cd models && $(MODELS_VENV)/bin/python train.py
	$(GO) test -count=1 -run 'Parity' ./inference/

bench-models: tools $(MODELS_VENV)/.requirements ## Serving benchmark: Go beside Python ONNX Runtime on the same models and rows
	$(GO) run ./inference/bench -python $(MODELS_VENV)/bin/python

# The models' Python environment, rebuilt when the pinned requirements change.
$(MODELS_VENV)/.requirements: models/requirements.txt
	@echo "==> models       installing models/requirements.txt into $(MODELS_VENV) (PyPI)"
	python3 -m venv $(MODELS_VENV)
	$(MODELS_VENV)/bin/pip install -q --disable-pip-version-check -r models/requirements.txt
	cp models/requirements.txt $@

bench: tools build ## Journeys per second and latency on the local dev server, beside a one-activity workflow
	$(CAREPATH) stack exec -- $(GO) run ./bench/journeys -n 200 -concurrency 50

ADHERENCE_N ?= 200
bench-adherence: tools build ## Concurrent adherence courses on one dev server and one worker: memory, on-time reminders per second, beside a bare timer loop
	$(CAREPATH) stack exec -- $(GO) run ./bench/adherence -n $(ADHERENCE_N) -interval 5s -doses 12 -doses-per-run 4
bench-search: tools build ## Doctor search on 100,000 generated doctors: p50/p99 beside a primary-key lookup and the same searches without indexes
	$(CAREPATH) stack exec --only postgres -- $(GO) run ./bench/doctorsearch

clean: ## Remove build output (keeps .data, the local services' state)
	rm -rf bin knowledge/neo4j-launcher/target

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: run test seed migrate lint build tools test-tools models bench-models bench bench-adherence clean help
