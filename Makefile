# Two commands for a fresh machine: `make run` and `make test` (see README).
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint check bench clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(BIN)/bulkhead: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(BIN)/bulkhead

run: install
	$(BIN)/bulkhead db upgrade
	@echo "Development token (user 'dev', admin, 7 days):"
	@$(BIN)/bulkhead token create --user dev --admin --ttl 7d
	@echo "Docs: http://$(HOST):$(PORT)/schema/swagger"
	$(BIN)/bulkhead serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports importlinter.ini
	$(BIN)/mypy --strict contracts app/kernel

test: lint
	BULKHEAD_DATA_DIR=$$(mktemp -d) bash -c '$(BIN)/bulkhead db upgrade >/dev/null && $(BIN)/bulkhead check'
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
