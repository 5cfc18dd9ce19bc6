# Herald's commands (SPEC §8). Everything they need is installed here, pinned, into .venv/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# The real interpreter behind any pyenv shim: shims have produced venvs without pip.
PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)')
VENV := .venv
PIP_PACKAGES := moto[server]==5.2.5 cargo-lambda==1.9.2

export CARGO_TERM_COLOR ?= never

.PHONY: test demo build deploy venv fmt lint unit integration bench clean

$(VENV)/.installed: Makefile
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PIP_PACKAGES)
	touch $@

venv: $(VENV)/.installed

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace --lib --bins

# The integration tests start moto themselves and run the real binaries.
integration: venv
	cargo build --workspace --bins
	cargo test -p herald-tests

test: venv fmt lint unit integration

demo: venv
	$(VENV)/bin/python scripts/demo.py

bench:
	cargo bench -p herald --bench webhook_hot_path

build: venv
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/cargo-lambda lambda build --release --arm64

deploy:
	sam build && sam deploy --guided

clean:
	cargo clean
	rm -rf $(VENV)
