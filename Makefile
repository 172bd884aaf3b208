# buildorch: the two commands of the README are `make docker-build-incremental` (the main job:
# an incremental build of the demo stack) and `make test`. Both set up everything they need:
# a virtualenv in .venv and, only where no Docker engine answers, a local one (scripts/engine.sh).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
BO     := $(BIN)/buildorch
SERVICE ?= stt
PYTEST_ARGS ?=

.PHONY: venv engine browser mermaid test lint docker-build-incremental docker-build-enhanced \
        docker-build-service docker-build plan docs clean-venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

engine:
	bash scripts/engine.sh up

lint: venv
	$(BIN)/ruff check buildorch tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The timings page is tested in a real browser: Debian's Chromium, installed by CI (CI=true,
# root, apt) where it is missing; never on a developer's machine (nothing system-wide there:
# its tests skip with the reason), and under CI=true they fail without it.
browser:
	@command -v chromium >/dev/null || { [ "$${CI:-}" = true ] && [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && \
	  { apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
	      --no-install-recommends chromium >/dev/null; }; } || \
	  echo "make browser: chromium is not installed; the timings page's browser tests will not run"

# `graph --format mermaid` is checked by mermaid.js itself (what GitHub and GitLab draw with), in
# that browser: the npm package's one-file build, fetched once into .cache/ (not in the repo).
MERMAID_VERSION := 11.17.2
MERMAID_JS := .cache/mermaid-$(MERMAID_VERSION)/mermaid.min.js

$(MERMAID_JS):
	@mkdir -p $(@D) && cd $(@D) && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null && \
	  tar xzf mermaid-$(MERMAID_VERSION).tgz package/dist/mermaid.min.js && \
	  mv package/dist/mermaid.min.js . && rm -rf package mermaid-$(MERMAID_VERSION).tgz || \
	  echo "make mermaid: could not fetch mermaid $(MERMAID_VERSION) with npm; its tests will not run"

mermaid: $(MERMAID_JS)

test: venv engine browser mermaid lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link, a page
# missing from the nav or a document cited in the code but absent fails the build.
$(BIN)/.docs-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

docs: $(BIN)/.docs-installed
	$(BIN)/mkdocs build --strict

plan: venv
	$(BO) plan

# Stale images only, in dependency order, in parallel.
docker-build-incremental: venv engine
	$(BO) build

# Every cache source, registry included, with cache warming (previous images pulled first).
docker-build-enhanced: venv engine
	$(BO) build --cache-to registry --warm

# One service, rebuilding first whatever of its ancestry is stale.
docker-build-service: venv engine
	$(BO) service $(SERVICE)

# Everything, in parallel.
docker-build: venv engine
	$(BO) build --all

clean-venv:
	rm -rf $(VENV)
