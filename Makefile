# toko — make help lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
SYNCED := $(VENV)/.synced
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help install up test lint breaking fmt proto service bench status clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "toko needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): pyproject.toml uv.lock | $(BIN)/uv
	$(BIN)/uv sync --frozen
	@touch $@

install: $(SYNCED) ## Install toko and its tools into .venv (from the lock file)

up: install ## Run the whole platform: servers, every service, demo data (Ctrl-C stops it)
	$(BIN)/toko up

status: install ## Show every server and service and whether it is healthy
	$(BIN)/toko status

test: install ## Run the whole test suite (unit, integration on real servers, end to end)
	$(BIN)/pytest

lint: install ## ruff, mypy --strict, import contracts, buf lint, generated-code drift
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/protogen.py --check
	$(BIN)/buf lint 'src/toko/descriptors.binpb#format=binpb' --path toko --config buf.yaml
	@$(MAKE) --no-print-directory breaking

breaking: install ## buf breaking (FILE): the contracts against the last commit
	@if git cat-file -e HEAD:src/toko/descriptors.binpb 2>/dev/null; then \
	  git show HEAD:src/toko/descriptors.binpb > $(VENV)/previous.binpb && \
	  $(BIN)/buf breaking 'src/toko/descriptors.binpb#format=binpb' --against '$(VENV)/previous.binpb#format=binpb' --path toko --config buf.yaml && \
	  echo "contracts: no breaking change against HEAD"; \
	else echo "contracts: no previous descriptor set to compare with"; fi

fmt: install ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

proto: install ## Regenerate Python code, stubs and the descriptor set from proto/
	$(BIN)/python scripts/protogen.py

service: install ## Write a new service's skeleton: make service NAME=<name> (docs/adding-a-service.md)
	@test -n "$(NAME)" || { echo "usage: make service NAME=<name>"; exit 2; }
	$(BIN)/python scripts/new_service.py $(NAME)

bench: install ## Benchmarks: echo chain vs product read, memory and CPU of an idle platform
	$(BIN)/python -m bench

clean: ## Remove the virtualenv (keeps .toko/ data)
	rm -rf $(VENV)
