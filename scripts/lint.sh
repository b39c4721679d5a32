#!/usr/bin/env bash
# make lint: rustfmt --check, clippy -D warnings (native, all targets), and the wasm32 build of
# hyperwasm-web checked too: clippy on the rustup route, `cargo check` with warnings denied on the
# Debian route (Debian's rustc-web ships no clippy).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
. scripts/wasm-env.sh
case "$WASM_ROUTE" in
  rustup) wasm_cargo clippy -p hyperwasm-web --all-targets -- -D warnings ;;
  debian)
    # -Zwarnings + build.warnings=deny fails on warnings of workspace crates only (not of the
    # std built from source, which RUSTFLAGS=-Dwarnings would also hit).
    wasm_cargo check -p hyperwasm-web --all-targets -Zwarnings --config 'build.warnings="deny"'
    ;;
  *) echo "lint: no wasm32 route; run 'make setup'" >&2; exit 1 ;;
esac
echo "lint: ok"
