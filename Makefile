# Parley's developer commands. Two matter on a fresh machine: `make run` and `make test`.
# The virtualenv and every local service live in git-ignored folders (.venv/, .parley/).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test up down status lint protos faults bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The whole platform locally: services, engine, ingress :8000, a worker per queue, beat, Flower :5555.
run: $(STAMP)
	$(BIN)/parley run

## The whole test suite on the real services (started here, stopped by `make down`).
test: $(STAMP)
	$(BIN)/parley services up
	$(BIN)/pytest

## The ledger suite: faults (killed workers, restarted services, provider errors) under load,
## one ledger line per scenario, also in .parley/faults/ledger.txt. Stops and restarts services.
## PARLEY_FAULTS_MESSAGES (500), PARLEY_FAULTS_CONVERSATIONS (50) and PARLEY_FAULTS_RATE size each
## scenario; FAULTS_ARGS="-k kafka" runs one.
faults: $(STAMP)
	$(BIN)/parley services up
	$(BIN)/pytest tests/faults -p no:cacheprovider -s $(FAULTS_ARGS)

## The benchmark suite (never run by CI): every scenario against a baseline measured in the same
## run; writes bench/results.json and bench/results.png and prints the ratios. About 20 min;
## PARLEY_BENCH_QUICK=1 runs every scenario briefly; other PARLEY_BENCH_* knobs in bench/config.py.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/parley services up
	$(BIN)/python -m bench

up: $(STAMP)
	$(BIN)/parley services up

down: $(STAMP)
	$(BIN)/parley services down

status: $(STAMP)
	$(BIN)/parley services status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

## Regenerate the committed protobuf/gRPC modules from protos/*.proto.
protos: $(STAMP)
	$(BIN)/python -m protos.codegen

clean:
	rm -rf $(VENV) .parley
