# The two commands a new machine needs: `make dev` starts the platform, `make test` runs every check.
# Only python3, make and git must be there; uv and everything else are installed from the project's own files.

SHELL := /bin/bash
UV := $(shell ./scripts/ensure-uv.sh)
# .venv may sit on another filesystem than uv's cache: copy instead of hard-linking, without a warning.
export UV_LINK_MODE := copy

.PHONY: help install dev test lint typecheck pytest stack-test bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## create .venv from uv.lock (every group: dev, infra)
	$(UV) sync --frozen --all-groups --all-packages

dev: install  ## run every service and its worker on http://localhost:8000 (embedded PostgreSQL if no DATABASE_URL)
	$(UV) run --frozen zaps dev

lint: install  ## ruff (lint and format check)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install  ## mypy, strict, on every package
	$(UV) run --frozen mypy

pytest: install  ## the test suite (real PostgreSQL and Redis where they answer; Debian's Chromium for the console)
	./scripts/ensure-chromium.sh
	$(UV) run --frozen pytest

stack-test: install  ## build the images and run the Compose stack for real (needs root or a Docker engine; tests/stack)
	$(UV) run --frozen pytest tests/stack

test: lint typecheck pytest stack-test  ## everything CI runs

bench: install  ## print the performance figures (see docs/performance.md)
	$(UV) run --frozen python -m bench

clean:  ## remove local state: the embedded database, tools, caches
	rm -rf .zaps .venv .mypy_cache .ruff_cache .pytest_cache
