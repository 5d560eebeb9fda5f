# Two commands set up everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test check demo bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## Embedded stack: Temporal dev server (UI :8233), PostgreSQL, worker, HTTP API (:8000). Ctrl-C stops it all.
run: install
	$(BIN)/promptly dev

## The whole suite against real Temporal and PostgreSQL servers.
test: install
	$(BIN)/pytest -q

check: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## Sample appointments on a compressed-time worker (needs `make run` in another terminal).
demo: install
	$(BIN)/promptly demo

bench: install
	$(BIN)/python -m bench.lifecycle

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
