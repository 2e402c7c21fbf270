# The two commands of the README: `make serve` and `make test`. Each sets up .venv first
# when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

# Examples run in a Jupyter kernel started from PATH: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve serve-zh test benchmark site browser lighthouse clean

$(READY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --group site
	touch $@

# Running every example takes minutes when nothing is cached. Until `make test` or
# `make site` has filled the cache, the preview shows examples without running them;
# afterwards it runs only the examples whose source changed. Override either way with
# `make serve EXECUTE_EXAMPLES=true` (or false).
EXECUTE_EXAMPLES ?= $(if $(wildcard .cache/mkdocs-jupyter/*.json),true,false)

serve: $(READY)
	@if [ "$(EXECUTE_EXAMPLES)" = false ]; then \
	  echo "Previewing examples without running them: run 'make test' once to see their output."; \
	fi
	EXECUTE_EXAMPLES=$(EXECUTE_EXAMPLES) $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload

# The Chinese edition alone (its links to the English example pages need `make site`).
serve-zh: $(READY)
	$(BIN)/mkdocs serve -f mkdocs.zh.yml --dev-addr 127.0.0.1:8001 --livereload

browser:
	scripts/install-chromium.sh

lighthouse:
	PYTHON=$(BIN)/python scripts/install-lighthouse.sh

# Every check: page blocks, examples (through the site build), links, browser.
test: $(READY) browser lighthouse
	$(BIN)/python -m pytest

# Page speed (Lighthouse, five runs a page): a measurement, so not part of `make test`.
benchmark: $(READY) browser lighthouse
	$(BIN)/python -m pytest tests/benchmark_page_speed.py -s

# The published site, both editions: built only when every check passes. The English build
# comes first (it empties site/); the Chinese edition goes into site/zh.
site: $(READY) browser lighthouse
	rm -rf site
	$(BIN)/python -m pytest
	EXECUTE_EXAMPLES=true $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/mkdocs build --strict -f mkdocs.zh.yml --site-dir site/zh

clean:
	rm -rf site .cache .pytest_cache tests/lighthouse/node_modules
