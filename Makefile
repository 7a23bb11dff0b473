# mlinfra: the two commands of the README, and the benchmarks.
#   make demo   build mlinfra and run the example stack on the local environment
#   make test   format check, clippy, every test (what CI runs)
#   make bench  the figures of the issues, measured with hyperfine

SHELL := /bin/bash
CARGO ?= cargo
STACK ?= stacks/heart-disease.yaml
MLINFRA := $(or $(CARGO_TARGET_DIR),target)/debug/mlinfra
MLINFRA_RELEASE := $(or $(CARGO_TARGET_DIR),target)/release/mlinfra

.PHONY: demo test lint build bench fuzz bless clean venv

PYTHON ?= python3
VENV := .venv
# The venv is rebuilt when the pinned requirements change.
$(VENV)/.installed: python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt
	touch $@

venv: $(VENV)/.installed

build:
	$(CARGO) build -p mlinfra --bin mlinfra

demo: build
	@echo "== validate"; $(MLINFRA) validate -f $(STACK)
	@echo "== diff (nothing deployed yet)"; $(MLINFRA) diff -f $(STACK)
	@echo "== up"; $(MLINFRA) up -f $(STACK) --yes
	@echo "== up again (no changes)"; $(MLINFRA) up -f $(STACK) --yes
	@echo "== status"; $(MLINFRA) status -f $(STACK)
	@echo "== outputs"; $(MLINFRA) outputs -f $(STACK)
	@echo "== down"; $(MLINFRA) down -f $(STACK) --yes --delete-data

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test: lint venv
	$(CARGO) test --workspace --locked --doc
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --locked --no-fail-fast; \
	else \
		echo "cargo-nextest not found: using cargo test"; \
		$(CARGO) test --workspace --locked --no-fail-fast; \
	fi

# Rewrite the golden files (UI errors, CLI snapshots) from the current output.
bless:
	MLINFRA_BLESS=1 $(CARGO) test -p mlinfra --test ui --test cli

# A long run of the stack parser property tests.
fuzz:
	PROPTEST_CASES=$${PROPTEST_CASES:-100000} $(CARGO) test --release -p mlinfra --test fuzz_stack

bench: venv
	bash bench/pipeline.sh
	@command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }; }
	$(CARGO) build --release -p mlinfra --bin mlinfra
	bash bench/cli.sh $(MLINFRA_RELEASE) $(STACK)

clean:
	rm -rf .mlinfra
