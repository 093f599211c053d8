# CarePath. The two commands that matter:
#   make run    start every component of the local stack (Ctrl-C stops them all)
#   make test   run every test against real services (started if not running)

.DEFAULT_GOAL := help
SHELL := /bin/bash
GO ?= go
CAREPATH := bin/carepath

run: tools build ## Start PostgreSQL, Redis, Temporal, Neo4j, stripe-mock, the worker and the API
	$(CAREPATH) stack up

test: tools test-tools build lint ## Run every test (unit and integration) against the real services
	$(CAREPATH) stack exec -- $(GO) test -count=1 -timeout 30m ./...

seed: tools build ## Load the demo data set into the local database (idempotent)
	$(CAREPATH) stack exec --only postgres -- $(CAREPATH) seed

migrate: tools build ## Migrate PostgreSQL and register Temporal search attributes
	$(CAREPATH) stack exec --only postgres,temporal -- $(CAREPATH) migrate

lint: ## go vet, gofmt and Temporal's workflowcheck
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./workflows/...

build: ## Build bin/carepath
	$(GO) build -o $(CAREPATH) ./cmd/carepath

tools: ## Install what the local stack runs (Debian packages, Temporal CLI, stripe-mock, Neo4j launcher)
	@scripts/tools.sh

test-tools: ## Install what only the tests need (the docker compose plugin, to validate docker-compose.yml)
	@scripts/install-compose.sh

clean: ## Remove build output (keeps .data, the local services' state)
	rm -rf bin knowledge/neo4j-launcher/target

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: run test seed migrate lint build tools test-tools clean help
