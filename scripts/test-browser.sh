#!/usr/bin/env bash
# make test-browser:
#   1. wasm-bindgen-test suites of hyperwasm-web in headless Chromium (wasm-bindgen-test-runner +
#      chromedriver), on the wasm route scripts/wasm-env.sh picks;
#   2. the release package (make build-web) loaded by web-demo/ in Chromium via playwright-core,
#      calling its exported selftest() — proves the shipped artifact, not just the test build;
#   3. node --test tests/browser/ (playwright-core): the demo page, and the release package
#      replicating with JS peers (tests/js/ws-seed.mjs) over a WebSocket (tests/js/ws-bridge.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-env.sh
echo "test-browser: wasm route '$WASM_ROUTE', CHROMEDRIVER=${CHROMEDRIVER:-<PATH>}"
wasm_cargo test -p hyperwasm-web --tests "$@"

scripts/build-web.sh >/dev/null
out=$(node tests/bench/browser/run.mjs --page /web-demo/index.html selftest)
if [ "$out" != "true" ]; then
  echo "test-browser: web-demo selftest() returned '$out'" >&2
  exit 1
fi
echo "test-browser: web-demo loads the release package and selftest() passed"

# The demo page driven like a person would (append via the form, reload, truncate, reload), and
# replication with JS hypercore through a WebSocket bridge (tests/browser/replicate.test.mjs:
# download, live append, persistence across a reload, upload to a JS reader, error paths), and
# the page's RelayClient through the relay binary to JS hyperdht peers (tests/browser/relay.test.mjs).
cargo build -p hyperwasm-relay --bin hyperwasm-relay
node --test tests/browser/
