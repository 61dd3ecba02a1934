# The README's commands. Everything installs from this repository's own files into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Tests run on the machine's PostgreSQL and Redis (see .ci/run for starting them).
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/spreview} \
	CELERY_BROKER_URL=$${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15} \
	SPREVIEW_VAR_DIR=$(CURDIR)/var/test

.PHONY: demo test test-fast screenshots lint format bench bench-load clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

## Start the dashboard on a simulated tenant (SQLite, filesystem broker, local Entra ID).
demo: $(STAMP)
	$(BIN)/python manage.py demo

## Debian's Chromium for the browser tests (Playwright's own browser download is not used).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## Run the whole test suite (lint first: an unformatted tree fails like a failing test).
test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(TEST_ENV) $(BIN)/pytest

## The edit loop: lint, then the unit and page tests (no real worker, no browser, nothing slow).
test-fast: lint
	$(TEST_ENV) $(BIN)/pytest -m "not integration and not browser and not slow"

## The browser tests, writing over the README's images in docs/screenshots/ (else var/screenshots/).
screenshots: $(STAMP) chromium
	SCREENSHOTS=docs $(TEST_ENV) $(BIN)/pytest tests/browser

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks: sync against the raw fetch of the same pages (figures go in bench/README.md).
bench: $(STAMP)
	$(TEST_ENV) $(BIN)/python bench/sync_bench.py

## Load: 50 reviewers deciding, 5 admins browsing, 60 s, 50,000 assignments, gunicorn + worker
## (its own database spreview_load and Redis db 8; figures in bench/README.md).
bench-load: $(STAMP)
	$(BIN)/python bench/load_bench.py

clean:
	rm -rf var/test var/broker
