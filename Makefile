# Herald's commands (docs/cli.md "Commands"). Everything they need is installed here, pinned, into .venv/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# The real interpreter behind any pyenv shim: shims have produced venvs without pip.
PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)')
VENV := .venv
PIP_PACKAGES := moto[server]==5.2.5 cargo-lambda==1.9.2 ziglang==0.17.1 cfn-lint==1.58.0 aws-sam-cli==1.170.0
# Descriptions no one here wrote, for the tests: GitHub's OpenAPI (the fakes' traffic is checked
# against it, and its example answers are what the fake GitHub serves), real webhook payloads and
# recorded answers. Installed once into an ignored folder (about 400 MB, mostly the OpenAPI).
NPM_DIR := .npm-packages
NPM_PACKAGES := @octokit/openapi@23.0.2 @octokit/webhooks-examples@7.6.1 @octokit/fixtures@23.1.2

export CARGO_TERM_COLOR ?= never
export SAM_CLI_TELEMETRY := 0
# cargo-lambda, zig, sam and cfn-lint come from the venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: test demo build deploy release publish venv npm fmt lint deps template unit properties integration fuzz bench clean

# Each install is stamped with a digest of its pins: a new pin reinstalls, other Makefile edits do not.
VENV_STAMP := $(VENV)/.installed-$(shell echo '$(PIP_PACKAGES)' | sha256sum | cut -c1-12)
NPM_STAMP := $(NPM_DIR)/.installed-$(shell echo '$(NPM_PACKAGES)' | sha256sum | cut -c1-12)

$(VENV_STAMP):
	@echo "installing moto, cargo-lambda, zig, cfn-lint and the SAM CLI into $(VENV)/ (pinned, about 850 MB, once: a few minutes)"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PIP_PACKAGES)
	touch $@

venv: $(VENV_STAMP)

$(NPM_STAMP):
	@echo "installing the tests' oracles (GitHub's OpenAPI, webhook examples) into $(NPM_DIR)/ (pinned, about 400 MB, once)"
	rm -rf $(NPM_DIR) && mkdir -p $(NPM_DIR)
	npm install --prefix $(NPM_DIR) --no-audit --no-fund --no-package-lock --loglevel=error $(NPM_PACKAGES)
	touch $@

npm: $(NPM_STAMP)

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# One HTTP stack (hyper, h2, http), one TLS stack (rustls), one crypto provider (ring, not also
# aws-lc) and one SHA-2/HMAC in the binaries: a second copy costs size and init time.
deps:
	@dups=$$(cargo tree -d -e normal --depth 0 | grep -E '^(hyper|h2|http|rustls|tokio|aws-lc-rs|aws-lc-sys|ring|sha2|hmac) v' | sort -u || true); \
	if [ -n "$$dups" ]; then echo "duplicated HTTP/TLS/crypto crates:"; echo "$$dups"; exit 1; fi
	@if cargo tree -e normal -i aws-lc-rs 2>/dev/null | grep -q '^aws-lc-rs v'; then echo "aws-lc-rs is in the tree beside ring: two crypto providers"; exit 1; fi
	@echo "deps: one hyper, one rustls, one crypto provider, one sha2/hmac"

# The SAM template: cfn-lint (no errors, no warnings) and SAM's own validation with its linter.
template: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template-file template.yaml --region us-east-1

unit:
	cargo test --workspace --lib --bins

# Properties of the contract, the fuzz harnesses of every parser (256 cases each), and every
# sample read through the typed Lambda events.
properties:
	cargo test -p herald --test properties --test fuzz --test lambda_events
	# Each benchmark once, as a test: a bench that no longer runs fails here, not in `make bench`.
	cargo test -p herald --bench webhook_hot_path --bench alert_path

# The longer fuzz run: FUZZ_CASES cases per harness (properties: a tenth of them).
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test -p herald --test fuzz
	PROPTEST_CASES=$$(( $(FUZZ_CASES) / 10 )) cargo test -p herald --test properties

# The integration tests start moto themselves and run the real binaries; the fake GitHub answers
# and checks by GitHub's OpenAPI (npm).
integration: venv npm
	cargo build --workspace --bins
	cargo test -p herald-tests

test: venv npm fmt lint deps template unit properties integration

# The demo needs no test oracle (.npm-packages/): its fake servers answer without checking.
demo: venv
	$(VENV)/bin/python -u scripts/demo.py

