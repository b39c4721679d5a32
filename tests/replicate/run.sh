#!/usr/bin/env bash
# Replication interop: the hyperwasm-relay CLI tests and the Rust <-> JS replication matrix
# (relay/tests/cli.rs, relay/tests/interop_replicate.rs) and the Hyperbee one over replication
# (relay/tests/interop_bee.rs). Needs node and tests/js/node_modules
# (`make setup`). `make test-interop` runs the same suites; this runs just them.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
[ -d tests/js/node_modules/hypercore ] || { echo "replicate: run 'make setup' first (tests/js/node_modules)" >&2; exit 1; }
cargo test -q -p hyperwasm-relay --test cli --test interop_replicate --test interop_bee "$@"
