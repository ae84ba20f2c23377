# Two commands for a fresh machine: `make run` and `make test` (see README).
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install sandbox browser run test lint check bench clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(BIN)/bulkhead: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

# FTS5's BM25 with the rows holding each word given (app/kernel/bm25_counted.c), a
# SQLite extension loaded with sqlite-vec; it needs a C compiler and SQLite's headers
# (without them the server runs, slower; tests/kernel/test_bm25_counted.py fails).
EXTENSION := app/kernel/libbm25counted.so
$(EXTENSION): app/kernel/bm25_counted.c
	@if [ ! -f /usr/include/sqlite3ext.h ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing SQLite's headers for $@"; \
	  apt-get install -y -qq libsqlite3-dev >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq libsqlite3-dev >/dev/null; }; \
	fi
	@$${CC:-cc} -O2 -fPIC -shared -Wall -Wextra -Werror -o $@ $< -lm || \
	  echo "$@ not built (a C compiler and SQLite's headers are needed): word searches on SQLite rank with FTS5's bm25(), slower"

install: $(BIN)/bulkhead $(EXTENSION)

# The tools module runs code in bubblewrap; without it, tool executions answer 503.
sandbox:
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing bubblewrap for the tool sandbox"; \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null; }; \
	  else \
	    echo "bubblewrap (bwrap) is missing: tool executions answer 503 until it is installed"; \
	  fi; \
	fi

# The console's tests drive a real headless Chromium (Debian's, and its WebDriver).
browser:
	@if ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing chromium and chromium-driver for the console's browser tests"; \
	    apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; }; \
	  else \
	    echo "chromium-driver is missing: the console's browser tests skip until it is installed"; \
	  fi; \
	fi

run: install sandbox
	$(BIN)/bulkhead db upgrade
	@echo "Development token (user 'dev', admin, 7 days):"
	@$(BIN)/bulkhead token create --user dev --admin --ttl 7d
	@echo "Docs: http://$(HOST):$(PORT)/schema/swagger"
	@echo "Console (a one-time link, 10 minutes):"
	@$(BIN)/bulkhead console --url http://$(HOST):$(PORT)
	$(BIN)/bulkhead serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports importlinter.ini
	$(BIN)/mypy --strict app contracts bench tests
	$(BIN)/bulkhead docs --check

test: lint sandbox browser
	BULKHEAD_DATA_DIR=$$(mktemp -d) bash -c '$(BIN)/bulkhead db upgrade >/dev/null && $(BIN)/bulkhead check'
	$(BIN)/pytest -n 2 --dist loadfile --durations=25  # two workers: most tests wait on servers and sockets; the slowest listed
	@echo "Every benchmark in quick mode (tiny sizes: proves each still runs to the end)"
	BENCH_QUICK=1 $(BIN)/python -m bench

bench: install sandbox
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache $(EXTENSION)
