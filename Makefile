# mlinfra: the two commands of the README, and the benchmarks.
#   make demo   build mlinfra and run the example stack on the local environment
#   make test   format check, clippy, every test (what CI runs)
#   make bench  the figures of the issues, measured with hyperfine
#   make test-localstack  the whole loop against real LocalStack 4.14.0 (needs a Docker engine)

SHELL := /bin/bash
CARGO ?= cargo
STACK ?= stacks/heart-disease.yaml
MLINFRA := $(or $(CARGO_TARGET_DIR),target)/debug/mlinfra
MLINFRA_RELEASE := $(or $(CARGO_TARGET_DIR),target)/release/mlinfra

.PHONY: demo demo-build release-plan test lint build lambda bench fuzz bless clean venv azurite browser tf-validate test-localstack

PYTHON ?= python3
VENV := .venv
# The venv is rebuilt when the pinned requirements change.
$(VENV)/.installed: python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt
	touch $@

venv: $(VENV)/.installed

# Azurite, Microsoft's Azure Storage emulator (the --env azurite tests), from npm at the version
# pinned in azurite/package-lock.json; reinstalled when the lockfile changes.
AZURITE := azurite/node_modules/.bin/azurite-blob
$(AZURITE): azurite/package-lock.json
	npm ci --prefix azurite --no-audit --no-fund --loglevel=error
	touch $@

azurite: $(AZURITE)

# Debian's Chromium and ChromeDriver, for the console's browser test (provisioner/tests/console.rs).
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
$(CHROMEDRIVER):
	$(APT) install -y -q chromium chromium-driver || { $(APT) update -q && $(APT) install -y -q chromium chromium-driver; }

browser: $(CHROMEDRIVER)

build:
	$(CARGO) build -p mlinfra --bin mlinfra

# What a release tag would build, with dist at the version `Cargo.toml` pins (installed if
# missing), and whether .github/workflows/release.yml is what the settings generate.
DIST_VERSION := 0.34.0
release-plan:
	@dist --version 2>/dev/null | grep -q "$(DIST_VERSION)" || $(CARGO) install cargo-dist --version $(DIST_VERSION) --locked
	dist plan
	dist generate --check

# The functions' Lambda packages (release builds): target/lambda/<function>/bootstrap.zip.
lambda: build
	$(MLINFRA) build --artifacts target/lambda

# The demo's build keeps no incremental caches and no line tables for this workspace's crates
# (dependencies have none in any debug build): a one-off build, 0.3-0.4 GB smaller. The tests'
# builds keep both (backtraces name lines; edits rebuild quickly).
demo-build:
	CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=false $(CARGO) build -p mlinfra --bin mlinfra

