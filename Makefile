# linli — the two commands: `make demo` and `make test`. Both set everything up first (idempotent).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint bench mutate clean schemas

setup:
	@scripts/setup.sh

## Broker + server + simulated agents of every kind; prints the URLs; Ctrl-C stops everything.
demo: setup
	@$(PY) -m linli.cli demo

## Every test (unit, end to end with real Mosquitto/SQLite/PostgreSQL/Chromium), then ruff.
test: setup
	@scripts/run-tests.sh

test-fast: setup
	@$(PY) -m pytest -q -x -m "not postgres and not browser"

lint: setup
	@$(VENV)/bin/ruff check .

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

## Mutation testing of the safety and money code (mutmut; score per module to artifacts/mutation.txt).
## One module: make mutate MODULE=edge/apps/gate/decision.py
mutate: setup
	@$(PY) scripts/mutate.py $(foreach m,$(MODULE),--module $(m))

## Each kind's config schema into the contract (linli/contract/config_schemas/), after a change of a config model.
schemas: setup
	@$(PY) -m edge.runtime.config_schemas

clean:
	rm -rf var artifacts .pytest_cache mutants
