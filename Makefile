# The two commands of the README: `make serve` and `make test`. Each sets up .venv first
# when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

# Examples run in a Jupyter kernel started from PATH: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve test site browser clean

$(READY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --group site
	touch $@

# Build (examples run once, then come from the cache) and serve with live reload.
serve: $(READY)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload

browser:
	scripts/install-chromium.sh

# Every check: page blocks, examples (through the site build), links, browser.
test: $(READY) browser
	$(BIN)/python -m pytest

# The published site: built only when every check passes.
site: $(READY) browser
	rm -rf site
	$(BIN)/python -m pytest
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf site .cache .pytest_cache