demo: demo-build
	@echo "== validate"; $(MLINFRA) validate -f $(STACK)
	@echo "== up"; $(MLINFRA) up -f $(STACK) --yes
	@echo "== up again (no changes)"; $(MLINFRA) up -f $(STACK) --yes
	@echo "== data stats"; $(MLINFRA) data stats -f $(STACK)
	@echo "== pipeline run (alice trains; the blessed model is registered)"; $(MLINFRA) pipeline run -f $(STACK) --as alice
	@echo "== alice requests Production; bob approves"
	@$(MLINFRA) models request 1 --to production -m "demo" --as alice -f $(STACK)
	@$(MLINFRA) models approve r1 --as bob -f $(STACK)
	@$(MLINFRA) models audit -f $(STACK)
	@echo "== serve, and ask for a prediction"
	@$(MLINFRA) serve -f $(STACK) --port 18080 & pid=$$!; \
	  for i in $$(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:18080/v1/health && break; sleep 0.1; done; \
	  curl -s -X POST http://127.0.0.1:18080/v1/predict -H "x-api-key: $$(cat .mlinfra/heart-disease/secrets/api-key)" \
	    -H 'content-type: application/json' \
	    -d '{"instances": [{"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": 6}]}'; \
	  echo; sleep 1.5; kill $$pid
	@echo "== monitor: drift of the served traffic against the training data, alerts, retraining by policy"
	@$(MLINFRA) monitor check -f $(STACK)
	@$(MLINFRA) monitor report -f $(STACK) --out .mlinfra/monitoring-report.html
	@echo "== batch prediction to SQLite"; $(MLINFRA) predict -f $(STACK) --input examples/heart-disease/processed.cleveland.csv --out sqlite://.mlinfra/predictions.db
	@echo "== down"; $(MLINFRA) down -f $(STACK) --yes --delete-data; rm -f .mlinfra/predictions.db .mlinfra/monitoring-report.html; rmdir .mlinfra 2>/dev/null || true

# The Terraform module validated by Terraform itself: needs the hashicorp/aws provider from the
# Terraform registry (not reachable on every machine; `make test` checks the module without it).
tf-validate: build
	$(MLINFRA) -f $(STACK) export terraform --artifacts $(CURDIR)/target/lambda --out terraform/aws/examples/complete/mlinfra.json
	terraform -chdir=terraform/aws init -backend=false -input=false
	terraform -chdir=terraform/aws validate
	terraform -chdir=terraform/aws/examples/complete init -backend=false -input=false
	terraform -chdir=terraform/aws/examples/complete validate

lint:
	python3 .ci/rust_version.py
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	# The SageMaker mirror and its test, which the workspace's build leaves out.
	$(CARGO) clippy -p mlinfra -p mlinfra-e2e --all-targets --locked --features mlinfra/sagemaker,mlinfra-e2e/sagemaker -- -D warnings
	$(CARGO) clippy -p mlinfra-e2e --features localstack --tests --locked -- -D warnings
	$(CARGO) clippy -p mlinfra-etl -p mlinfra-train -p mlinfra-predict -p mlinfra-monitor --locked \
	  --features mlinfra-etl/azure,mlinfra-train/azure,mlinfra-predict/azure,mlinfra-monitor/azure -- -D warnings
	@command -v terraform >/dev/null || { echo "error: terraform is not on the PATH, so the format of terraform/ cannot be checked (install Terraform >= 1.6)" >&2; exit 1; }
	terraform fmt -check -recursive -diff terraform/

test: lint venv azurite browser lambda
	$(CARGO) test --workspace --locked --doc
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --locked --no-fail-fast; \
	else \
		echo "cargo-nextest not found: using cargo test"; \
		$(CARGO) test --workspace --locked --no-fail-fast; \
	fi
	# The SageMaker mirror (feature `sagemaker`, not in the workspace's build): an `mlinfra` built
	# with it, and its test against the moto server.
	$(CARGO) build -p mlinfra --bin mlinfra --locked --features sagemaker
	$(CARGO) test -p mlinfra-e2e --locked --features sagemaker --test aws the_sagemaker_mirror

# Rewrite the golden files (UI errors, CLI snapshots) from the current output.
bless:
	MLINFRA_BLESS=1 $(CARGO) test -p mlinfra --test ui --test cli

# A long run of the stack parser property tests.
fuzz:
	PROPTEST_CASES=$${PROPTEST_CASES:-100000} $(CARGO) test --release -p mlinfra --test fuzz_stack

# LocalStack runs only in Docker: without an engine this says it skipped, and runs nothing.
test-localstack:
	@if ! docker info >/dev/null 2>&1; then \
		echo "test-localstack: SKIPPED (not run, not passed): no Docker engine answers \`docker info\` here"; \
		exit 0; \
	fi; \
	$(MAKE) venv lambda && \
	$(CARGO) nextest run -p mlinfra-e2e --features localstack --test localstack --locked

bench: venv
	bash bench/pipeline.sh
	bash bench/scale.sh
	bash bench/imported.sh
	bash bench/neural.sh
	bash bench/coldstart_text.sh
	bash bench/http_text.sh
	bash bench/train_1m.sh
	bash bench/drift.sh
	bash bench/serving.sh
	bash bench/front.sh
	bash bench/console.sh
	bash bench/mlflow.sh
	@command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }; }
	$(CARGO) build --release -p mlinfra --bin mlinfra
	bash bench/cli.sh $(MLINFRA_RELEASE) $(STACK)
	$(MLINFRA_RELEASE) build --artifacts target/lambda
	bash bench/aws.sh $(MLINFRA_RELEASE) $(STACK)
	MLINFRA_COLDSTART_RUNS=30 $(CARGO) test -q -p mlinfra-e2e --test lambda_bootstrap cold_start -- --nocapture
	MLINFRA_COLDSTART_RUNS=30 $(CARGO) test -q -p mlinfra-e2e --test lambda_bootstrap the_jobs_run_on_s3_and_dynamodb -- --nocapture

clean:
	rm -rf .mlinfra
