# Two commands set up everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install browser run test check audit lock demo bench chaos clean

LOGS := .data/logs

# pip's output goes to $(LOGS)/install.log; on failure its last lines are shown.
$(INSTALLED): pyproject.toml
	@mkdir -p $(LOGS)
	@echo "installing into $(VENV) (log: $(LOGS)/install.log) ..."
	@$(PYTHON) -m venv $(VENV) >> $(LOGS)/install.log 2>&1
	@$(BIN)/pip install --quiet --upgrade pip >> $(LOGS)/install.log 2>&1 \
	  || { tail -n 30 $(LOGS)/install.log; exit 1; }
	@$(BIN)/pip install --quiet -e '.[dev]' >> $(LOGS)/install.log 2>&1 \
	  || { tail -n 30 $(LOGS)/install.log; exit 1; }
	@touch $(INSTALLED)

install: $(INSTALLED)

## Embedded stack: Temporal dev server (UI :8233), PostgreSQL, worker, HTTP API (:8000). Ctrl-C stops it all.
run: install
	@$(BIN)/promptly dev

## Debian's headless Chromium for the browser tests, installed when missing (needs root and
## apt-get; elsewhere the browser tests skip, and under PROMPTLY_REQUIRE_BROWSER fail).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "no chromium and no root apt-get: the browser tests will skip" >&2; \
	  fi; \
	fi

## The whole suite against real Temporal and PostgreSQL servers (and headless Chromium), in
## TEST_WORKERS processes that take whole modules, the longest first (docs/testing.md: the
## suite mostly waits on servers and timers, so three keep two cores busier than two do).
## Bytecode caches stay on even where the shell sets PYTHONDONTWRITEBYTECODE: the suite starts
## dozens of Python processes over the same code, and without them each compiles Promptly again
## (0.4 s of CPU) and each xdist worker rewrites every test module (10 s).
TEST_WORKERS ?= 3
test: install browser
	@env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m compileall -q promptly
	env -u PYTHONDONTWRITEBYTECODE \
	  $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

check: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python tools/audit.py

## Known vulnerabilities in the production pins (requirements.lock) fail it (docs/security.md).
audit: install
	PROMPTLY_REQUIRE_AUDIT=1 $(BIN)/python tools/audit.py

## Re-pin the production image's dependencies (with hashes) after changing pyproject.toml.
lock: install
	$(BIN)/pip-compile --quiet --allow-unsafe --generate-hashes --strip-extras \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

## Four sample appointments played out in ~9 minutes on a compressed-time worker (needs
## `make run` in another terminal); `promptly demo --clean` removes them afterwards.
demo: install
	@$(BIN)/promptly demo

## Six benchmarks against floors measured in the same run, one JSON line each (docs/performance.md).
## BENCH_ARGS=--quick sizes them for under 10 minutes; also --workers 2, --only burst, --profile DIR.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.calendar_feed

## Lifecycles while the worker is SIGKILLed, PostgreSQL stops and SendGrid fails (docs/chaos.md).
## 300 lifecycles booked over 500 s (0.6 a second), two worker processes (one killed at a time):
## about 30 minutes for both runs on 2 cores. Also --set NAME=VALUE (a worker setting).
CHAOS_ARGS ?= --n 300 --booking-rate 0.6 --workers 2
chaos: install
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
