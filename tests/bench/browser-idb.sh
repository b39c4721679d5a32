#!/usr/bin/env bash
# Bench producer: IdbStorage puts of random 1 KiB records in headless Chromium (one JSON line).
# Env: N (records, default 5000), BATCH (records per write batch, default 256).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build-web.sh >&2 # no-op when up to date
node tests/bench/browser/run.mjs bench_idb_put "${N:-5000}" "${BATCH:-256}"
