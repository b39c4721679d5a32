# hyperwasm — see README.md. Every wasm32 build goes through scripts/wasm-env.sh.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup test test-native test-browser test-interop bench demo lint build-web js-deps

## Install what is missing (wasm32 route, chromium, wasm-bindgen-cli, npm packages). Idempotent.
setup:
	@scripts/setup.sh

## All tests: native Rust, browser (headless Chromium), interop with the JS reference stack.
## Runs the idempotent setup first, so a fresh machine installs what is missing, and the
## lint (rustfmt, clippy -D warnings), so CI enforces both. Everything runs with a private TMPDIR
## removed at the end (scripts/with-tmpdir.sh), so browser profiles and peers' temp dirs never pile up.
test: setup
	@scripts/with-tmpdir.sh $(MAKE) --no-print-directory lint test-native test-browser test-interop

## Rust unit tests (lib and bin targets). The integration suites under */tests/ read the JS
## fixtures or run node, so test-interop runs them (once).
test-native:
	@cargo test --workspace --all-features --exclude hyperwasm-interop --lib --bins

test-browser: js-deps
	@scripts/test-browser.sh

test-interop: js-deps
	@scripts/test-interop.sh

## tests/js/node_modules (npm ci), so a fresh clone's `make test` works; no-op when present.
js-deps:
	@scripts/ensure-js.sh

## Benchmarks: JSON lines from every tests/bench/*.sh producer.
bench: js-deps
	@scripts/bench.sh

## The relay serving web-demo/ and /relay on 127.0.0.1:8080 with an embedded DHT testnet
## (DHT=public or BOOTSTRAP=host:port,... for a real network; PORT=…).
demo:
	@scripts/demo.sh

## rustfmt --check + clippy -D warnings (native and wasm32).
lint:
	@scripts/lint.sh

## Release wasm build → wasm/web/pkg (wasm-bindgen --target web) and web-demo/pkg.
build-web:
	@scripts/build-web.sh
