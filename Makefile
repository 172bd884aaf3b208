# buildorch: the two commands of the README are `make docker-build-incremental` (the main job:
# an incremental build of the demo stack) and `make test`. Both set up everything they need:
# a virtualenv in .venv and, only where no Docker engine answers, a local one (scripts/engine.sh).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
BO     := $(BIN)/buildorch
SERVICE ?= stt
PYTEST_ARGS ?=

.PHONY: venv engine test lint docker-build-incremental docker-build-enhanced \
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

test: venv engine lint
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
