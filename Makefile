# Parlour's entry points for operators and CI. `make help` lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV ?= .venv
BIN := $(VENV)/bin
# The first interpreter that is Python 3.11 or newer; override with `make PYTHON=... run`.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
# Stamps record which pyproject.toml and constraints.txt the virtualenv was installed from.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
# Every package is installed at the version constraints.txt names, so a new release of a
# library or a linter cannot break the build between two runs.
CONSTRAINTS := constraints.txt
LINT_PATHS ?= src tests bench sdk
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help run migrate test lint fmt typecheck chromium janus clean clean-data bench-chat bench-calls

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Parlour needs Python 3.11 or newer (python3.11+ on PATH)."; exit 1; }
	@echo "Creating the virtualenv $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@echo "Installing Parlour into $(VENV) (versions from $(CONSTRAINTS))"
	$(PIP) install -c $(CONSTRAINTS) -e .
	@touch $@

$(TEST_STAMP): pyproject.toml sdk/pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	@echo "Installing Parlour, its SDK and its test tools into $(VENV) (versions from $(CONSTRAINTS))"
	$(PIP) install -c $(CONSTRAINTS) -e '.[test]'
	$(PIP) install -c $(CONSTRAINTS) -e ./sdk
	@touch $@ $(RUN_STAMP)

.PHONY: lock
lock: ## Re-resolve every dependency into constraints.txt, in a throwaway virtualenv
	@test -n "$(PYTHON)" || { echo "Parlour needs Python 3.11 or newer."; exit 1; }
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip --disable-pip-version-check --quiet install '.[test]'
	{ sed -n '1,2p' $(CONSTRAINTS); .lock-venv/bin/python -m pip freeze --exclude parlour; } \
		> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .lock-venv

run: $(RUN_STAMP) ## Migrate and serve at http://127.0.0.1:8080 (data in ./var; PARLOUR_* apply)
	$(BIN)/parlour migrate
	exec $(BIN)/parlour serve

migrate: $(RUN_STAMP) ## Create or upgrade the database schema only
	$(BIN)/parlour migrate

chromium: ## Install the system Chromium for browser tests when missing and allowed
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing the chromium package for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; } \
			|| echo "note: installing chromium failed; browser tests will skip (or fail in CI)."; \
	else \
		echo "note: chromium is not installed and cannot be installed here (needs root and apt-get);"; \
		echo "      browser tests will skip (or fail under PARLOUR_REQUIRE_SERVICES=1)."; \
	fi

janus: ## Install the Janus media server for the SFU tests when missing and allowed
	@if command -v janus >/dev/null 2>&1; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing the janus package for the SFU tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get install -y -qq janus >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null && apt-get install -y -qq janus >/dev/null; }; } \
			|| echo "note: installing janus failed; SFU tests will skip (or fail in CI)."; \
	else \
		echo "note: janus is not installed and cannot be installed here (needs root and apt-get);"; \
		echo "      SFU tests will skip (or fail under PARLOUR_REQUIRE_SERVICES=1)."; \
	fi

lint: $(TEST_STAMP) ## Check style with ruff
	$(BIN)/ruff check $(LINT_PATHS)

typecheck: $(TEST_STAMP) ## Check types with mypy (strict)
	$(BIN)/mypy

fmt: $(TEST_STAMP) ## Format the code and apply safe ruff fixes
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

test: $(TEST_STAMP) chromium janus ## Lint, type-check and run the whole suite (extra args: PYTEST_ARGS=...)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: bench-export
bench-export: $(TEST_STAMP) ## Export of a user with 100,000 messages vs 1,000: worker time and peak RSS (BENCH_ARGS=...)
	$(BIN)/python -m bench.export_heavy --backend sqlite $(BENCH_ARGS)
	$(BIN)/python -m bench.export_heavy --backend postgres $(BENCH_ARGS)

.PHONY: bench-purge
bench-purge: $(TEST_STAMP) ## Retention purge of 1,000,000 expired rows vs a plain DELETE, SQLite then PostgreSQL (BENCH_ARGS=...)
	$(BIN)/python -m bench.purge --backend sqlite $(BENCH_ARGS)
	$(BIN)/python -m bench.purge --backend postgres $(BENCH_ARGS)

bench-calls: $(TEST_STAMP) chromium ## Call set-up time in Chromium and signalling frames/s (BENCH_ARGS=...)
	$(BIN)/python -m bench.call_setup $(BENCH_ARGS)

bench-chat: $(TEST_STAMP) ## Chat fan-out benchmark on SQLite, then PostgreSQL + Redis (BENCH_ARGS=...)
	$(BIN)/python -m bench.chat_fanout --backend sqlite $(BENCH_ARGS)
	$(BIN)/python -m bench.chat_fanout --backend postgres $(BENCH_ARGS)

# Synapse lives in its own virtualenv under the bench's work folder, never in Parlour's.
SYNAPSE_VENV := bench/.work/synapse-venv
SYNAPSE_VERSION ?= 1.163.2
SYNAPSE_STAMP := $(SYNAPSE_VENV)/.installed-$(SYNAPSE_VERSION)

$(SYNAPSE_STAMP):
	@test -n "$(PYTHON)" || { echo "The Synapse bench needs Python 3.11 or newer."; exit 1; }
	@echo "Installing Matrix Synapse $(SYNAPSE_VERSION) into $(SYNAPSE_VENV)"
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip --disable-pip-version-check --quiet install \
		'matrix-synapse==$(SYNAPSE_VERSION)' psycopg2-binary py-spy
	@touch $@

.PHONY: bench-vs-synapse
bench-vs-synapse: $(TEST_STAMP) $(SYNAPSE_STAMP) ## Parlour vs Matrix Synapse, same chat workload (BENCH_ARGS=...)
	$(BIN)/python -m bench.vs_synapse --synapse-python $(SYNAPSE_VENV)/bin/python $(BENCH_ARGS)

clean: ## Remove install stamps and caches (keeps .venv and the data in ./var)
	rm -f $(RUN_STAMP) $(TEST_STAMP)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build src/*.egg-info
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data: ## Delete ./var: the SQLite database, secret key, outbox and uploads
	rm -rf var
