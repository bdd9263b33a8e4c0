# The two commands a newcomer needs: `make run` and `make test`. Each sets itself up
# (virtual environment, install) idempotently, on a machine with only Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint format typecheck test-unit test-integration test-e2e test-slow docs clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Nova needs Python 3.11+: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Run Nova on embedded engines (or the servers named by NOVA_* variables).
run: $(STAMP)
	$(BIN)/nova up

## Every check that gates CI: lint, format, types, import contracts, suppressions, tests.
test: $(STAMP)
	scripts/check

check: test

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration -m "integration and not slow"

test-e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

## Regenerate the configuration table in README.md from the Settings class.
docs: $(STAMP)
	$(BIN)/python scripts/update_config_table.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