# The criterion benchmarks, then the whole functions (release builds, beside the floor, and 20
# real starts against moto): `target/release/lambda_bench [EVENTS]`.
bench: venv npm
	cargo bench -p herald --bench webhook_hot_path --bench alert_path
	cargo bench -p herald-tests --bench file_lookup
	cargo build --release -p git-webhook -p herald-tests --bins
	./target/release/lambda_bench 2000

# Release builds for Lambda (arm64, zig as the cross linker), then `sam build` from them, offline.
build: venv
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/cargo-lambda lambda build --release --arm64 --bin git-webhook --bin s3-trigger --bin pipeline-notifier --bin redeliver
	$(VENV)/bin/sam build --beta-features --template-file template.yaml
	ls -l .aws-sam/build/*/bootstrap

# Deploy. `make deploy CONFIG=herald-config.json` validates that document first (an invalid one
# never reaches a cold start) and passes it as HeraldConfig, in the form the SAM CLI's own
# parameter parser reads back as the whole document (scripts/sam_parameters.py checks that with
# the pinned SAM CLI; tests/tests/template.rs feeds this recipe's string to it). Without CONFIG
# the template's default (or samconfig.toml's parameter_overrides) is validated and used. A
# missing file, a document that is not JSON and missing AWS credentials are said before anything
# is compiled (the `herald validate` step compiles the CLI once, about 2 minutes on 2 cores).
CONFIG ?=
deploy: venv
	@if [ -n "$(CONFIG)" ] && [ ! -f "$(CONFIG)" ]; then echo "deploy: $(CONFIG): no such file"; exit 2; fi
	@if [ -n "$(CONFIG)" ]; then $(VENV)/bin/python scripts/sam_parameters.py "$(CONFIG)" >/dev/null; fi
	@$(VENV)/bin/python -c 'import boto3; boto3.client("sts").get_caller_identity()' >/dev/null 2>&1 || { echo "deploy: no usable AWS credentials in this shell (aws sts get-caller-identity fails): nothing built"; exit 2; }
	cargo run -q -p herald-cli -- validate --strict --template template.yaml
	@if [ -n "$(CONFIG)" ]; then cargo run -q -p herald-cli -- validate --strict "$(CONFIG)"; fi
	$(VENV)/bin/sam build --beta-features --template-file template.yaml
	$(VENV)/bin/sam deploy --guided $(if $(CONFIG),--parameter-overrides "$$($(VENV)/bin/python scripts/sam_parameters.py "$(CONFIG)")")

# Cargo's target folder, wherever CARGO_TARGET_DIR or .cargo/config put it: asked, not guessed.
TARGET_DIR = $(shell cargo metadata --format-version 1 --no-deps | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# A release a user can deploy without a Rust toolchain (docs/deploying.md): dist/ gets the four
# arm64 zips (fixed timestamps and order: the same build gives the same bytes), a template whose
# functions point at them, README.md, LICENSE and SHA256SUMS. HERALD_REPOSITORY_URL names the
# repository in the Serverless Application Repository metadata.
HERALD_REPOSITORY_URL ?=
release: venv
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/cargo-lambda lambda build --release --arm64 --bin git-webhook --bin s3-trigger --bin pipeline-notifier --bin redeliver
	$(PYTHON) scripts/release.py --bootstraps "$(TARGET_DIR)/lambda" --out dist $(if $(HERALD_REPOSITORY_URL),--repository-url "$(HERALD_REPOSITORY_URL)")
	$(VENV)/bin/cfn-lint dist/template.yaml
	cd dist && sha256sum -c --quiet SHA256SUMS

# Publish dist/ to the Serverless Application Repository: `sam package` uploads the zips, README
# and LICENSE to BUCKET (whose policy lets serverlessrepo.amazonaws.com read them), `sam publish`
# creates the application or its new version.
# Both are checked before anything is built.
BUCKET ?=
publish: venv
	@if [ -z "$(BUCKET)" ]; then echo "publish: set BUCKET to an S3 bucket the Serverless Application Repository may read (docs/deploying.md)"; exit 2; fi
	@if [ -z "$(HERALD_REPOSITORY_URL)" ]; then echo "publish: set HERALD_REPOSITORY_URL to the repository's https URL"; exit 2; fi
	$(MAKE) release
	$(VENV)/bin/sam package --template-file dist/template.yaml --s3-bucket "$(BUCKET)" --output-template-file dist/packaged.yaml
	$(VENV)/bin/sam publish --template dist/packaged.yaml

clean:
	cargo clean
	rm -rf $(VENV) $(NPM_DIR)
