# Everything a fresh machine needs: `make demo` and `make test` create the venv themselves.
# Installs take their versions from requirements/dev.txt (exact pins, written by uv), so a
# fresh machine gets what CI tested; `make upgrade` moves the lock to the newest allowed
# versions and runs the tests on them. uv (itself pinned by the lock) installs: it fetches in
# parallel, a fresh venv takes about half a minute where pip took three and a half.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.txt
STAMP_BASE := $(VENV)/.installed-base
STAMP_DEV := $(VENV)/.installed-dev
INSTALL := $(BIN)/uv pip install --python $(BIN)/python --quiet --constraint $(LOCK)
UV := $(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header \
	--output-file $(LOCK)

.PHONY: demo test lint typecheck unit install-dev browser docs lock upgrade clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) uv

$(STAMP_BASE): pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) -e '.[demo]'
	touch $@

$(STAMP_DEV): pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) -e '.[dev]'
	touch $@ $(STAMP_BASE)

install-dev: $(STAMP_DEV)

demo: $(STAMP_BASE)
	$(BIN)/fti demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests examples benchmarks docs/hooks
	$(BIN)/ruff format --check src tests examples benchmarks docs/hooks

typecheck: $(STAMP_DEV)
	$(BIN)/mypy src

# The browser tests drive Debian's Chromium (a browser download of Playwright's own cannot work).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Test files are spread over two workers (pytest-xdist; a file stays on one worker, so its
# module fixtures are built once); the slowest tests are listed at the end of the run.
unit: $(STAMP_DEV) browser
	$(BIN)/pytest -n 2 --dist loadfile --durations=25

test: lint typecheck unit

docs: $(STAMP_DEV)
	$(BIN)/mkdocs build --strict

# Re-resolve after a dependency was added to pyproject.toml, keeping every other pin (needs only
# uv, so it works while the venv cannot install from the old lock).
lock: | $(BIN)/python
	$(UV)

# Every dependency at the newest version pyproject.toml allows, installed and tested.
upgrade: | $(BIN)/python
	$(UV) --upgrade
	$(INSTALL) -e '.[dev]'
	touch $(STAMP_DEV) $(STAMP_BASE)
	$(MAKE) test

clean:
	rm -rf $(VENV) .fti .pytest_cache .mypy_cache .ruff_cache site
